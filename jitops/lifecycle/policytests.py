"""`jitops policy test`: the policy's own test cases, read from the repository and judged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jitops.core.policy import POLICY_DIR, load_policy
from jitops.core.policytest import TestReport, run_cases
from jitops.lifecycle.validate import read_policy


def run_policy_tests(root: Path, policies_dir: Path | None, files: Sequence[Path]) -> TestReport:
    """Run ``files`` (default: ``tests/*.yaml`` beside the policy) against the policy of
    ``root`` (or the ``*.yaml`` policy files of ``policies_dir``)."""
    if policies_dir is None:
        policy = read_policy(root, None)
        tests_dir = root / POLICY_DIR / "tests"
    else:
        policy = load_policy(
            {
                f"{POLICY_DIR}/{p.name}": p.read_bytes()
                for p in sorted(policies_dir.glob("*.yaml"))
                if p.is_file() and not p.is_symlink()
            }
        )
        tests_dir = policies_dir / "tests"
    paths = list(files) or sorted(tests_dir.glob("*.yaml"))
    cases = {}
    for path in paths:
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            rel = str(path)
        cases[rel] = path.read_bytes()
    return run_cases(policy, cases)
