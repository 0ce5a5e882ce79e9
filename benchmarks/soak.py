"""Soak: a scripted day of grants, faults and restarts on the GitHub stand-in and real OpenBao.

The real lifecycle code (`pr check`, `issue`, `sweep`, `revoke`) runs against a World: the
GitHub stand-in (a real bare git repository behind GitHub's REST API), real OpenBao and the
loopback OIDC issuer, with every job logging in through Vault's JWT auth as in CI. The day:

- grant pull requests merged with every method (merge, squash, rebase, the merge queue):
  self-service grants, grants approved by the right team, grants merged without approval or
  approved by the wrong person (denied); durations of seconds (they expire during the day)
  and of hours (ended early: a pull request deleting the file, or `jitops revoke`);
- `issue` runs, some racing a `sweep` or a second `issue` run on the same remote (threads with
  their own checkouts, as two workflow runs);
- faults: a proxy in front of OpenBao answers 5xx/429, resets connections, holds requests
  and loses answers after the server acted; the GitHub stand-in answers 5xx and primary and
  secondary rate limits; OpenBao is restarted mid-run (raft storage, its state survives);
- a stretch against a three-node OpenBao cluster on integrated storage (raft): jitops talks to
  a standby, the active node is killed mid-run, the run converges once a new leader is elected.

At the end the day converges (no more faults: the next runs must finish everything) and the
invariants are checked and printed; the script exits 1 on any violation:

    python benchmarks/soak.py --grants 200 --seed 1
    python benchmarks/soak.py --small            # the CI size, well under 2 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jitops.core.grant import read_grant
from jitops.core.trailers import parse_entry
from jitops.delivery import seal as deliver
from jitops.delivery.comment import DELIVERY_MARKER, extract_sealed
from jitops.doors.git import Git
from jitops.doors.retry import RetryPolicy
from jitops.doors.vault.client import Vault
from jitops.errors import JitopsError
from jitops.lifecycle import prcheck
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.revoke import run_revoke
from jitops.lifecycle.services import Services
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REPO, REQUESTER, KeyPair, World, make_ssh_key
from jitops_sandbox.faultproxy import FaultProxy
from jitops_sandbox.openbao import OpenBaoCluster, OpenBaoServer

SECOND = "mallory"  # a second requester (in @acme/engineering) with an SSH key of its own
#: the jobs' Vault retries: long enough to ride out a restart or an election
RETRY = RetryPolicy(attempts=8, base_delay=0.2, max_delay=2.0, deadline=30)
METHODS = ("merge", "squash", "rebase", "queue")
VAULT_FAULTS = ("500", "502", "503", "429", "reset", "timeout", "lost")
VAULT_PATHS = (
    "/v1/auth/jwt/login",
    "/v1/auth/token/create/",
    "/v1/auth/token/lookup-accessor",
    "/v1/auth/token/revoke-accessor",
    "/v1/secret/data/",
    "",
)
GITHUB_FAULTS = ("502", "503", "secondary-403", "secondary-429", "primary")

ROLE_TEXT = {
    "staging-admin": "reason: Debug the staging deploy pipeline\n",
    "vault-operator": "reason: Rotate the staging transit keys\n",
    "orders-db-readonly": "reason: Investigate INC-7 slow order queries\nticket: INC-7\n",
}
PREFIX = {"staging-admin": "stg", "vault-operator": "op", "orders-db-readonly": "db"}


@dataclass
class Plan:
    """One grant of the day and what should become of it."""

    gid: str
    requester: str
    role: str
    duration: str
    approval: str  # none (self-service) | dba | wrong (mallory) | late (after the merge) | missing
    method: str
    end: str  # expire | delete | revoke | keep
    pr: int = 0
    merged: bool = False
    ended: bool = False

    @property
    def approved(self) -> bool:
        return self.approval in ("none", "dba")

    def text(self) -> str:
        return (
            f"requester: {self.requester}\nrole: {self.role}\nduration: {self.duration}\n"
            + ROLE_TEXT[self.role]
        )


@dataclass
class Figures:
    runs: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    github_faults: Counter[str] = field(default_factory=Counter)
    vault_faults: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    concurrent: int = 0


class Capture(logging.Handler):
    """Every log record of the day, formatted (checked for secrets at the end)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.buffer = io.StringIO()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception), self._guard:
            self.buffer.write(self.format(record) + "\n")


class Stage:
    """One World (the stand-in and an OpenBao) and the jobs that run on it."""

    def __init__(
        self,
        name: str,
        root: Path,
        vault: Any,
        rng: random.Random,
        figures: Figures,
        said: list[str],
    ) -> None:
        self.name = name
        self.rng = rng
        self.figures = figures
        self.said = said
        self.world = World.create(root / "world", use_postgres=False, vault=vault)
        self.proxy = FaultProxy(self.world.vault_url).start()
        self.keys: dict[str, KeyPair] = {REQUESTER: self.world.key}
        self.keys[SECOND] = make_ssh_key(root / "home-2" / ".ssh", "id_ed25519")
        self.world.gh.add_ssh_key(SECOND, self.keys[SECOND].public_line)
        self.checkouts = [self.world.checkout, self.world.gh.clone(root / "job-2")]
        self.plans: list[Plan] = []
        self.secrets: set[str] = {self.world.root_token}
        self.github_injected = 0
        self._claimed: set[str] = set()

    # -- jobs ---------------------------------------------------------------------------------
    def services(self, which: int = 0) -> Services:
        environ = self.world.environ()
        url = self.proxy.url

        def connect(policy: Any) -> Vault:
            return Vault.connect(url, policy.settings.vault, environ, retry=RETRY, timeout=8)

        return Services(
            git=Git(self.checkouts[which]),
            github=self.world.github(),
            connect_vault=connect,
            environ=environ,
            repository=REPO,
            say=self.said.append,
        )

    def _job(self, kind: str, which: int, out: list[Outcome], errors: list[str]) -> None:
        self.figures.runs[kind] += 1
        try:
            svc = self.services(which)
            out.extend(run_issue(svc) if kind == "issue" else run_sweep(svc))
        except Exception as exc:  # a run that dies: the next converges (counted, not fatal)
            errors.append(f"{kind} run died: {type(exc).__name__}: {exc}")

    def runs(self, *kinds: str, during: Callable[[], None] | None = None) -> list[Outcome]:
        """Run jobs at the same time (each on its own checkout); ``during`` runs meanwhile."""
        out: list[Outcome] = []
        errors: list[str] = []
        threads = [
            threading.Thread(target=self._job, args=(kind, i % 2, out, errors))
            for i, kind in enumerate(kinds)
        ]
        if len(threads) > 1:
            self.figures.concurrent += 1
        for t in threads:
            t.start()
        if during is not None:
            during()
        for t in threads:
            t.join(timeout=300)
        for o in out:
            self.figures.outcomes[str(o.action)] += 1
            self.said.append(f"{o.grant} {o.action}: {o.detail}")
        self.said.extend(errors)
        self.figures.runs["died"] += len(errors)
        return out

    # -- people -------------------------------------------------------------------------------
    def open_and_merge(self, plan: Plan) -> None:
        gh = self.world.gh
        plan.pr = gh.open_pr(
            plan.requester, f"req-{plan.gid}", f"Access {plan.gid}",
            files={f"grants/{plan.gid}.yaml": plan.text()},
        )  # fmt: skip
        if self.rng.random() < 0.3:  # `pr check` as the pull request workflow runs it
            self.figures.runs["pr check"] += 1
            try:
                prcheck.run(
                    Git(self.checkouts[0]), self.world.github(), plan.pr,
                    now=datetime.now(UTC), request_reviews=True,
                )  # fmt: skip
            except JitopsError as exc:
                self.said.append(f"pr check of #{plan.pr}: {exc}")
        if plan.approval == "dba":
            gh.review(plan.pr, self.rng.choice([DBA, "bob"]), "APPROVED")
        elif plan.approval == "wrong":
            gh.review(plan.pr, "carol", "APPROVED")  # not in @acme/dba
        self.merge(plan.pr, plan.method)
        if plan.approval == "late":
            gh.review(plan.pr, DBA, "APPROVED")  # after the merge: it does not count
        plan.merged = True

    def merge(self, number: int, method: str) -> None:
        gh = self.world.gh
        if method == "queue":
            gh.queue_pr(number, DBA, method=self.rng.choice(["merge", "squash", "rebase"]),
                        enforce_protection=False)  # fmt: skip
            gh.land_queued(number)
        else:
            gh.merge_pr(number, DBA, method=method)

    def end_early(self, plan: Plan) -> None:
        """The requester gives access back: a pull request deleting the file, or `revoke`."""
        if plan.end == "delete":
            n = self.world.gh.open_pr(
                plan.requester, f"done-{plan.gid}", f"Done with {plan.gid}",
                files={f"grants/{plan.gid}.yaml": None},
            )  # fmt: skip
            self.merge(n, self.rng.choice(METHODS))
        else:
            self.figures.runs["revoke"] += 1
            try:
                out = run_revoke(self.services(), plan.gid, "finished early", actor=plan.requester)
                self.figures.outcomes[str(out.action)] += 1
            except JitopsError as exc:
                self.said.append(f"revoke of {plan.gid}: {exc}")
                return
        plan.ended = True

    # -- faults -------------------------------------------------------------------------------
    def inject(self, vault: int, github: int) -> None:
        for _ in range(vault):
            kind = self.rng.choice(VAULT_FAULTS)
            self.proxy.inject(kind, path=self.rng.choice(VAULT_PATHS), retry_after=1, delay=1.0)
        gh = self.world.gh
        for _ in range(github):
            kind = self.rng.choice(GITHUB_FAULTS)
            self.figures.github_faults[kind] += 1
            self.github_injected += 1
            if kind in ("502", "503"):
                gh.fail_next(1, int(kind))
            elif kind == "primary":
                gh.rate_limit_next(1, secondary=False, reset_in=1)
            else:
                gh.rate_limit_next(1, secondary=True, retry_after=1, status=int(kind[-3:]))

    def clear_faults(self) -> None:
        with self.proxy._lock:
            self.proxy.faults.clear()
        server = self.world.gh.server
        with server._meta:
            pending = sum(f.remaining for f in server.faults)
            server.faults.clear()
        self.github_injected -= pending  # never served
        self.figures.github_faults["(not served)"] += pending

    # -- the day ------------------------------------------------------------------------------
    def issued(self, plan: Plan) -> bool:
        text = self.world.gh.read_file("main", f"grants/{plan.gid}.yaml") or ""
        return "token_accessor:" in text

    def day(
        self, plans: list[Plan], *, batch: int, hook_at: int = -1, hook: Callable[[], None] | None
    ) -> None:
        self.plans += plans
        batches = [plans[i : i + batch] for i in range(0, len(plans), batch)]
        for b, group in enumerate(batches):
            for plan in group:
                self.open_and_merge(plan)
            self.inject(vault=self.rng.randint(0, 3), github=self.rng.randint(0, 2))
            during = hook if b == hook_at else None
            shape = b % 4
            if shape == 1:
                self.runs("issue", "sweep", during=during)
            elif shape == 3:
                self.runs("issue", "issue", during=during)
            else:
                self.runs("issue", during=during)
            self.claim_some()
            # give back access merged in earlier batches, once it is issued
            for plan in self.plans:
                if (
                    plan.end in ("delete", "revoke")
                    and plan.merged
                    and not plan.ended
                    and plan not in group
                    and self.issued(plan)
                ):
                    self.end_early(plan)
            if b % 3 == 2:
                self.inject(vault=self.rng.randint(0, 2), github=self.rng.randint(0, 1))
                self.runs("sweep")

    def converge(self) -> None:
        """No more faults: issue and sweep until nothing is left to do and every grant of
        seconds has expired and been swept (bounded)."""
        self.clear_faults()
        for _ in range(15):
            busy = self.runs("issue") + self.runs("sweep")
            waiting = [
                p for p in self.plans if p.end == "expire" and p.approved and self.on_main(p)
            ]
            if not busy and not waiting:
                return
            time.sleep(1.0 if waiting else 0.1)
        self.said.append(f"{self.name}: the day did not converge in 15 rounds")

    def on_main(self, plan: Plan) -> bool:
        return self.world.gh.read_file("main", f"grants/{plan.gid}.yaml") is not None

    def claim_some(self) -> None:
        """Requesters claim some deliveries (unseal the comment, unwrap once)."""
        for plan in self.plans:
            if not plan.approved or plan.gid in self._claimed or not plan.merged:
                continue
            armored = extract_sealed(self.world.gh.comments(plan.pr), plan.gid)
            if armored is None:
                continue
            payload = deliver.unseal_first(armored, [self.keys[plan.requester].private],
                                           grant_id=plan.gid)  # fmt: skip
            self.secrets.add(payload.wrapping_token.reveal())
            self._claimed.add(plan.gid)
            if self.rng.random() < 0.5:
                continue
            vault = Vault(payload.vault_addr)
            try:
                got = vault.unwrap(payload.wrapping_token)
                # every value but the accessor (jitops records it in git: not a secret)
                values = [v.reveal() for k, v in got.values.items() if k != "accessor"]
                self.secrets.update(v for v in values if len(v) > 8)
            except JitopsError as exc:  # expired or already revoked: part of the day
                self.said.append(f"claim of {plan.gid}: {exc}")
            finally:
                vault.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proxy.stop()
        self.world.close()


# -- the plan of the day ------------------------------------------------------------------------
def make_plans(rng: random.Random, count: int, start: int, tag: str) -> list[Plan]:
    plans = []
    for i in range(count):
        requester = REQUESTER if rng.random() < 0.6 else SECOND
        pick = rng.random()
        if pick < 0.5:
            role, approval = "staging-admin", "none"
        elif pick < 0.65:
            role, approval = "vault-operator", "none"
        else:
            role = "orders-db-readonly"
            approval = rng.choices(["dba", "missing", "wrong", "late"], [6, 2, 1, 1])[0]
        end = rng.choices(["expire", "delete", "revoke", "keep"], [5, 2, 1, 2])[0]
        if role == "orders-db-readonly" and end == "expire":
            duration = f"{rng.randint(4, 9)}s"
        elif end == "expire":
            duration = f"{rng.randint(3, 10)}s"
        else:
            duration = "1h" if role != "staging-admin" else rng.choice(["2h", "8h"])
        gid = f"{PREFIX[role]}-{requester}-{tag}{start + i}"
        plans.append(Plan(gid, requester, role, duration, approval, METHODS[i % 4], end))
    return plans


# -- invariants ---------------------------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=120
    ).stdout


def ledger(repo: Path) -> list[tuple[str, Any]]:
    """(commit, entry) for every jitops ledger commit on main, oldest first."""
    raw = git(repo, "log", "--reverse", "--format=%H%x1f%B%x1e", "main")
    found = []
    for chunk in raw.split("\x1e"):
        sha, _, message = chunk.strip().partition("\x1f")
        if not sha:
            continue
        entry, _ = parse_entry(message)
        if entry is not None:
            found.append((sha, entry))
    return found


def check_stage(stage: Stage, texts: dict[str, str]) -> list[str]:
    """Every violation of the invariants in this stage (empty: none)."""
    world = stage.world
    repo = world.gh.repo_path
    bad: list[str] = []
    entries = ledger(repo)
    actions: dict[str, list[str]] = {}
    recorded: dict[str, set[str]] = {}
    for sha, entry in entries:
        actions.setdefault(entry.grant, []).append(entry.action)
        if entry.action == "issue":
            data = git(repo, "show", f"{sha}:grants/{entry.grant}.yaml")
            grant, _ = read_grant(data.encode(), f"grants/{entry.grant}.yaml")
            if grant is not None and grant.status is not None:
                recorded.setdefault(entry.grant, set()).add(grant.status.token_accessor)
    live = world.grant_tokens()
    live_by: dict[str, list[Any]] = {}
    for info in live:
        live_by.setdefault(info.grant_id or "", []).append(info)
    on_main = {
        Path(p).stem
        for p in git(repo, "ls-tree", "-r", "--name-only", "main", "grants/").split()
        if p.endswith(".yaml")
    }
    lost = stage.proxy.served.get("lost", 0)
    unrecorded = 0
    for plan in stage.plans:
        done = actions.get(plan.gid, [])
        # a delivery comment, sealed or cut down to its one-line note once spent
        marker = DELIVERY_MARKER.format(grant_id=plan.gid)
        delivered = sum(1 for c in world.gh.comments(plan.pr) if marker in c)
        if plan.approved:
            if "issue" not in done or delivered != 1:
                bad.append(
                    f"{plan.gid}: approved, {done.count('issue')} issue record(s) and "
                    f"{delivered} deliveries (want at least 1 and exactly 1)"
                )
        elif "issue" in done or delivered:
            bad.append(f"{plan.gid}: not approved ({plan.approval}) but issued ({done})")
        if not plan.approved and "deny" not in done:
            bad.append(f"{plan.gid}: not approved ({plan.approval}) and never denied ({done})")
        if "issue" in done and "deny" in done[done.index("issue") :]:
            bad.append(f"{plan.gid}: recorded as denied after it was issued ({done})")
        tokens = live_by.get(plan.gid, [])
        mine = [t for t in tokens if t.accessor in recorded.get(plan.gid, set())]
        unrecorded += len(tokens) - len(mine)
        ended = bool(done) and done[-1] in ("expire", "revoke", "deny")
        if ended and mine:
            bad.append(f"{plan.gid}: git says it ended ({done[-1]}) but its token is live")
        if len(mine) > 1:
            bad.append(f"{plan.gid}: {len(mine)} live tokens jitops recorded")
        if plan.end == "keep" and plan.approved and plan.gid not in on_main:
            bad.append(f"{plan.gid}: an active grant is missing from main ({done})")
        if plan.end in ("delete", "revoke", "expire") and plan.gid in on_main and plan.ended:
            bad.append(f"{plan.gid}: ended early but still on main")
        if plan.end == "expire" and plan.approved and plan.gid in on_main:
            bad.append(f"{plan.gid}: expired but still on main (the sweep did not end it)")
    if unrecorded > lost:
        bad.append(
            f"{unrecorded} live grant tokens git never recorded, more than the {lost} lost "
            "answers can explain"
        )
    stage.figures.events.append(
        f"{stage.name}: {unrecorded} live token(s) nobody received (lost answers to a create; "
        "they end by their TTL)"
    )
    verify_at = stage.world.workdir / "verify"
    world.gh.clone(verify_at)
    done_verify = subprocess.run(
        [sys.executable, "-m", "jitops", "audit", "verify", "--repo", str(verify_at)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    texts[f"{stage.name}: audit verify"] = done_verify.stdout + done_verify.stderr
    if done_verify.returncode != 0:
        bad.append(f"audit verify exited {done_verify.returncode}: {done_verify.stdout.strip()}")
    # where a secret must never be: git objects, comments, OpenBao's audit log
    texts[f"{stage.name}: git objects"] = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo, capture_output=True, timeout=300, check=True,
    ).stdout.decode("utf-8", "replace")  # fmt: skip
    last_pr = max((p.pr for p in stage.plans), default=0) + 200
    texts[f"{stage.name}: comments"] = "\n".join(
        c for n in range(1, last_pr) for c in _comments(world, n)
    )
    stage.secrets |= stage.proxy.tokens_seen
    return bad


def _comments(world: World, n: int) -> list[str]:
    try:
        return list(world.gh.comments(n))
    except Exception:
        return []


def secrets_in(texts: dict[str, str], secrets: set[str]) -> list[str]:
    found = []
    for where, text in texts.items():
        for secret in secrets:
            if secret and secret in text:
                found.append(f"a secret ({len(secret)} characters) is in clear in {where}")
                break
    return found


# -- main ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def captured() -> Iterator[Capture]:
    handler = Capture()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grants", type=int, default=200, help="grants in the whole day")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="the CI size (about 24 grants)")
    ap.add_argument("--no-cluster", action="store_true", help="skip the three-node stretch")
    ap.add_argument(
        "--trace", type=Path, default=None, help="write what the runs said and logged to FILE"
    )
    args = ap.parse_args()
    grants = 24 if args.small else args.grants
    rng = random.Random(args.seed)
    figures = Figures()
    said: list[str] = []
    texts: dict[str, str] = {}
    violations: list[str] = []
    secrets: set[str] = set()
    cluster_share = 0 if args.no_cluster else max(8, grants // 5)
    started = time.monotonic()
    report: list[str] = []

    with tempfile.TemporaryDirectory(prefix="jitops-soak-") as tmp, captured() as capture:
        root = Path(tmp)
        audit = root / "audit"
        audit.mkdir()
        # -- the day on one OpenBao (raft storage: it survives its restart) ---------------
        server = OpenBaoServer(persistent=True, audit_log=audit / "single.log").start()
        stages: list[Stage] = []
        try:
            stage = Stage("single", root / "single", server, rng, figures, said)
            stages.append(stage)

            def restart() -> None:
                time.sleep(0.3)
                t = time.monotonic()
                server.restart()
                figures.events.append(
                    f"single: OpenBao restarted mid-run (down {time.monotonic() - t:.1f} s)"
                )

            plans = make_plans(rng, grants - cluster_share, 1, "")
            batches = max(1, len(plans) // 5)
            stage.day(plans, batch=5, hook_at=batches // 2, hook=restart)
            stage.converge()

            # -- a stretch on a three-node cluster; its active node dies mid-run ------------
            cluster = None
            if cluster_share:
                t = time.monotonic()
                cluster = OpenBaoCluster(size=3, audit_log=audit / "cluster.log").start()
                active = cluster.active()
                assert active is not None
                standby = next(i for i in range(3) if i != active)
                figures.events.append(
                    f"cluster: 3 raft nodes up in {time.monotonic() - t:.1f} s; jitops talks "
                    f"to standby node-{standby}"
                )
                shim = SimpleNamespace(
                    url=cluster.url(standby),
                    root_token=cluster.root_token,
                    product=cluster.product,
                    version=cluster.version,
                    binary=cluster.binary,
                )
                try:
                    cstage = Stage("cluster", root / "cluster", shim, rng, figures, said)
                    stages.append(cstage)

                    def kill() -> None:
                        time.sleep(0.5)
                        leader = cluster.active()
                        assert leader is not None
                        assert leader != standby
                        t = time.monotonic()
                        cluster.kill(leader)
                        new = cluster.wait_for_leader(other_than=leader)
                        figures.events.append(
                            f"cluster: active node-{leader} killed mid-run; node-{new} active "
                            f"after {time.monotonic() - t:.1f} s"
                        )

                    cplans = make_plans(rng, cluster_share, 1, "c")
                    cstage.day(cplans, batch=4, hook_at=1, hook=kill)
                    cstage.converge()
                except BaseException:
                    cluster.stop()
                    raise
            for st in stages:
                violations += [f"{st.name}: {v}" for v in check_stage(st, texts)]
                secrets |= st.secrets
                for kind, count in st.proxy.served.items():
                    figures.vault_faults[kind] += count
            texts["audit logs of OpenBao"] = "\n".join(
                p.read_text(errors="replace") for p in sorted(audit.glob("*.log"))
            )
            if cluster is not None:
                cluster.stop()
        finally:
            for st in stages:
                st.close()
            server.stop()
        texts["log records, run output"] = capture.buffer.getvalue() + "\n".join(said)
        if args.trace is not None:
            args.trace.write_text(texts["log records, run output"], encoding="utf-8")

        planned = [p for st in stages for p in st.plans]
        report += [
            f"grants: {len(planned)} ({sum(p.approved for p in planned)} to issue, "
            f"{sum(not p.approved for p in planned)} to deny; by method "
            + ", ".join(f"{m} {sum(p.method == m for p in planned)}" for m in METHODS)
            + "; ends: "
            + ", ".join(
                f"{e} {sum(p.end == e and p.approved for p in planned)}"
                for e in ("expire", "delete", "revoke", "keep")
            )
            + ")",
            "runs: "
            + ", ".join(f"{k} {v}" for k, v in sorted(figures.runs.items()))
            + f"; {figures.concurrent} times two runs raced on the same remote",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(figures.outcomes.items())),
            "faults injected: Vault "
            + (", ".join(f"{k} {v}" for k, v in sorted(figures.vault_faults.items())) or "none")
            + "; GitHub "
            + (", ".join(f"{k} {v}" for k, v in sorted(figures.github_faults.items())) or "none"),
            *[f"event: {e}" for e in figures.events],
        ]
        secret_hits = secrets_in({**texts, "this report": "\n".join(report)}, secrets)
        if len(secrets) < 20:
            secret_hits.append(f"only {len(secrets)} secrets collected: the check proves little")

    names = {
        "issued once": ("issue record", "deliveries"),
        "no denied grant issued": ("but issued",),
        "denied grants denied": ("never denied",),
        "no deny after issue": ("denied after",),
        "no live token of an ended grant": ("token is live",),
        "active grants on main, ended ones gone": ("missing from main", "still on main"),
        "no grant with two live tokens": ("live tokens jitops recorded", "never recorded"),
        "audit verify consistent": ("audit verify",),
    }
    for name, marks in names.items():
        hits = [v for v in violations if any(m in v for m in marks)]
        report.append(f"invariant: {name}: {'ok' if not hits else f'{len(hits)} violation(s)'}")
    report.append(
        f"invariant: no secret in output, git, comments or the audit log ({len(secrets)} "
        f"secrets checked): {'ok' if not secret_hits else f'{len(secret_hits)} violation(s)'}"
    )
    violations += secret_hits
    for v in violations:
        report.append(f"VIOLATION {v}")
    report.append(f"violations: {len(violations)}")
    report.append(f"wall time: {time.monotonic() - started:.0f} s")
    print("\n".join(report))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
