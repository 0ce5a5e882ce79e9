"""`pr check` / `pr approvals` through the GitHub stand-in with real PyGithub: the attacks of
the threat model must fail, and the happy path must say what is missing."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jitops.doors.git import Git
from jitops.lifecycle import prcheck
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

ORDERS = (
    "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
    "reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)
GLASS = (
    "requester: carol\nrole: prod-break-glass\nduration: 30m\n"
    "reason: Production outage needs root access\n"
)


def check(world: World, n: int, *, reviews_too: bool = True) -> prcheck.PrDecision:
    gh = world.github()
    return prcheck.run(
        Git(world.checkout), gh, n, now=datetime.now(UTC), request_reviews=reviews_too
    )


def open_grant(world: World, gid: str, text: str, author: str = REQUESTER) -> int:
    return int(world.gh.open_pr(author, f"req-{gid}", gid, files={f"grants/{gid}.yaml": text}))


def statuses(world: World, n: int) -> dict[str, str]:
    return {s.context: s.state for s in reversed(world.gh.statuses(world.gh.head_sha(n)))}


def test_happy_path_comment_statuses_and_review_requests(world: World) -> None:
    n = open_grant(world, "db-octocat-1", ORDERS)
    world.gh.clear_requests()
    d = check(world, n)
    calls = world.gh.count_requests()
    assert (d.validate, d.approval) == ("success", "pending")
    assert statuses(world, n) == {"jitops/validate": "success", "jitops/approval": "pending"}
    (comment,) = [c for c in world.gh.comments(n) if prcheck.MARKER in c]
    assert "orders-db-readonly" in comment
    assert "needs 1 more approval from @acme/dba" in comment
    assert "would expire" in comment
    assert d.request_teams == ("acme/dba",)
    assert calls <= 10, f"pr check made {calls} GitHub requests"  # measured: 10

    world.gh.review(n, DBA, "APPROVED")
    world.gh.clear_requests()
    d = check(world, n, reviews_too=False)
    calls = world.gh.count_requests()
    assert calls <= 10, f"pr approvals made {calls} GitHub requests"  # measured: 10
    assert d.approval == "success"
    assert statuses(world, n)["jitops/approval"] == "success"
    # still exactly one sticky comment, updated in place
    assert len([c for c in world.gh.comments(n) if prcheck.MARKER in c]) == 1


def test_loosening_the_policy_and_adding_a_grant_in_one_go_fails(world: World) -> None:
    looser = world.policy_text().replace("max_duration: 1h", "max_duration: 24h")
    n = world.gh.open_pr(
        REQUESTER,
        "sneaky",
        "sneaky",
        files={"policies/policy.yaml": looser, "grants/db-octocat-2.yaml": ORDERS},
    )
    d = check(world, n)
    assert d.validate == "failure"
    assert "must not touch grants/" in d.problems[0].message


def test_policy_is_read_from_the_base_not_the_head(world: World) -> None:
    n = open_grant(world, "db-octocat-3", ORDERS.replace("30m", "3h"))
    d = check(world, n)
    assert d.validate == "failure"
    assert any("exceeds the 1h maximum" in p.message for p in d.problems)


def test_requester_must_be_the_author(world: World) -> None:
    n = open_grant(world, "db-octocat-4", ORDERS, author="mallory")
    world.gh.review(n, DBA, "APPROVED")
    d = check(world, n)
    assert d.validate == "failure"
    assert any("is not the pull request author mallory" in p.message for p in d.problems)


def test_self_approval_does_not_count(world: World) -> None:
    text = ORDERS.replace("octocat", "alice")
    world.gh.add_team_member("acme", "engineering", "alice")
    world.gh.add_ssh_key("alice", world.key.public_line)
    n = open_grant(world, "db-alice-1", text, author="alice")
    world.gh.review(n, "alice", "APPROVED", allow_self_approval=True)
    assert check(world, n).approval == "pending"


def test_approval_before_the_latest_push_is_stale(world: World) -> None:
    n = open_grant(world, "db-octocat-5", ORDERS)
    world.gh.review(n, DBA, "APPROVED")
    world.gh.push_to_pr(
        n, {"grants/db-octocat-5.yaml": ORDERS.replace("INC-7 slow", "INC-7 very slow")}
    )
    d = check(world, n)
    assert d.approval == "pending"
    assert d.evaluation is not None and d.evaluation.stale == (DBA,)


def test_approval_from_outside_the_approver_teams(world: World) -> None:
    n = open_grant(world, "db-octocat-6", ORDERS)
    world.gh.review(n, "dave", "APPROVED")
    assert check(world, n).approval == "pending"


def test_same_person_twice_and_one_person_for_two_rules(world: World) -> None:
    n = open_grant(world, "glass-carol-1", GLASS, author="carol")
    world.gh.add_ssh_key("carol", world.key.public_line)
    world.gh.review(n, "erin", "APPROVED")
    world.gh.review(n, "erin", "APPROVED")
    assert check(world, n).approval == "pending"  # erin is security only: sre rule unmet
    world.gh.review(n, "dave", "APPROVED")
    assert check(world, n).approval == "success"


def test_one_person_in_both_groups_cannot_satisfy_both_rules(world: World) -> None:
    text = GLASS.replace("carol", "dave")
    world.gh.add_ssh_key("dave", world.key.public_line)
    n = open_grant(world, "glass-dave-1", text, author="dave")
    world.gh.review(n, "carol", "APPROVED")  # carol is in @acme/sre AND @acme/security
    d = check(world, n)
    assert d.approval == "pending"
    assert "carol already counts for another rule" in d.comment
    # @ciso has no account here: GitHub refuses that request, the teams are still asked
    assert world.gh.pr(n).requested_teams == ["security"]
    assert any("ask ciso directly" in p.message for p in d.problems)
    world.gh.review(n, "erin", "APPROVED")
    assert check(world, n, reviews_too=False).approval == "success"


def test_the_same_person_approving_twice_is_one_approval_for_count_2(world: World) -> None:
    two = world.policy_text().replace("count: 1\n", "count: 2\n", 1)  # orders: 2 DBAs
    world.gh.commit_files("main", {"policies/policy.yaml": two}, author=DBA)
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    n = open_grant(world, "db-octocat-10", ORDERS)
    world.gh.review(n, DBA, "APPROVED")
    world.gh.review(n, DBA, "APPROVED")
    d = check(world, n)
    assert d.approval == "pending"
    assert "needs 1 more approval from @acme/dba (so far alice)" in d.comment
    world.gh.review(n, "bob", "APPROVED")
    assert check(world, n, reviews_too=False).approval == "success"


def test_changes_requested_after_approvals_blocks(world: World) -> None:
    n = open_grant(world, "db-octocat-7", ORDERS)
    world.gh.review(n, DBA, "APPROVED")
    world.gh.review(n, "bob", "CHANGES_REQUESTED")
    d = check(world, n)
    assert d.approval == "failure"
    assert d.evaluation is not None and d.evaluation.blockers == ("bob",)


def test_editing_an_existing_grant_is_rejected(world: World) -> None:
    world.gh.commit_files("main", {"grants/stg-octocat-1.yaml": ORDERS}, author=DBA)
    n = world.gh.open_pr(
        REQUESTER, "edit", "edit", files={"grants/stg-octocat-1.yaml": ORDERS.replace("30m", "1h")}
    )
    d = check(world, n)
    assert d.validate == "failure"
    assert "editing or renaming an existing grant is not allowed" in d.problems[0].message


def test_a_grant_id_used_before_is_rejected(world: World) -> None:
    world.gh.commit_files("main", {"grants/db-octocat-8.yaml": ORDERS}, author=DBA)
    world.gh.commit_files("main", {"grants/db-octocat-8.yaml": None}, author=DBA)
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    n = open_grant(world, "db-octocat-8", ORDERS)
    d = check(world, n)
    assert d.validate == "failure"
    assert any("already used in the history" in p.message for p in d.problems)


def test_requester_without_ssh_key_is_told_how_to_add_one(world: World) -> None:
    n = open_grant(world, "db-mallory-1", ORDERS.replace("octocat", "mallory"), author="mallory")
    d = check(world, n)
    assert d.validate == "failure"
    (comment,) = [c for c in world.gh.comments(n) if prcheck.MARKER in c]
    assert "https://github.com/settings/keys" in comment


def test_deleting_an_active_grant_is_an_early_revoke(world: World) -> None:
    world.gh.commit_files("main", {"grants/stg-octocat-9.yaml": ORDERS}, author=DBA)
    n = world.gh.open_pr(REQUESTER, "drop", "drop", files={"grants/stg-octocat-9.yaml": None})
    d = check(world, n)
    assert (d.kind, d.validate) == ("revoke", "success")


def test_policy_change_runs_the_new_policy_and_its_tests(world: World) -> None:
    bad_case = (
        "cases:\n  - name: wrong on purpose\n    grant: {requester: octocat, role: staging-admin,"
        " duration: 1h, reason: Debug the staging deploy}\n"
        "    teams: {'@acme/engineering': [octocat]}\n    expect: pending\n"
    )
    n = world.gh.open_pr(DBA, "pol", "pol", files={"policies/tests/t.yaml": bad_case})
    d = check(world, n)
    assert (d.kind, d.validate) == ("policy", "failure")
    assert "expected pending, got approved" in d.comment


def test_requested_and_approved_are_notified(tmp_path, hooks) -> None:  # type: ignore[no-untyped-def]
    import json

    with World.create(tmp_path, use_postgres=False, webhook_url=hooks[0]) as w:
        n = open_grant(w, "db-octocat-9", ORDERS)
        env = w.environ()
        prcheck.run(
            Git(w.checkout), w.github(), n, now=datetime.now(UTC), request_reviews=True, environ=env
        )
        w.gh.review(n, DBA, "APPROVED")
        prcheck.run(
            Git(w.checkout),
            w.github(),
            n,
            now=datetime.now(UTC),
            request_reviews=False,
            environ=env,
        )
    events = [json.loads(b)["event"] for b in hooks[1]]
    assert events == ["requested", "approved"]


def test_the_cli_reads_the_event_and_writes_annotations_and_the_step_summary(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from click.testing import CliRunner

    from jitops.cli import cli

    n = open_grant(world, "db-octocat-11", ORDERS.replace("30m", "3h"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": n}}))
    summary = tmp_path / "summary.md"
    env = {
        "GITHUB_REPOSITORY": "acme/access",
        "GITHUB_API_URL": world.gh.api_url,
        "GITHUB_TOKEN": world.gh.token("jitops-bot"),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTIONS": "true",
    }
    monkeypatch.delenv("JITOPS_GITHUB_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["pr", "check", "--repo", str(world.checkout)], env=env)
    assert result.exit_code == 1, result.output
    assert "::error file=grants/db-octocat-11.yaml,line=3" in result.output
    assert "exceeds the 1h maximum" in summary.read_text()
    result = CliRunner().invoke(
        cli, ["pr", "approvals", "--repo", str(world.checkout), "--format", "json"], env=env
    )
    out = json.loads(result.output)
    assert (out["pull_request"], out["validate"], out["approval"]) == (n, "failure", "failure")


def test_in_actions_the_workflow_token_writes_and_the_members_token_reads_teams(
    world: World, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from jitops.cli import cli

    n = open_grant(world, "db-octocat-12", ORDERS)
    env = {
        "GITHUB_REPOSITORY": "acme/access",
        "GITHUB_API_URL": world.gh.api_url,
        "GITHUB_TOKEN": world.gh.token("jitops-bot"),
        "JITOPS_GITHUB_TOKEN": world.gh.token("mallory"),  # read-only: cannot set statuses
    }
    world.gh.clear_requests()
    args = ["pr", "check", "--repo", str(world.checkout), "--pr", str(n), "--format", "text"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert statuses(world, n) == {"jitops/validate": "success", "jitops/approval": "pending"}
    by = {(r.method, r.path.split("/")[1]): r.user for r in world.gh.requests}
    assert by[("GET", "orgs")] == "mallory" and by[("POST", "repos")] == "jitops-bot"


def test_a_policy_change_shows_its_what_if_in_the_comment(world: World) -> None:
    from jitops.lifecycle.issue import run_issue

    before = world.main_sha()
    n = open_grant(world, "db-octocat-20", ORDERS)
    world.gh.review(n, DBA, "APPROVED")
    after = world.gh.merge_pr(n, DBA)
    assert [o.action for o in run_issue(world.services(), before=before, after=after)] == ["issued"]
    long = (
        "requester: octocat\nrole: staging-admin\nduration: 6h\nreason: Debug the staging deploy\n"
    )
    before = world.main_sha()
    n = open_grant(world, "stg-octocat-21", long)
    after = world.gh.merge_pr(n, DBA)
    assert [o.action for o in run_issue(world.services(), before=before, after=after)] == ["issued"]

    stricter = (
        world.policy_text()
        .replace(
            "      - from: ['@acme/dba']\n        count: 1",
            "      - from: ['@acme/dba']\n        count: 2",
        )
        .replace("max_duration: 8h", "max_duration: 4h")
    )
    p = world.gh.open_pr(
        DBA, "stricter", "Stricter policy", files={"policies/policy.yaml": stricter}
    )
    world.gh.clear_requests()
    d = check(world, p)
    calls = world.gh.count_requests()
    assert d.kind == "policy", d.problems
    (comment,) = [c for c in world.gh.comments(p) if prcheck.MARKER in c]
    assert "#### What-if" in comment
    assert "2 of the 2 active grants and 0 requests since" in comment
    line = next(ln for ln in comment.splitlines() if "db-octocat-20" in ln)
    # membership read through GitHub: alice's approval counted under the base
    assert "**approved** → **pending** (needs-approvals)" in line
    assert "needs 1 more approval from @acme/dba (so far alice)" in comment
    assert "6h is over the candidate's 4h maximum of staging-admin" in comment
    assert "not verified" not in comment
    assert "<b>" not in comment.replace("`", "") or "@everyone" not in comment  # reason never shown
    assert calls <= 15, f"pr check of a policy change made {calls} GitHub requests"
