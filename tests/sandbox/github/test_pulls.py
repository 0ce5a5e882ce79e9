"""Pull requests through unmodified PyGithub: fields, listing, creation, merge, lazy objects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import github
import pytest
import requests

from jitops_sandbox.github import APIError, GitHubSandbox
from tests.sandbox.github.support import GRANT, git

pytestmark = pytest.mark.integration


def test_repository_fields(gh: GitHubSandbox, bot: github.Github) -> None:
    repo = bot.get_repo("acme/access")
    assert repo.full_name == "acme/access"
    assert repo.name == "access"
    assert repo.owner.login == "acme"
    assert repo.owner.type == "Organization"
    assert repo.default_branch == "main"
    assert repo.private is True
    assert repo.url == f"{gh.api_url}/repos/acme/access"
    assert repo.permissions.push is True


def test_unknown_repository_is_404(bot: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException):
        bot.get_repo("acme/other").full_name  # noqa: B018


def test_pull_request_fields(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr(
        "octocat", "grant-1", "Access for octocat", "why", files={"grants/a.yaml": GRANT}
    )
    pr = bot.get_repo("acme/access").get_pull(number)
    assert pr.number == number == 1
    assert (pr.state, pr.draft, pr.merged, pr.merge_commit_sha) == ("open", False, False, None)
    assert pr.user.login == "octocat"
    assert (pr.title, pr.body) == ("Access for octocat", "why")
    assert pr.head.ref == "grant-1"
    assert pr.head.sha == gh.branch_sha("grant-1")
    assert pr.head.repo.full_name == "acme/access"
    assert (pr.base.ref, pr.base.sha) == ("main", gh.branch_sha("main"))
    assert pr.url == f"{gh.api_url}/repos/acme/access/pulls/1"
    assert pr.issue_url == f"{gh.api_url}/repos/acme/access/issues/1"
    assert pr.html_url.endswith("/acme/access/pull/1")
    assert (pr.labels, pr.requested_reviewers, pr.requested_teams) == ([], [], [])
    assert (pr.merged_at, pr.merged_by) == (None, None)


def test_unknown_pull_request_is_404(bot: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException):
        bot.get_repo("acme/access").get_pull(99).title  # noqa: B018


def test_head_sha_follows_plain_git_pushes(
    gh: GitHubSandbox, bot: github.Github, tmp_path: Path
) -> None:
    number = gh.open_pr("octocat", "grant-1", "Access", files={"grants/a.yaml": GRANT})
    work = gh.clone(tmp_path / "work")
    git(work, "checkout", "-q", "grant-1")
    (work / "grants" / "a.yaml").write_text(GRANT + "ticket: INC-2\n")
    git(work, "commit", "-qam", "add ticket")
    git(work, "push", "-q", "origin", "grant-1")
    pushed = git(work, "rev-parse", "HEAD")
    assert bot.get_repo("acme/access").get_pull(number).head.sha == pushed


def test_list_pulls_filters_by_state_and_head(gh: GitHubSandbox, bot: github.Github) -> None:
    one = gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    two = gh.open_pr("octocat", "g2", "two", files={"grants/2.yaml": GRANT})
    three = gh.open_pr("alice", "g3", "three", files={"grants/3.yaml": GRANT})
    gh.merge_pr(two, "jitops-bot")
    gh.close_pr(three)
    repo = bot.get_repo("acme/access")
    assert [p.number for p in repo.get_pulls()] == [one]
    assert [p.number for p in repo.get_pulls(state="closed")] == [three, two]
    assert [p.number for p in repo.get_pulls(state="all", direction="asc")] == [one, two, three]
    assert [p.number for p in repo.get_pulls(state="all", head="acme:g3")] == [three]


def test_create_pull_through_the_api(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.create_branch("grant-x")
    gh.commit_files("grant-x", {"grants/x.yaml": GRANT}, author="octocat", message="ask")
    repo = client("octocat").get_repo("acme/access")
    pr = repo.create_pull(base="main", head="grant-x", title="Access", body="please")
    assert pr.number == 1
    assert pr.user.login == "octocat"
    assert gh.pr(1).head_ref == "grant-x"


def test_create_pull_errors_look_like_github(gh: GitHubSandbox, bot: github.Github) -> None:
    repo = bot.get_repo("acme/access")
    with pytest.raises(github.GithubException) as err:
        repo.create_pull(base="main", head="no-such-branch", title="x")
    assert err.value.status == 422
    assert err.value.data["message"] == "Validation Failed"
    assert err.value.data["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]

    gh.open_pr("octocat", "g1", "one", files={"grants/1.yaml": GRANT})
    with pytest.raises(github.GithubException) as err:
        repo.create_pull(base="main", head="g1", title="again")
    assert err.value.status == 422
    assert err.value.data["errors"][0]["message"] == "A pull request already exists for acme:g1."

    gh.create_branch("empty")
    with pytest.raises(github.GithubException) as err:
        repo.create_pull(base="main", head="empty", title="nothing")
    assert err.value.data["errors"][0]["message"] == "No commits between main and empty"


def test_merge_creates_a_real_merge_commit_on_main(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "grant-1", "Access", files={"grants/a.yaml": GRANT})
    head = gh.head_sha(number)
    before = gh.branch_sha("main")
    sha = gh.merge_pr(number, "alice")
    assert gh.branch_sha("main") == sha
    commit = bot.get_repo("acme/access").get_commit(sha)
    assert [p.sha for p in commit.parents] == [before, head]
    assert commit.commit.message.startswith("Merge pull request #1 from acme/grant-1")
    assert [f.filename for f in commit.files] == ["grants/a.yaml"]
    assert gh.read_file("main", "grants/a.yaml") == GRANT
    pr = bot.get_repo("acme/access").get_pull(number)
    assert (pr.state, pr.merged, pr.merge_commit_sha) == ("closed", True, sha)
    assert pr.merged_by.login == "alice"
    assert pr.is_merged()


def test_is_merged_false_while_open(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    assert not bot.get_repo("acme/access").get_pull(number).is_merged()


def test_merging_twice_is_refused(gh: GitHubSandbox) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    gh.merge_pr(number, "alice")
    with pytest.raises(APIError) as err:
        gh.merge_pr(number, "alice")
    assert err.value.status == 405


def test_merge_through_the_api(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    status = bot.get_repo("acme/access").get_pull(number).merge()
    assert status.merged
    assert gh.branch_sha("main") == status.sha


def test_pulls_for_merge_commit_are_simple_and_complete_lazily(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    sha = gh.merge_pr(number, "alice")
    gh.clear_requests()
    pulls = list(bot.get_repo("acme/access").get_commit(sha).get_pulls())
    assert [p.number for p in pulls] == [number]
    assert gh.count_requests("GET", f"/repos/acme/access/pulls/{number}") == 0
    assert pulls[0].merged is True  # not in pull-request-simple: PyGithub GETs the PR
    assert gh.count_requests("GET", f"/repos/acme/access/pulls/{number}") == 1
    assert pulls[0].merged_by.login == "alice"


def test_pulls_for_a_head_commit(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    repo = bot.get_repo("acme/access")
    assert [p.number for p in repo.get_commit(gh.head_sha(number)).get_pulls()] == [number]
    assert list(repo.get_commit(gh.branch_sha("main") or "").get_pulls()) == []


def test_review_requests(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    pr = bot.get_repo("acme/access").get_pull(number)
    pr.create_review_request(reviewers=["alice"], team_reviewers=["dba"])
    users, teams = pr.get_review_requests()
    assert [u.login for u in users] == ["alice"]
    assert [t.slug for t in teams] == ["dba"]
    fresh = bot.get_repo("acme/access").get_pull(number)
    assert [u.login for u in fresh.requested_reviewers] == ["alice"]
    assert [t.slug for t in fresh.requested_teams] == ["dba"]
    gh.review(number, "alice", "APPROVED")
    assert bot.get_repo("acme/access").get_pull(number).requested_reviewers == []


def test_review_request_from_the_author_is_refused(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    with pytest.raises(github.GithubException) as err:
        bot.get_repo("acme/access").get_pull(number).create_review_request(reviewers=["octocat"])
    assert err.value.status == 422


def test_writes_need_write_access(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    pr = client("octocat").get_repo("acme/access").get_pull(number)
    with pytest.raises(github.GithubException) as err:
        pr.create_review_request(reviewers=["alice"])
    assert err.value.status == 403
    assert not gh.pr(number).requested_reviewers


SIMPLE_REQUIRED = {
    "_links", "assignee", "labels", "base", "body", "closed_at", "comments_url", "commits_url",
    "created_at", "diff_url", "head", "html_url", "id", "node_id", "issue_url",
    "merge_commit_sha", "merged_at", "milestone", "number", "patch_url", "review_comment_url",
    "review_comments_url", "statuses_url", "state", "locked", "title", "updated_at", "url",
    "user", "author_association", "auto_merge",
}  # fmt: skip


def test_pull_request_simple_has_githubs_required_keys_and_no_merged(gh: GitHubSandbox) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    sha = gh.merge_pr(number, "alice")
    auth = {"Authorization": f"token {gh.token('alice')}"}
    simple = requests.get(
        f"{gh.api_url}/repos/acme/access/commits/{sha}/pulls", headers=auth, timeout=10
    ).json()[0]
    assert SIMPLE_REQUIRED - set(simple) == set()
    assert not {"merged", "merged_by", "mergeable", "comments"} & set(simple)
    full = requests.get(
        f"{gh.api_url}/repos/acme/access/pulls/{number}", headers=auth, timeout=10
    ).json()
    assert (full["merged"], full["merged_by"]["login"]) == (True, "alice")


def test_pull_request_counters_come_from_the_repository(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    gh.push_to_pr(number, {"grants/a.yaml": GRANT + "ticket: INC-3\n", "grants/b.yaml": "x\n"})
    gh.comment(number, "alice", "looks fine")
    pr = bot.get_repo("acme/access").get_pull(number)
    assert (pr.commits, pr.changed_files) == (2, 2)
    assert (pr.additions, pr.deletions) == (GRANT.count("\n") + 2, 0)
    assert pr.comments == 1
    gh.merge_pr(number, "alice", method="squash")
    merged = bot.get_repo("acme/access").get_pull(number)
    assert (merged.commits, merged.changed_files) == (2, 2)  # the PR's, not main's
