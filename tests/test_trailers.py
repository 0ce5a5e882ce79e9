from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from jitops.trailers import LedgerEntry, commit_message, parse_entry
from tests.conftest import git, init_repo

ENTRY = LedgerEntry(
    action="revoke",
    grant="prod-db-ro-octocat-1123",
    requester="octocat",
    role="prod-db-readonly",
    pull_request=42,
    approved_by=("alice", "bob"),
    expires_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    reason="laptop stolen\nrotate everything",
)


def test_message_shape_matches_the_design() -> None:
    msg = commit_message(ENTRY, "Access of octocat to prod-db-readonly was revoked.")
    assert msg.splitlines()[0] == "jitops: revoke prod-db-ro-octocat-1123"
    assert msg.endswith(
        "Jitops-Action: revoke\nJitops-Grant: prod-db-ro-octocat-1123\n"
        "Jitops-Requester: octocat\nJitops-Role: prod-db-readonly\nJitops-Pull-Request: 42\n"
        "Jitops-Approved-By: alice, bob\nJitops-Expires-At: 2026-11-23T12:00:00Z\n"
        "Jitops-Reason: laptop stolen rotate everything\n"
    )
    assert parse_entry(msg) == (
        LedgerEntry(**{**ENTRY.__dict__, "reason": "laptop stolen rotate everything"}),
        [],
    )


def test_git_reads_the_trailers_without_jitops(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    msg = commit_message(ENTRY, "Jitops-Action: issue (a body line that looks like a trailer)")
    subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-F", "-"],
        cwd=repo,
        input=msg,
        text=True,
        check=True,
    )
    out = git(repo, "log", "-1", "--format=%(trailers:key=Jitops-Action,valueonly)")
    assert out.strip() == "revoke"
    out = git(repo, "log", "-1", "--format=%(trailers:key=Jitops-Grant,valueonly)")
    assert out.strip() == "prod-db-ro-octocat-1123"


def test_malformed_trailers_are_findings_not_crashes() -> None:
    entry, findings = parse_entry(
        "x\n\nJitops-Action: issue\nJitops-Grant: g\nJitops-Pull-Request: abc\n"
    )
    assert entry is not None
    assert entry.pull_request is None
    assert "missing Jitops-Requester trailer" in findings
    assert any("is not a number" in f for f in findings)
    assert parse_entry("Merge pull request #3 from x/y\n\nplain") == (None, [])
    assert parse_entry("x\n\nJitops-Action: explode\nJitops-Grant: g\n")[0] is None


@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    parse_entry(text)
