"""`jitops policy diff` on a real git repository whose history is written the way GitHub and
jitops write it (pull-request merges, jitops' own issue/expire/deny commits)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from tests.audit.test_history import Ledger, request
from tests.conftest import git

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ledger(access_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    for name in ("GITHUB_TOKEN", "JITOPS_GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_BASE_REF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    led = Ledger(access_repo, monkeypatch)
    # two active grants, a denied and an expired request of this month, one expired long ago
    pr = led.add("stg-octo-1", request("octocat", "staging-admin", "6h"), NOW - timedelta(hours=2))
    led.issue("stg-octo-1", NOW - timedelta(hours=1), pr=pr, duration=timedelta(hours=6))
    text = request("hubot", "prod-db-readonly", ticket="INC-7")
    pr = led.add("db-hubot-2", text, NOW - timedelta(hours=3))
    led.issue(
        "db-hubot-2",
        NOW - timedelta(hours=2, minutes=50),
        pr=pr,
        approved=("alice",),
        requester="hubot",
        role="prod-db-readonly",
    )
    text = request("octocat", "prod-db-readonly", "3h", ticket="INC-8")
    pr = led.add("db-octo-3", text, NOW - timedelta(days=5))
    when = NOW - timedelta(days=5, minutes=-2)
    led.end("deny", "db-octo-3", when, pr=pr, reason="no approval", role="prod-db-readonly")
    pr = led.add("stg-mona-4", request("mona", "staging-admin", "7h"), NOW - timedelta(days=10))
    led.issue("stg-mona-4", NOW - timedelta(days=10, minutes=-1), pr=pr, requester="mona")
    led.end("expire", "stg-mona-4", NOW - timedelta(days=9), pr=pr, requester="mona")
    pr = led.add("stg-old-5", request("octocat", "staging-admin", "7h"), NOW - timedelta(days=40))
    led.issue("stg-old-5", NOW - timedelta(days=40, minutes=-1), pr=pr)
    led.end("expire", "stg-old-5", NOW - timedelta(days=39), pr=pr)
    return led


def tighten(repo: Path) -> None:
    """The candidate: staging-admin at most 4h, two DBA approvals for prod-db-readonly."""
    path = repo / "policies" / "policy.yaml"
    text = path.read_text()
    text = text.replace("    max_duration: 8h", "    max_duration: 4h")
    text = text.replace(
        "      - from: ['@acme/dba']\n        count: 1",
        "      - from: ['@acme/dba']\n        count: 2",
    )
    path.write_text(text)


def run(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["policy", "diff", "--repo", str(repo), *args])
    return result.exit_code, result.output


def test_the_working_tree_policy_against_main(ledger: Ledger) -> None:
    tighten(ledger.repo)
    code, out = run(ledger.repo, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["base"] == "refs/heads/main" and doc["candidate"] == "working tree"
    assert (doc["active"], doc["requests"]) == (2, 2)  # stg-old-5 is older than 30 days
    got = {
        c["grant"]: (c["state"], c["before"]["outcome"], c["after"]["outcome"], c["kinds"])
        for c in doc["changes"]
    }
    assert got == {
        "stg-octo-1": ("active", "approved", "invalid", ["over-max-duration"]),
        "db-hubot-2": ("active", "unverified", "pending", ["needs-approvals"]),
        "db-octo-3": ("denied", "pending", "pending", ["needs-approvals"]),
        "stg-mona-4": ("expired", "approved", "invalid", ["over-max-duration"]),
    }
    assert [c["grant"] for c in doc["changes"]][:2] == ["stg-octo-1", "db-hubot-2"]  # active first
    hubot = next(c for c in doc["changes"] if c["grant"] == "db-hubot-2")
    assert hubot["approved_by"] == ["alice"]
    assert any("needs 1 more approval from @acme/dba (so far alice)" in d for d in hubot["details"])
    assert doc["teams_verified"] is False

    code, out = run(ledger.repo, "--format", "text", "--since", "60d")
    assert code == 0, out
    assert (
        "stg-old-5 (octocat, staging-admin; expired): approved -> invalid [over-max-duration]"
        in out
    )
    assert "7h is over the candidate's 4h maximum of staging-admin" in out
    assert "team membership not verified offline" in out
    assert (
        "policy diff refs/heads/main -> working tree: 5 judged differently, of 2 active "
        "grant(s) and 3 request(s) since" in out
    )


def test_a_candidate_ref_and_the_step_summary(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(ledger.repo, "checkout", "-q", "-b", "tighter")
    tighten(ledger.repo)
    git(ledger.repo, "commit", "-qam", "Tighter policy")
    git(ledger.repo, "checkout", "-q", "main")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out = run(ledger.repo, "main", "--candidate", "tighter", "--format", "github")
    assert code == 0, out
    assert (
        "db-hubot-2 (hubot, prod-db-readonly; active): approved or pending (not verified "
        "offline) -> pending [needs-approvals]" in out
    )
    md = summary.read_text()
    assert "### jitops: policy diff against main" in md
    assert (
        "`db-hubot-2` (`hubot`, `prod-db-readonly`; active): **approved or pending?** → **pending**"
        in md
    )
    # the working tree (main's policy) against main: nothing changes
    code, out = run(ledger.repo, "main", "--format", "json")
    assert json.loads(out)["changes"] == []


def test_an_unknown_base_or_a_broken_candidate_says_what_to_do(ledger: Ledger) -> None:
    code, out = run(ledger.repo, "origin/nope")
    assert code == 2 and "origin/nope: no such commit here" in out
    (ledger.repo / "policies" / "policy.yaml").write_text("version: 1\nroles: {}\n")
    code, out = run(ledger.repo, "main")
    assert code == 1 and "the policy of working tree is invalid" in out
    code, out = run(ledger.repo, "--since", "last week")
    assert code == 2 and "neither a duration like 30d nor a date" in out
