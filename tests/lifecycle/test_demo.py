"""`jitops demo`, the README's main job, runs green as a real subprocess and cleans up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_walks_the_whole_lifecycle() -> None:
    # a temporary directory of its own (others may run demos on the same machine); every user
    # may traverse it, as PostgreSQL runs unprivileged when the tests run as root
    private = Path(tempfile.mkdtemp(prefix="jitops-demo-test-"))
    private.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "VAULT_", "JITOPS_VAULT"))
    }
    env["TMPDIR"] = str(private)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jitops", "demo"],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        left = list(private.iterdir())
    finally:
        shutil.rmtree(private, ignore_errors=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "every step held" in out
    # real servers, named with their versions in the header
    assert "Vault: real OpenBao 2.7.2 (`bao server -dev`)" in out
    assert "PostgreSQL: real PostgreSQL " in out
    assert "6 write(s) made" in out  # Vault set up by `jitops vault setup` itself
    assert "real PostgreSQL login; SELECT sum(total) = 59.50" in out
    assert "the same PostgreSQL login is now refused" in out
    assert "Vault ended the grant token by itself" in out
    assert "the record: pull request, approver, issue and expiry" in out
    assert "jitops audit verify: the ledger is consistent" in out
    assert "Traceback" not in out
    assert left == [], f"the demo left {left} behind"


def test_demo_break_glass_scenario() -> None:
    """Emergency access end to end on real OpenBao and PostgreSQL: issued without review, the
    ratification window of a few seconds passes, revoked, recorded, closed by an admin."""
    private = Path(tempfile.mkdtemp(prefix="jitops-demo-test-"))
    private.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "VAULT_", "JITOPS_VAULT"))
    }
    env["TMPDIR"] = str(private)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jitops", "demo", "--scenario", "break-glass"],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        left = list(private.iterdir())
    finally:
        shutil.rmtree(private, ignore_errors=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "real PostgreSQL login; SELECT sum(total) = 59.50" in out
    assert "recorded as unratified" in out
    assert "the same PostgreSQL login is now refused" in out
    assert "git: Jitops-Action: unratified" in out
    assert "verify is clean" in out and "every step held" in out
    assert "Traceback" not in out
    assert left == [], f"the demo left {left} behind"
