"""Benchmark: Vault requests jitops makes on a real OpenBao, per issued grant and per sweep.

Runs the real `issue` and `sweep` code (jitops.lifecycle) against a World: the GitHub
stand-in, a real ``bao server -dev`` and the loopback OIDC issuer, with each job logging in
through Vault's JWT auth as in CI. Requests are counted by the Vault door itself.

- issue: for each of ``--grants`` merged grant pull requests, one `issue` run; Vault requests
  per issued grant, login included (goal: at most 4). Median over the grants.
- sweep: ``--active`` grants issued (``--expired`` of them short), then ``--noise`` unrelated
  tokens created in the same Vault; one `sweep` after the short ones expired. Vault requests
  and wall time of that sweep, compared with the same sweep over the same grants without the
  noise tokens (a ratio: goal 1.0, the sweep never looks at tokens git does not record).
  Median over ``--runs``.
- costs (``--costs``): ``--active`` grants active at once (issued in one setup run), then
  for each of ``--runs`` rounds: ``--expired`` short grants merged and issued (setup), then
  one more grant merged and one `issue` run counted, then one `sweep` counted that expires
  the short ones.
  Both counted runs read the clock ``--later`` minutes after the setup (default 61: the
  active grants were issued more than an hour before, as at steady state; 0 counts the hour
  right after a burst, when each run re-checks every grant issued within that hour with
  GitHub). Vault requests (the door's count, login included) and GitHub requests (the
  stand-in's request log) of each counted run; goal: the issue run at most 10 Vault requests
  at 1,000 active grants, the sweep's requests growing with the expired grants only.

    python benchmarks/bench_vault.py --grants 10 --active 20 --expired 5 --noise 2000 --runs 3
    python benchmarks/bench_vault.py --costs --active 1000 --expired 5 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jitops.lifecycle.issue import issue_pending, run_issue
from jitops.lifecycle.services import Services, read_tip
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World


def grant(duration: str) -> str:
    return (
        f"requester: {REQUESTER}\nrole: staging-admin\nduration: {duration}\n"
        "reason: Debug the staging deploy pipeline\n"
    )


def issue_one(world: World, gid: str, duration: str) -> int:
    """Merge a grant PR and run `issue` for it; the Vault requests that run made."""
    before = world.main_sha()
    n = world.gh.open_pr(REQUESTER, f"r-{gid}", gid, files={f"grants/{gid}.yaml": grant(duration)})
    after = world.gh.merge_pr(n, DBA)
    svc = world.services()
    outcomes = run_issue(svc, before=before, after=after)
    if [o.action for o in outcomes] != ["issued"]:
        raise SystemExit(f"issue of {gid} did not issue: {outcomes}")
    return requests_of(svc)


def requests_of(svc: Services) -> int:
    vaults: list[Any] = list(svc._vaults.values())  # one per Vault settings a run used
    return sum(int(v.request_count) for v in vaults)


def merge(world: World, gid: str, duration: str) -> None:
    n = world.gh.open_pr(REQUESTER, f"r-{gid}", gid, files={f"grants/{gid}.yaml": grant(duration)})
    world.gh.merge_pr(n, DBA)


def issue_all(world: World, count: int, batch: int = 50) -> None:
    """Issue every merged grant (setup only), ``batch`` per run: each run logs in afresh, as
    a job does (a job's Vault token outlives one run, not a thousand issues)."""
    left = count
    while left:
        svc = world.services()
        svc.git.fetch(svc.remote, svc.branch)
        n = min(batch, left)
        outcomes = issue_pending(svc, read_tip(svc), now=datetime.now(UTC), limit=n)
        issued = [o for o in outcomes if o.action == "issued"]
        if len(issued) != n:
            raise SystemExit(f"setup did not issue {n} grants: {outcomes[:3]}")
        left -= n


def github_requests(world: World) -> int:
    return len(world.gh.server.log)


def scale_round(world: World, r: int, *, expired: int, later: timedelta) -> tuple[int, ...]:
    """(issue: Vault, GitHub requests; sweep: Vault, GitHub requests) of one counted round."""
    for i in range(expired):
        merge(world, f"stg-short-{r}-{i}", "2s")
    issue_all(world, expired)
    gid = f"stg-more-{r}"
    merge(world, gid, "4h")
    now = datetime.now(UTC) + later
    svc, gh0 = world.services(), github_requests(world)
    outcomes = run_issue(svc, now=now)
    if [(o.grant, o.action) for o in outcomes] != [(gid, "issued")]:
        raise SystemExit(f"the counted issue run did not just issue {gid}: {outcomes}")
    issue = (requests_of(svc), github_requests(world) - gh0)
    time.sleep(3)  # the short grants' tokens end in Vault
    now = datetime.now(UTC) + later
    svc, gh0 = world.services(), github_requests(world)
    outcomes = run_sweep(svc, now=now)
    swept = sorted(o.grant for o in outcomes if o.action == "expired")
    if swept != [f"stg-short-{r}-{i}" for i in range(expired)]:
        raise SystemExit(f"the sweep ended {swept}, expected the {expired} short ones: {outcomes}")
    return (*issue, requests_of(svc), github_requests(world) - gh0)


def scale(root: Path, *, active: int, expired: int, runs: int, later: timedelta) -> None:
    with World.create(root, use_postgres=False) as world:
        start = time.perf_counter()
        for i in range(active):
            merge(world, f"stg-active-{i}", "4h")
        issue_all(world, active)
        print(f"setup: {active} active grants in {time.perf_counter() - start:.0f} s")
        rounds = [scale_round(world, r, expired=expired, later=later) for r in range(runs)]

    def med(k: int) -> str:
        xs = [r[k] for r in rounds]
        return f"{statistics.median(xs):g} (min {min(xs)}, max {max(xs)})"

    print(
        f"issue one grant with {active} active, median of {runs}: Vault requests {med(0)}, "
        f"GitHub requests {med(1)}"
    )
    print(
        f"sweep of {expired} expired with {active} active, median of {runs}: Vault requests "
        f"{med(2)}, GitHub requests {med(3)}"
    )


def make_noise(world: World, count: int) -> None:
    """``count`` tokens in the same Vault that are none of jitops' business."""
    admin = world.admin()

    def one(i: int) -> None:
        admin.write(
            "auth/token/create-orphan",
            {"policies": ["default"], "ttl": "1h", "display_name": f"other-{i}"},
        )

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, range(count)))
    finally:
        admin.close()


def sweep_once(root: Path, *, active: int, expired: int, noise: int) -> tuple[int, float, int]:
    """(Vault requests, seconds, expired grants swept) for one sweep of a fresh world."""
    with World.create(root, use_postgres=False) as world:
        for i in range(active):
            issue_one(world, f"stg-octocat-{i}", "2s" if i < expired else "1h")
        make_noise(world, noise)
        now = datetime.now(UTC) + timedelta(seconds=5)
        svc = world.services()
        start = time.perf_counter()
        outcomes = run_sweep(svc, now=now)
        elapsed = time.perf_counter() - start
        swept = sum(1 for o in outcomes if o.action == "expired")
        if swept != expired:
            raise SystemExit(f"the sweep ended {swept} grants, expected {expired}: {outcomes}")
        return requests_of(svc), elapsed, swept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grants", type=int, default=10)
    ap.add_argument("--active", type=int, default=20)
    ap.add_argument("--expired", type=int, default=5)
    ap.add_argument("--noise", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--costs", action="store_true", help="only the issue and sweep costs")
    ap.add_argument("--later", type=int, default=61, help="minutes after the setup (--costs)")
    args = ap.parse_args()
    if args.costs:
        with tempfile.TemporaryDirectory(prefix="jitops-bench-") as tmp:
            scale(
                Path(tmp),
                active=args.active,
                expired=args.expired,
                runs=args.runs,
                later=timedelta(minutes=args.later),
            )
        return 0

    with tempfile.TemporaryDirectory(prefix="jitops-bench-") as tmp:
        with World.create(Path(tmp) / "issue", use_postgres=False) as world:
            counts = [issue_one(world, f"stg-octocat-{i}", "1h") for i in range(args.grants)]
        print(
            f"issue: Vault requests per issued grant (login included), median of "
            f"{args.grants}: {statistics.median(counts):g} (min {min(counts)}, max {max(counts)})"
        )
        bare: list[tuple[int, float, int]] = []
        noisy: list[tuple[int, float, int]] = []
        for run in range(args.runs):
            bare.append(
                sweep_once(
                    Path(tmp) / f"bare-{run}", active=args.active, expired=args.expired, noise=0
                )
            )
            noisy.append(
                sweep_once(
                    Path(tmp) / f"noisy-{run}",
                    active=args.active,
                    expired=args.expired,
                    noise=args.noise,
                )
            )
    b_req = statistics.median(r[0] for r in bare)
    n_req = statistics.median(r[0] for r in noisy)
    b_s = statistics.median(r[1] for r in bare)
    n_s = statistics.median(r[1] for r in noisy)
    print(
        f"sweep of {args.active} active grants ({args.expired} expired), median of {args.runs}: "
        f"{n_req:g} Vault requests with {args.noise} unrelated tokens, {b_req:g} without "
        f"(ratio {n_req / b_req:.2f}); {n_s:.2f} s vs {b_s:.2f} s (ratio {n_s / b_s:.2f}); "
        f"{(n_req - 1) / args.expired:.1f} requests per expired grant after the login"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
