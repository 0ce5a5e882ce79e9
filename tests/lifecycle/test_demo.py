"""`jitops demo`, the README's main job, runs green as a real subprocess and cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_walks_the_whole_lifecycle() -> None:
    pytest.importorskip("jitops.sandbox.vault.server", reason="no Vault stand-in")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VAULT_"))}
    before = set(Path(tempfile.gettempdir()).glob("jitops-demo-*"))
    proc = subprocess.run(
        [sys.executable, "-m", "jitops", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "every step held" in out
    assert "Vault ended the grant token by itself" in out
    assert "the record: pull request, approver, issue and expiry" in out
    assert "jitops audit verify: the ledger is consistent" in out
    if os.environ.get("JITOPS_REQUIRE_POSTGRES") == "1":
        assert "the same PostgreSQL login is now refused" in out
    assert "Traceback" not in out
    after = set(Path(tempfile.gettempdir()).glob("jitops-demo-*"))
    assert after <= before, "the demo left its directory behind"
