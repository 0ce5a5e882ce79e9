"""The benchmark scripts still run and still measure what their docstrings say (tiny sizes:
these check the scripts, not the speed; the figures come from running them by hand)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # the benchmarks build real git repositories

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_audit_benchmark_builds_a_history_that_verifies_and_reports_a_ratio() -> None:
    out = _run("bench_audit.py", "--commits", "300", "--runs", "1")
    # the script runs `jitops audit verify` with check=True: a history that breaks an
    # invariant would fail it, so the benchmark measures a consistent ledger
    assert re.search(r"history: 30\d commits", out), out
    assert re.search(r"ratio: \d+\.\d\dx wall, \d+\.\d\dx cpu \(limit 2\.5x, goal 1\.5x\)", out), (
        out
    )
    assert re.search(r"ms per 1,000 commits", out), out
    assert "jitops audit verify (for information)" in out


def test_validate_benchmark_reports_ratios_and_linearity() -> None:
    out = _run("bench_validate.py", "--grants", "40", "--runs", "1")
    assert re.search(r"\d+\.\d\dx", out), out
    assert "linearity" in out


def test_usage_benchmark_attributes_the_log_and_reports_a_ratio() -> None:
    out = _run("bench_usage.py", "--lines", "2000", "--runs", "1", "--commits", "200")
    assert re.search(r"audit log: 2000 lines", out), out
    # the generated requests of grant tokens are attributed to the ledger's grants
    used = re.search(r"grants used: (\d+) of (\d+)", out)
    assert used is not None and 0 < int(used.group(1)) <= int(used.group(2)), out
    assert re.search(r"ratio: \d+\.\d\dx \(goal 2x\)", out), out


def test_policy_diff_benchmark_judges_what_it_built() -> None:
    out = _run("bench_policy_diff.py", "--active", "20", "--requests", "30", "--runs", "1")
    assert "judged: 20 active grants, 30 requests" in out, out
    changed = re.search(r"; (\d+) change outcome", out)
    assert changed is not None and int(changed.group(1)) > 0, out
    assert re.search(r"jitops policy diff: +\d+ ms", out), out


def test_the_small_soak_day_keeps_every_invariant() -> None:
    """`benchmarks/soak.py --small`: a day of grants with faults, a restart of OpenBao and the
    death of a cluster's active node; every invariant it prints must hold."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "soak.py"), "--small", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    # the day really happened: every merge method, faults of both kinds, restart and election
    assert re.search(r"^grants: 24 .*merge \d+, squash \d+, rebase \d+, queue \d+", out, re.M), out
    assert re.search(r"^faults injected: Vault \w+ \d+.*; GitHub .*\d", out, re.M), out
    assert "OpenBao restarted mid-run" in out, out
    assert re.search(r"active node-\d killed mid-run; node-\d active after", out), out
    assert re.search(r"times two runs raced on the same remote", out), out
    invariants = re.findall(r"^invariant: (.+): (\S+)", out, re.M)
    assert len(invariants) == 9, out
    broken = [line for line in out.splitlines() if line.startswith("VIOLATION")]
    assert broken == [] and "violations: 0" in out, "\n".join(broken) or out
    assert all(state == "ok" for _name, state in invariants), out
    assert done.returncode == 0, done.stderr[-3000:]
