"""Benchmark: `jitops validate` on an access repo with N grant files vs a bare YAML parse.

Builds a real git repository with N active grants (committed, as on main), then times, in the
same process and the same run:

- baseline: read every grant file and parse it with PyYAML (the same libyaml parser jitops
  uses when available; ``--baseline pure`` for PyYAML's pure-Python safe_load);
- jitops:   ``validate_repo`` — directory scan, safe loading with line tracking, JSON Schema,
  policy checks, and the git history lookup for id reuse.

Prints the median of several runs and the ratio. Also runs a smaller N to show cost is linear.

    python benchmarks/bench_validate.py --grants 10000 --runs 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from jitops.lifecycle.validate import validate_repo

ROOT = Path(__file__).resolve().parent.parent
ROLES = ["prod-db-readonly", "staging-admin", "prod-break-glass"]
DURATIONS = {"prod-db-readonly": "2h", "staging-admin": "8h", "prod-break-glass": "45m"}


def grant_text(i: int) -> str:
    role = ROLES[i % 3]
    text = (
        f"requester: user{i % 500}\n"
        f"role: {role}\n"
        f"duration: {DURATIONS[role]}\n"
        f"reason: Investigate incident INC-{i} affecting the orders service in region {i % 7}\n"
    )
    if role != "staging-admin":
        text += f"ticket: INC-{i}\n"
    text += (
        "status:\n  state: active\n"
        f"  pull_request: {i + 1}\n  approved_by: [alice, bob]\n"
        "  issued_at: 2026-11-23T10:00:00Z\n  expires_at: 2026-11-23T12:00:00Z\n"
        f'  token_accessor: "acc{i:08d}"\n'
    )
    return text


def build(root: Path, n: int) -> None:
    (root / "grants").mkdir(parents=True)
    (root / "policies").mkdir()
    policy = (ROOT / "policies" / "policy.yaml").read_text()
    (root / "policies" / "policy.yaml").write_text(policy.replace("'@acme/engineering'", "'*'"))
    for i in range(n):
        (root / "grants" / f"grant-{i:06d}.yaml").write_text(grant_text(i))

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=b", "-c", "user.email=b@example.com", "add", "-A")
    git("-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "grants")


def bare_parse(root: Path, loader: type) -> int:
    count = 0
    for path in sorted((root / "grants").glob("*.yaml")):
        data = yaml.load(path.read_bytes(), Loader=loader)  # noqa: S506 - safe loaders only
        count += len(data)
    return count


def timed(fn: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(n: int, runs: int, loader: type) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="jitops-bench-"))
    try:
        root = tmp / "repo"
        build(root, n)
        report = validate_repo(root)
        if not report.ok or len(report.results) != n:
            raise SystemExit(f"benchmark repo is not valid: {report.problems[:3]}")
        base = timed(lambda: bare_parse(root, loader), runs)
        ours = timed(lambda: validate_repo(root), runs)
        return base, ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--grants", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", choices=["libyaml", "pure"], default="libyaml")
    args = ap.parse_args()
    loader: type = yaml.SafeLoader
    if args.baseline == "libyaml":
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    print(f"baseline parser: {loader.__name__}")
    results = {}
    for n in (args.grants // 4, args.grants):
        base, ours = measure(n, args.runs, loader)
        results[n] = ours
        print(
            f"{n:>6} grants: bare parse {base * 1000:8.1f} ms | jitops validate "
            f"{ours * 1000:8.1f} ms | ratio {ours / base:5.2f}x | "
            f"{ours / n * 1e6:6.1f} us/grant"
        )
    small, big = args.grants // 4, args.grants
    ratio = results[big] / results[small]
    print(f"linearity: time({big}) / time({small}) = {ratio:.2f} (4.00 is linear)")


if __name__ == "__main__":
    main()
