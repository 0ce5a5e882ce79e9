"""`jitops demo`: the whole lifecycle on loopback, narrated, every step checked.

Real OpenBao and PostgreSQL servers, the GitHub stand-in.
`jitops vault setup` -> request PR -> `pr check` -> a reviewer approves -> `pr approvals` ->
merge -> `issue` -> `claim` with the requester's SSH key -> a real login works -> the grant's
duration passes -> the login is refused (Vault's TTL alone did it) -> `sweep` -> the audit
trail in git.

The jitops commands run as real subprocesses with the environment a workflow would give them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from jitops.core.grant import parse_time
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops_sandbox.demo.world import BOT, DBA, REQUESTER, World

GRANT_ID = "orders-octocat-demo"
DURATION_S = 8


class DemoFailed(JitopsError):
    """A step of the demo did not hold."""


class Demo:
    def __init__(self, console: Console, world: World) -> None:
        self.c = console
        self.w = world
        self.steps = 0
        self.started = time.monotonic()

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.steps += 1
        self.c.rule(f"[bold]{self.steps}. {title}")
        yield

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise DemoFailed(f"demo step {self.steps} failed: {what}")
        self.c.print(f"  [green]✔[/] {what}")

    def jitops(self, *args: str, login: str = BOT, extra: dict[str, str] | None = None) -> str:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "VAULT_", "ACTIONS_", "JITOPS_"))
        }
        env.update(self.w.environ())
        env.update({"GITHUB_TOKEN": self.w.gh.token(login), "HOME": str(self.w.workdir / "home")})
        env.update(extra or {})
        cmd = [sys.executable, "-m", "jitops", *args]
        self.c.print(f"  [dim]$ jitops {' '.join(args)}[/]")
        proc = subprocess.run(
            cmd, cwd=self.w.checkout, env=env, capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise DemoFailed(
                f"`jitops {' '.join(args)}` exited {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-600:]}"
            )
        return proc.stdout

    def run(self) -> None:
        w = self.w
        c = self.c
        c.print(
            Panel.fit(
                f"GitHub stand-in at {w.gh.api_url} (repository acme/access, a real git repo)\n"
                f"Vault: real {w.vault_kind} at {w.vault_url}\n"
                + (
                    f"PostgreSQL: real {self._pg_version()} on 127.0.0.1:{w.postgres.port}"
                    if w.postgres
                    else "PostgreSQL: not available here, the secret is a kv entry instead"
                )
                + "\nCI login: Vault JWT auth, tokens from a loopback GitHub-Actions-like OIDC "
                "issuer",
                title="jitops demo",
            )
        )
        with self.step("an admin sets Vault up (`jitops vault setup`)"):
            for line in w.setup_output.strip().splitlines():
                c.print(f"  [dim]{escape(line.strip())}[/]")
            self.check(
                "JWT role" in w.setup_output and "token role" in w.setup_output,
                "issuer policy, token role, JWT auth bound to the repository: written",
            )
        grant = (
            f"requester: {REQUESTER}\nrole: orders-db-readonly\nduration: {DURATION_S}s\n"
            "reason: Investigate INC-1234 slow queries on the orders table\nticket: INC-1234\n"
        )
        with self.step(f"{REQUESTER} asks for access in a pull request"):
            c.print(f"[cyan]grants/{GRANT_ID}.yaml[/]\n{grant}")
            pr = w.gh.open_pr(
                REQUESTER,
                f"access/{GRANT_ID}",
                f"Access: orders-db-readonly for {REQUESTER}",
                files={f"grants/{GRANT_ID}.yaml": grant},
            )
            self.check(pr > 0, f"pull request #{pr} opened")

        with self.step("CI judges it against the base branch's policy (`jitops pr check`)"):
            subprocess.run(["git", "fetch", "--quiet", "origin"], cwd=w.checkout, check=True)
            self.jitops("pr", "check", "--pr", str(pr), "--format", "text")
            statuses = {s.context: s.state for s in reversed(w.gh.statuses(w.gh.head_sha(pr)))}
            self.check(statuses.get("jitops/validate") == "success", "jitops/validate: success")
            self.check(statuses.get("jitops/approval") == "pending", "jitops/approval: pending")
            comment = next((b for b in w.gh.comments(pr) if "orders-db-readonly" in b), "")
            self.check("@acme/dba" in comment, "the PR comment says a DBA must approve")

        with self.step(f"{DBA} (a DBA) approves; `jitops pr approvals` re-evaluates"):
            w.gh.review(pr, DBA, "APPROVED")
            self.jitops("pr", "approvals", "--pr", str(pr), "--format", "text")
            statuses = {s.context: s.state for s in reversed(w.gh.statuses(w.gh.head_sha(pr)))}
            self.check(statuses.get("jitops/approval") == "success", "jitops/approval: success")

        with self.step("merge, and `jitops issue` runs on main"):
            before = w.main_sha()
            after = w.gh.merge_pr(pr, DBA)
            out = self.jitops("issue", "--before", before, "--after", after, "--format", "json")
            issued = json.loads(out)
            self.check(
                [(o["grant"], o["action"]) for o in issued] == [(GRANT_ID, "issued")],
                "Vault issued an orphan token whose TTL is the grant's duration",
            )
            text = w.gh.read_file("main", f"grants/{GRANT_ID}.yaml") or ""
            self.check("status:" in text and "token_accessor" in text, "status block committed")
            sealed = [b for b in w.gh.comments(pr) if "BEGIN AGE ENCRYPTED FILE" in b]
            self.check(len(sealed) == 1, "the credential is in the PR, sealed to octocat's SSH key")
            expires_at = parse_time(text.split("expires_at:")[1].split()[0])
            accessor = text.split("token_accessor:")[1].split()[0].strip('"')

        with self.step(f"{REQUESTER} claims it with the SSH private key (`jitops claim`)"):
            out = self.jitops(
                "claim",
                GRANT_ID,
                "--pr",
                str(pr),
                "--identity",
                str(w.key.private),
                "--format",
                "json",
                login=REQUESTER,
            )
            creds = json.loads(out)["credentials"]
            self.check(bool(creds.get("username")), f"got a credential for {creds.get('username')}")
            c.print("  [dim](password not shown)[/]")

        with self.step("the credential works"):
            if w.postgres is not None:
                total = self._query(creds["username"], creds["password"])
                self.check(total is not None, f"real PostgreSQL login; SELECT sum(total) = {total}")
            else:
                self.check(bool(creds.get("password")), "the kv secret was delivered")

        with self.step("the grant's duration passes — no jitops process is running"):
            wait = (expires_at - datetime.now(UTC)).total_seconds() + 2
            c.print(f"  waiting {max(wait, 0):.0f} s for Vault's TTL ...")
            time.sleep(max(wait, 0))
            info = w.admin().lookup_accessor(accessor)
            self.check(info is None, "Vault ended the grant token by itself")
            if w.postgres is not None:
                self.check(
                    self._query(creds["username"], creds["password"]) is None,
                    "the same PostgreSQL login is now refused (its lease died with the token)",
                )

        with self.step("`jitops sweep` makes git tell the truth"):
            self.jitops("sweep", "--format", "text")
            self.check(
                w.gh.read_file("main", f"grants/{GRANT_ID}.yaml") is None,
                "the grant file is gone from grants/",
            )

        with self.step("the audit trail, from git alone"):
            self._audit()
        elapsed = time.monotonic() - self.started
        c.print(Panel.fit(f"[green]every step held[/] — {self.steps} steps in {elapsed:.0f} s"))

    def _pg_version(self) -> str:
        import psycopg

        assert self.w.postgres is not None
        with psycopg.connect(self.w.postgres.dsn(), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0].split()[0] if row else '?'}"

    def _query(self, user: str, password: str) -> Any:
        import psycopg

        assert self.w.postgres is not None
        try:
            with psycopg.connect(self.w.postgres.dsn(user, password), connect_timeout=3) as conn:
                row = conn.execute("SELECT sum(total) FROM orders").fetchone()
                return row[0] if row else None
        except psycopg.Error:
            return None

    def _audit(self) -> None:
        Git(self.w.checkout).fetch("origin", "main")
        out = self.jitops("audit", "--ref", "origin/main", "--format", "json")
        records = {r["grant"]: r for r in json.loads(out)}
        table = Table("grant", "requester", "approved by", "issued", "ended")
        for r in records.values():
            table.add_row(
                r["grant"],
                r["requester"] or "",
                ", ".join(r["approved_by"]),
                (r["issued_at"] or "")[11:],
                f"{r['ended_by'] or ''} {(r['ended_at'] or '')[11:]}".strip(),
            )
        self.c.print(table)
        mine = records.get(GRANT_ID) or {}
        self.check(
            (mine.get("ended_by"), mine.get("approved_by"), mine.get("pull_request") is not None)
            == ("expire", [DBA], True),
            "the record: pull request, approver, issue and expiry",
        )
        verdict = self.jitops("audit", "verify", "--ref", "origin/main").strip().splitlines()
        self.check(
            verdict[-1:] == ["1 grant checked: the ledger is consistent"],
            "jitops audit verify: the ledger is consistent",
        )


def run_demo(
    *,
    keep: bool = False,
    console: Console | None = None,
    vault_binary: str | None = None,
    scenario: type[Demo] | None = None,
) -> int:
    """Run the demo ``scenario`` (a :class:`Demo` class; default the whole lifecycle)."""
    console = console or Console()
    tmp = Path(tempfile.mkdtemp(prefix="jitops-demo-"))
    tmp.chmod(0o700)
    try:
        with console.status("starting GitHub, OpenBao and PostgreSQL on loopback ..."):
            world = World.create(tmp, vault_binary=vault_binary, setup_via_cli=True)
        with world:
            (scenario or Demo)(console, world).run()
        return 0
    finally:
        if keep:
            console.print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
