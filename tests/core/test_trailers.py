from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jitops.core.trailers import LedgerEntry, TrailerError, commit_message, parse_entry
from tests.conftest import git, init_repo

pytestmark = pytest.mark.integration  # real git repositories

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
        "x\n\nJitops-Action: issue\nJitops-Grant: stg-g-1\nJitops-Pull-Request: abc\n"
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


FORGED = "octocat\nJitops-Grant: victim-1\nJitops-Action: revoke"


def _commit_and_read(repo: Path, msg: str) -> dict[str, str]:
    subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-F", "-"],
        cwd=repo,
        input=msg,
        text=True,
        check=True,
    )
    out = git(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    pairs = [ln.split(": ", 1) for ln in out.strip().splitlines()]
    assert all(len(p) == 2 for p in pairs), out
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a trailer was written twice: {out}"
    return dict((k, v) for k, v in pairs)


def test_requester_text_cannot_add_trailers_to_a_jitops_commit(tmp_path: Path) -> None:
    """A requester written as a quoted YAML string with newlines, a role with a newline and a
    reason full of trailer lines: git itself reads exactly jitops' trailers, with jitops'
    values (what `git log --format=%(trailers)` shows an auditor without jitops)."""
    repo = init_repo(tmp_path / "r")
    entry = LedgerEntry(
        action="deny",
        grant="db-octo-7",
        requester=FORGED,
        role="prod-db\nJitops-Grant: victim-2",
        pull_request=7,
        reason="no\n\nJitops-Action: expire\nJitops-Grant: victim-3\n",
    )
    body = f"Request of {FORGED} for x was denied:\n\nJitops-Action: expire\nJitops-Grant: v-4"
    trailers = _commit_and_read(repo, commit_message(entry, body))
    assert trailers["Jitops-Action"] == "deny" and trailers["Jitops-Grant"] == "db-octo-7"
    assert "Jitops-Requester" not in trailers and "Jitops-Role" not in trailers  # broke rules
    assert "victim" not in "".join(k for k in trailers)  # no key was added
    assert git(repo, "log", "-1", "--format=%s").strip() == "jitops: deny db-octo-7"
    assert parse_entry(git(repo, "log", "-1", "--format=%B"))[0] == LedgerEntry(
        "deny",
        "db-octo-7",
        "",
        "",
        7,
        reason="no Jitops-Action: expire Jitops-Grant: victim-3",
    )


def test_a_grant_id_that_breaks_the_id_rule_is_never_written() -> None:
    for bad in ("x\nJitops-Action: expire", "con", "../etc", "a" * 65, "Upper-1"):
        try:
            commit_message(LedgerEntry("deny", bad, "octocat", "r"), "denied")
        except TrailerError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_trailer_values_that_break_their_rule_are_findings() -> None:
    entry, findings = parse_entry(
        "x\n\nJitops-Action: expire\nJitops-Grant: stg-1 and more\nJitops-Requester: o\n"
        "Jitops-Role: r\n"
    )
    assert entry is None and any("is not a grant id" in f for f in findings)
    entry, findings = parse_entry(
        "x\n\nJitops-Action: expire\nJitops-Grant: stg-1\nJitops-Requester: [/bold]\n"
        "Jitops-Role: r\n"
    )
    assert entry is not None and entry.requester == ""
    assert any("is not a GitHub login" in f for f in findings)


def test_the_deny_of_a_hostile_request_carries_only_jitops_trailers(tmp_path: Path) -> None:
    """The grant file as a requester writes it, read by jitops' own loader, denied through
    the lifecycle's own commit planner: git reads one Jitops-Grant, the right one."""
    from jitops.core.grant import read_grant
    from jitops.core.plan import deny_commit

    text = (
        'requester: "octocat\\nJitops-Grant: victim-1\\nJitops-Action: revoke"\n'
        'role: "staging-admin\\n\\nJitops-Action: expire"\n'
        "duration: 2h\nreason: Debug the staging thing for the release\n"
    )
    grant, problems = read_grant(text.encode(), "grants/stg-octo-9.yaml")
    assert grant is not None and problems  # judged invalid, still deniable
    planned = deny_commit(grant, 9, f"requester {grant.requester} is not the author")
    repo = init_repo(tmp_path / "r")
    trailers = _commit_and_read(repo, planned.message)
    assert trailers["Jitops-Action"] == "deny" and trailers["Jitops-Grant"] == "stg-octo-9"
    assert set(trailers) == {
        "Jitops-Action",
        "Jitops-Grant",
        "Jitops-Pull-Request",
        "Jitops-Reason",
    }


@given(st.text(max_size=60))
def test_a_code_span_holds_any_text(text: str) -> None:
    import re

    from jitops.core.inert import code_span

    span = code_span(text)
    fence = re.match("`+", span)
    assert fence is not None and span.endswith(fence.group()) and "\n" not in span
    inner = span[len(fence.group()) : -len(fence.group())]
    assert all(len(r) < len(fence.group()) for r in re.findall("`+", inner))
