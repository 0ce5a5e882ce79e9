"""Rulesets beside classic protection, and the merge queue, through unmodified PyGithub.

GitHub's description of ``GET /repos/{o}/{r}/rules/branches/{branch}``: "Returns all active
rules that apply to the specified branch ... Rules in rulesets with evaluate or disabled
enforcement statuses are not returned"; of ``GET .../rulesets/{id}``: "the bypass_actors
property is only returned if the user making the API request has write access".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import github
import pytest
import requests

from jitops_sandbox.github import GitHubSandbox, SandboxError
from tests.sandbox.github.support import GRANT

pytestmark = pytest.mark.integration

APP = 4242


def _get(gh: GitHubSandbox, login: str, path: str) -> Any:
    headers = {"Authorization": f"token {gh.token(login)}"}
    reply = requests.get(f"{gh.api_url}{path}", headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _merge(client: Callable[[str], github.Github], login: str, number: int) -> Any:
    return client(login).get_repo("acme/access").get_pull(number).merge(merge_method="merge")


def test_active_rules_of_a_branch_are_readable_with_read_access(gh: GitHubSandbox) -> None:
    active = gh.add_ruleset(
        "main", required_approvals=2, required_checks=[("jitops/approval", APP)]
    )
    gh.add_ruleset("trial", required_approvals=5, enforcement="evaluate")
    gh.add_ruleset("releases", branches=["release/*"], required_approvals=1)
    rules = _get(gh, "octocat", "/repos/acme/access/rules/branches/main")  # read access
    assert [(r["type"], r["ruleset_id"]) for r in rules] == [
        ("pull_request", active),
        ("required_status_checks", active),
    ]
    assert rules[0]["parameters"]["required_approving_review_count"] == 2
    assert rules[1]["parameters"]["required_status_checks"] == [
        {"context": "jitops/approval", "integration_id": APP}
    ]
    release = _get(gh, "octocat", "/repos/acme/access/rules/branches/release/v1")
    assert [r["type"] for r in release] == ["pull_request"]  # the branch need not exist
    assert _get(gh, "octocat", "/repos/acme/access/rules/branches/feature") == []


def test_bypass_actors_only_for_write_access(gh: GitHubSandbox) -> None:
    ruleset = gh.add_ruleset("main", required_approvals=1, bypass_apps=[APP])
    listed = _get(gh, "octocat", "/repos/acme/access/rulesets")
    assert [(r["id"], r["name"], r["enforcement"]) for r in listed] == [(ruleset, "main", "active")]
    reader = _get(gh, "octocat", f"/repos/acme/access/rulesets/{ruleset}")
    assert "bypass_actors" not in reader
    assert reader["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    writer = _get(gh, "jitops-bot", f"/repos/acme/access/rulesets/{ruleset}")
    assert writer["bypass_actors"] == [
        {"actor_id": APP, "actor_type": "Integration", "bypass_mode": "always"}
    ]


def test_required_approvals_and_a_bypassing_app(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.add_user("jitops-app[bot]", write=True, app_id=APP)
    gh.add_ruleset("main", required_approvals=1, bypass_apps=[APP])
    one = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", one)
    assert err.value.status == 405
    assert err.value.data["message"].startswith("Repository rule violations found")
    assert "At least 1 approving review is required" in err.value.data["message"]
    assert _merge(client, "jitops-app[bot]", one).merged  # the App bypasses the ruleset
    two = gh.open_pr("octocat", "g2", "two", files={"grants/2.yaml": GRANT})
    gh.review(two, "alice", "APPROVED")
    assert _merge(client, "jitops-bot", two).merged


def test_stale_approvals_are_dismissed_on_push(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.add_ruleset("main", required_approvals=1, dismiss_stale_reviews_on_push=True)
    n = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    gh.review(n, "alice", "APPROVED")
    gh.push_to_pr(n, {"grants/1.yaml": GRANT + "ticket: INC-2\n"})
    reviews = list(client("alice").get_repo("acme/access").get_pull(n).get_reviews())
    assert [r.state for r in reviews] == ["DISMISSED"]
    with pytest.raises(github.GithubException):
        _merge(client, "jitops-bot", n)
    gh.review(n, "alice", "APPROVED")
    assert _merge(client, "jitops-bot", n).merged


def test_code_owner_review(gh: GitHubSandbox, client: Callable[[str], github.Github]) -> None:
    gh.add_team("acme", "admins", ["carol"])
    gh.commit_files("main", {".github/CODEOWNERS": "* @acme/admins\n/grants/ @acme/dba\n"})
    gh.add_ruleset("main", required_approvals=1, require_code_owner_review=True)
    policy = gh.open_pr("octocat", "p", "policy", files={"policies/p.yaml": "roles: {}\n"})
    gh.review(policy, "alice", "APPROVED")  # a DBA, not an owner of policies/
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", policy)
    assert "Waiting on code owner review from @acme/admins." in err.value.data["message"]
    gh.review(policy, "carol", "APPROVED")
    assert _merge(client, "jitops-bot", policy).merged
    grant = gh.open_pr("octocat", "g", "grant", files={"grants/1.yaml": GRANT})
    gh.review(grant, "bob", "APPROVED")  # last matching pattern: grants/ belongs to dba
    assert _merge(client, "jitops-bot", grant).merged


def test_last_push_must_be_approved_by_someone_else(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.add_ruleset("main", required_approvals=1, require_last_push_approval=True)
    n = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    gh.push_to_pr(n, {"grants/1.yaml": GRANT + "ticket: INC-7\n"}, author="alice")
    gh.review(n, "alice", "APPROVED")  # alice pushed the head: her approval is not enough
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", n)
    assert "approved by someone other than the person who pushed it" in err.value.data["message"]
    gh.review(n, "bob", "APPROVED")
    assert _merge(client, "jitops-bot", n).merged


def test_required_check_pinned_to_an_app(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.add_user("jitops-app[bot]", write=True, app_id=APP)
    gh.add_ruleset("main", required_checks=[("jitops/approval", APP)])
    n = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    head = gh.head_sha(n)
    # anybody with write access (a PR workflow's token) can set the context ...
    client("jitops-bot").get_repo("acme/access").get_commit(head).create_status(
        "success", context="jitops/approval"
    )
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", n)
    assert 'Required status check "jitops/approval" is expected.' in err.value.data["message"]
    # ... but only the pinned App's status counts
    client("jitops-app[bot]").get_repo("acme/access").get_commit(head).create_status(
        "success", context="jitops/approval"
    )
    assert _merge(client, "jitops-bot", n).merged


def test_classic_protection_still_holds_beside_rulesets(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.protect_branch("main", required_approvals=2)
    gh.add_ruleset("main", required_approvals=1)
    n = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    gh.review(n, "alice", "APPROVED")
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", n)
    assert "At least 2 approving reviews are required" in err.value.data["message"]


def test_merge_queue_lands_the_queue_commit_on_main(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.add_ruleset("main", required_approvals=1, merge_queue=True)
    n = gh.open_pr("octocat", "g1", "Access", files={"grants/1.yaml": GRANT})
    gh.review(n, "alice", "APPROVED")
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", n)  # merges go through the queue
    assert "Changes must be made through the merge queue" in err.value.data["message"]
    tip = gh.branch_sha("main")
    ref, sha = gh.queue_pr(n, "jitops-bot")
    assert ref == f"gh-readonly-queue/main/pr-{n}-{tip}"
    assert gh.branch_sha(ref) == sha
    assert gh.branch_sha("main") == tip  # nothing landed yet: merge_group checks run on ref
    repo = client("alice").get_repo("acme/access")
    assert [p.sha for p in repo.get_commit(sha).parents] == [tip, gh.head_sha(n)]
    assert gh.land_queued(n) == sha
    assert gh.branch_sha("main") == sha  # a fast-forward: the very commit the checks saw
    assert gh.branch_sha(ref) is None
    pr = repo.get_pull(n)
    assert (pr.merged, pr.merge_commit_sha, pr.base.sha) == (True, sha, tip)
    assert pr.merged_by.login == "jitops-bot"
    assert [p.number for p in repo.get_commit(sha).get_pulls()] == [n]


def test_a_queue_whose_base_moved_does_not_land(gh: GitHubSandbox) -> None:
    n = gh.open_pr("octocat", "g1", "Access", files={"grants/1.yaml": GRANT})
    gh.queue_pr(n, "jitops-bot", method="squash")
    gh.commit_files("main", {"README.md": "moved\n"})
    with pytest.raises(SandboxError, match="moved since"):
        gh.land_queued(n)
    assert not gh.pr(n).merged


def test_classic_protection_enforces_code_owners_and_last_push_too(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.commit_files("main", {"CODEOWNERS": "/grants/ @acme/dba\n"})
    gh.protect_branch("main", required_approvals=1, require_code_owner_reviews=True)
    n = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    gh.review(n, "carol", "APPROVED")
    with pytest.raises(github.GithubException) as err:
        _merge(client, "jitops-bot", n)
    assert err.value.data["message"] == "Waiting on code owner review from @acme/dba."
    gh.review(n, "bob", "APPROVED")
    assert _merge(client, "jitops-bot", n).merged
