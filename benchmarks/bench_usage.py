"""Benchmark: `jitops audit usage` on a 1,000,000-line Vault audit log vs a bare `json.loads`
of every line of the same file, in the same run (median of runs, both as fresh processes).

The log is shaped like OpenBao 2.7.2's file audit device output: a request entry and a
response entry per request, tokens and accessors HMAC'd, token metadata as it is. A share of
the requests (``--grant-share``, default 0.3) come from grant tokens of the ledger (a history
built as benchmarks/bench_audit.py builds it), the rest from other clients of the same Vault.

    python benchmarks/bench_usage.py --lines 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audit import build  # the ledger is the audit benchmark's

BASELINE = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"
T0 = datetime(2025, 1, 1, tzinfo=UTC)  # bench_audit's first commit
PATHS = ("secret/data/staging/admin", "database/creds/orders-readonly", "sys/mounts")
OTHER = ("auth/approle/login", "secret/data/app/config", "sys/health", "transit/encrypt/app")


def _hmac(rng: random.Random) -> str:
    return "hmac-sha256:" + f"{rng.getrandbits(256):064x}"


def entry(rng: random.Random, when: datetime, grant: str | None, path: str, kind: str) -> str:
    token, accessor = _hmac(rng), _hmac(rng)
    auth: dict[str, object] = {
        "client_token": token,
        "accessor": accessor,
        "display_name": f"token-jitops-{grant}" if grant else "approle",
        "policies": ["default", "jit-staging-admin"],
        "token_policies": ["default", "jit-staging-admin"],
        "policy_results": {
            "allowed": True,
            "granting_policies": [{"name": "jit-staging-admin", "namespace_id": "root"}],
        },
        "token_type": "service",
        "token_ttl": 7200,
        "token_issue_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if grant:
        auth["metadata"] = {
            "jitops_grant": grant,
            "jitops_pull_request": "1",
            "jitops_repository": "acme/access",
            "jitops_requester": "user1",
            "jitops_role": "staging-admin",
        }
    body: dict[str, object] = {
        "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(10**9):09d}Z",
        "type": kind,
        "auth": auth,
        "request": {
            "id": f"{rng.getrandbits(128):032x}",
            "operation": "read",
            "mount_point": path.split("/")[0] + "/",
            "mount_type": "kv",
            "client_token": token,
            "client_token_accessor": accessor,
            "namespace": {"id": "root"},
            "path": path,
            "remote_address": "10.0.0.7",
            "remote_port": rng.randrange(1024, 65535),
        },
    }
    if kind == "response":
        body["response"] = {"mount_point": "secret/", "mount_type": "kv"}
    return json.dumps(body, separators=(",", ":")) + "\n"


def write_log(path: Path, lines: int, grants: int, share: float) -> None:
    rng = random.Random(1)
    with path.open("w") as out:
        for i in range(lines // 2):
            if rng.random() < share:
                g = rng.randrange(1, grants + 1)
                if g % 3 == 2:  # denied in the ledger: never issued, use its neighbour
                    g -= 1
                grant: str | None = f"stg-user{g % 300}-{g}"
                when = T0 + timedelta(minutes=10 * g, seconds=rng.randrange(40, 3600))
                path_ = rng.choice(PATHS)
            else:
                grant = None
                when = T0 + timedelta(minutes=10 * grants * i / (lines // 2))
                path_ = rng.choice(OTHER)
            out.write(entry(rng, when, grant, path_, "request"))
            out.write(entry(rng, when, grant, path_, "response"))


def timed(cmd: list[str], cwd: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--commits", type=int, default=3000, help="size of the ledger's history")
    ap.add_argument("--grant-share", type=float, default=0.3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jitops-bench-usage-"))
    try:
        root = tmp / "repo"
        build(root, args.commits)
        grants = args.commits // 4 - 1  # bench_audit writes about four commits per grant
        log = tmp / "audit.log"
        write_log(log, args.lines, grants, args.grant_share)
        size = log.stat().st_size
        print(f"audit log: {args.lines} lines, {size / 1e6:.0f} MB; ledger: {args.commits} commits")
        usage = [sys.executable, "-m", "jitops", "audit", "usage", "--vault-audit-log", str(log)]
        done = subprocess.run(
            [*usage, "--format", "json"], cwd=root, check=True, capture_output=True, text=True
        )
        report = json.loads(done.stdout)
        used = sum(1 for g in report["grants"] if g["state"] == "used")
        print(f"grants used: {used} of {len(report['grants'])}")
        base = timed([sys.executable, "-c", BASELINE, str(log)], root, args.runs)
        ours = timed([*usage, "--format", "json"], root, args.runs)
        print(f"bare json.loads of every line: {base * 1000:8.0f} ms (median of {args.runs})")
        print(f"jitops audit usage:            {ours * 1000:8.0f} ms (median of {args.runs})")
        print(f"ratio: {ours / base:.2f}x (goal 2x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
