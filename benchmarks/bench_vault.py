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

    python benchmarks/bench_vault.py --grants 10 --active 20 --expired 5 --noise 2000 --runs 3
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

from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.services import Services
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
    args = ap.parse_args()

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
