"""Commit statuses: create through repo.get_commit(sha), list, combined state, validation."""

from __future__ import annotations

from collections.abc import Callable

import github
import pytest

from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import GRANT

pytestmark = pytest.mark.integration


@pytest.fixture
def sha(gh: GitHubSandbox) -> str:
    number = gh.open_pr("octocat", "grant", "Access", files={"grants/a.yaml": GRANT})
    return gh.head_sha(number)


def test_create_and_list_statuses(gh: GitHubSandbox, bot: github.Github, sha: str) -> None:
    commit = bot.get_repo("acme/access").get_commit(sha)
    made = commit.create_status(
        "pending", target_url="http://ci/1", description="waiting", context="jitops/approval"
    )
    assert (made.state, made.context, made.creator.login) == (
        "pending",
        "jitops/approval",
        "jitops-bot",
    )
    commit.create_status("success", description="approved", context="jitops/approval")
    commit.create_status("success", context="jitops/validate")
    listed = list(commit.get_statuses())
    assert [(s.context, s.state) for s in listed] == [
        ("jitops/validate", "success"),
        ("jitops/approval", "success"),
        ("jitops/approval", "pending"),
    ]
    assert [s.description for s in gh.statuses(sha)] == [None, "approved", "waiting"]


def test_combined_status_takes_the_latest_per_context(bot: github.Github, sha: str) -> None:
    commit = bot.get_repo("acme/access").get_commit(sha)
    assert commit.get_combined_status().state == "pending"
    commit.create_status("failure", context="jitops/approval")
    commit.create_status("success", context="jitops/validate")
    assert commit.get_combined_status().state == "failure"
    commit.create_status("success", context="jitops/approval")
    combined = commit.get_combined_status()
    assert combined.state == "success"
    assert combined.total_count == 2
    assert combined.sha == sha


def test_bad_state_is_a_validation_error(gh: GitHubSandbox, bot: github.Github, sha: str) -> None:
    commit = bot.get_repo("acme/access").get_commit(sha)
    with pytest.raises(github.GithubException) as err:
        commit.create_status("approved", context="jitops/approval")
    assert err.value.status == 422
    assert err.value.data["message"] == "Validation Failed"
    assert gh.statuses(sha) == []


def test_unknown_commit(bot: github.Github) -> None:
    with pytest.raises(github.GithubException) as err:
        bot.get_repo("acme/access").get_commit("f" * 40).sha  # noqa: B018
    assert err.value.status == 422
    assert err.value.data["message"] == f"No commit found for SHA: {'f' * 40}"


def test_statuses_need_write_access(
    gh: GitHubSandbox, client: Callable[[str], github.Github], sha: str
) -> None:
    commit = client("octocat").get_repo("acme/access").get_commit(sha)
    with pytest.raises(github.GithubException) as err:
        commit.create_status("success", context="jitops/approval")
    assert err.value.status == 403
    assert gh.statuses(sha) == []
