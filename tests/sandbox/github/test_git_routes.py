"""Branches, branch protection (read and enforced on API merges), contents and git refs."""

from __future__ import annotations

import github
import pytest
import requests

from jitops_sandbox.github import APIError, GitHubSandbox
from tests.sandbox.github.support import GRANT

pytestmark = pytest.mark.integration


def test_branch_and_ref_follow_the_bare_repo(gh: GitHubSandbox, bot: github.Github) -> None:
    repo = bot.get_repo("acme/access")
    sha = gh.commit_files("main", {"policies/p.yaml": "roles: {}\n"}, message="policy")
    branch = repo.get_branch("main")
    assert (branch.name, branch.commit.sha, branch.protected) == ("main", sha, False)
    assert repo.get_git_ref("heads/main").object.sha == sha
    assert [b.name for b in repo.get_branches()] == ["main"]
    with pytest.raises(github.GithubException) as err:
        repo.get_branch("nope")
    assert err.value.status == 404


def test_unprotected_branch_says_so(bot: github.Github) -> None:
    with pytest.raises(github.GithubException) as err:
        bot.get_repo("acme/access").get_branch("main").get_protection()
    assert (err.value.status, err.value.data["message"]) == (404, "Branch not protected")


def test_protection_reads_like_githubs(gh: GitHubSandbox, bot: github.Github) -> None:
    gh.protect_branch(
        "main",
        required_checks=["jitops/approval"],
        strict=True,
        required_approvals=1,
        dismiss_stale_reviews=True,
        require_code_owner_reviews=True,
    )
    branch = bot.get_repo("acme/access").get_branch("main")
    assert branch.protected
    protection = branch.get_protection()
    assert protection.required_status_checks.contexts == ["jitops/approval"]
    assert protection.required_status_checks.strict is True
    reviews = protection.required_pull_request_reviews
    assert reviews.required_approving_review_count == 1
    assert reviews.dismiss_stale_reviews is True
    assert reviews.require_code_owner_reviews is True
    assert protection.enforce_admins is False
    assert branch.get_required_status_checks().contexts == ["jitops/approval"]


def test_api_merge_honours_protection_and_admin_merge_bypasses_it(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.protect_branch("main", required_checks=["jitops/approval"], required_approvals=1)
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    pr = bot.get_repo("acme/access").get_pull(number)
    with pytest.raises(github.GithubException) as err:
        pr.merge()
    assert err.value.status == 405
    assert err.value.data["message"] == (
        "At least 1 approving review is required by reviewers with write access."
    )
    gh.review(number, "alice", "APPROVED")
    with pytest.raises(github.GithubException) as err:
        pr.merge()
    assert err.value.data["message"] == 'Required status check "jitops/approval" is expected.'
    bot.get_repo("acme/access").get_commit(pr.head.sha).create_status(
        "success", context="jitops/approval"
    )
    assert pr.merge().merged
    other = gh.open_pr("octocat", "g2", "Other", files={"grants/b.yaml": GRANT})
    with pytest.raises(APIError):
        gh.merge_pr(other, "alice", enforce_protection=True)
    assert gh.merge_pr(other, "alice") == gh.branch_sha("main")


def test_new_commits_dismiss_stale_approvals_when_protected(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.protect_branch("main", required_approvals=1, dismiss_stale_reviews=True)
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    gh.review(number, "alice", "APPROVED")
    gh.push_to_pr(number, {"grants/a.yaml": GRANT + "ticket: X-1\n"})
    states = [r.state for r in bot.get_repo("acme/access").get_pull(number).get_reviews()]
    assert states == ["DISMISSED"]


def test_contents_of_a_file_and_a_directory(gh: GitHubSandbox, bot: github.Github) -> None:
    gh.commit_files("main", {"grants/a.yaml": GRANT, "grants/b.yaml": "x: 1\n"}, message="m")
    gh.create_branch("other")
    gh.commit_files("other", {"grants/a.yaml": "changed: true\n"}, message="n")
    repo = bot.get_repo("acme/access")
    assert repo.get_contents("grants/a.yaml").decoded_content.decode() == GRANT
    assert repo.get_contents("grants/a.yaml", ref="other").decoded_content == b"changed: true\n"
    listing = repo.get_contents("grants")
    assert sorted(c.path for c in listing) == ["grants/a.yaml", "grants/b.yaml"]
    assert {c.type for c in repo.get_contents("")} == {"file", "dir"}
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("grants/missing.yaml")


def test_environments_and_their_branch_policies(gh: GitHubSandbox, bot: github.Github) -> None:
    gh.add_environment("jitops", branches=["main"])
    gh.add_environment("anywhere")
    repo = bot.get_repo("acme/access")
    assert sorted(e.name for e in repo.get_environments()) == ["anywhere", "jitops"]
    env = repo.get_environment("jitops")
    policy = env.deployment_branch_policy
    assert (policy.protected_branches, policy.custom_branch_policies) == (False, True)
    assert repo.get_environment("anywhere").deployment_branch_policy is None
    reply = requests.get(
        f"{env.url}/deployment-branch-policies",
        headers={"Authorization": f"token {gh.token('jitops-bot')}"},
        timeout=10,
    )
    assert [p["name"] for p in reply.json()["branch_policies"]] == ["main"]
    with pytest.raises(github.UnknownObjectException):
        repo.get_environment("nope").name  # noqa: B018


def test_repository_by_id(bot: github.Github) -> None:
    repo = bot.get_repo("acme/access")
    assert bot.get_repo(repo.id).full_name == "acme/access"
