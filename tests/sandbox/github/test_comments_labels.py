"""Issue comments (create, edit, get, paginate) and labels (add, set, remove, list)."""

from __future__ import annotations

from collections.abc import Callable

import github
import pytest
import requests

from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import GRANT

pytestmark = pytest.mark.integration


@pytest.fixture
def number(gh: GitHubSandbox) -> int:
    return gh.open_pr("octocat", "grant", "Access", files={"grants/a.yaml": GRANT})


def test_comment_create_edit_and_get(gh: GitHubSandbox, bot: github.Github, number: int) -> None:
    pr = bot.get_repo("acme/access").get_pull(number)
    comment = pr.create_issue_comment("issued: see below")
    assert comment.user.login == "jitops-bot"
    assert comment.url == f"{gh.api_url}/repos/acme/access/issues/comments/{comment.id}"
    assert comment.html_url.endswith(f"/pull/{number}#issuecomment-{comment.id}")
    comment.edit("issued and sealed")
    assert gh.comments(number) == ["issued and sealed"]
    again = pr.get_issue_comment(comment.id)
    assert again.body == "issued and sealed"
    assert again.created_at <= again.updated_at


def test_more_than_thirty_comments_paginate(
    gh: GitHubSandbox, bot: github.Github, number: int
) -> None:
    for i in range(45):
        gh.comment(number, "alice", f"comment {i}")
    comments = bot.get_repo("acme/access").get_pull(number).get_issue_comments()
    assert comments.totalCount == 45
    gh.clear_requests()
    assert [c.body for c in comments] == [f"comment {i}" for i in range(45)]
    assert gh.count_requests("GET", f"/repos/acme/access/issues/{number}/comments") == 2


def test_link_header_is_githubs_format(gh: GitHubSandbox, number: int) -> None:
    for i in range(5):
        gh.comment(number, "alice", str(i))
    url = f"{gh.api_url}/repos/acme/access/issues/{number}/comments"
    auth = {"Authorization": f"token {gh.token('alice')}"}
    reply = requests.get(url, params={"per_page": 2, "page": 2}, headers=auth, timeout=10)
    assert [c["body"] for c in reply.json()] == ["2", "3"]
    assert reply.headers["Link"] == (
        f'<{url}?per_page=2&page=1>; rel="prev", <{url}?per_page=2&page=3>; rel="next", '
        f'<{url}?per_page=2&page=3>; rel="last", <{url}?per_page=2&page=1>; rel="first"'
    )
    capped = requests.get(url, params={"per_page": 500}, headers=auth, timeout=10)
    assert len(capped.json()) == 5
    assert "Link" not in capped.headers


def test_people_can_edit_their_own_comments_only(
    gh: GitHubSandbox, client: Callable[[str], github.Github], number: int
) -> None:
    theirs = gh.comment(number, "alice", "mine")
    pr = client("bob").get_repo("acme/access").get_pull(number)
    with pytest.raises(github.GithubException) as err:
        pr.get_issue_comment(theirs).edit("hijacked")
    assert err.value.status == 403
    assert gh.comments(number) == ["mine"]


def test_unknown_comment_is_404(bot: github.Github, number: int) -> None:
    with pytest.raises(github.UnknownObjectException):
        bot.get_repo("acme/access").get_pull(number).get_issue_comment(424242)


def test_labels_add_set_remove(gh: GitHubSandbox, bot: github.Github, number: int) -> None:
    pr = bot.get_repo("acme/access").get_pull(number)
    pr.add_to_labels("jitops:pending", "needs-dba")
    assert gh.labels(number) == ["jitops:pending", "needs-dba"]
    pr.remove_from_labels("jitops:pending")
    assert [label.name for label in pr.get_labels()] == ["needs-dba"]
    pr.set_labels("jitops:approved")
    assert gh.labels(number) == ["jitops:approved"]
    fresh = bot.get_repo("acme/access").get_pull(number)
    assert [label.name for label in fresh.labels] == ["jitops:approved"]
    with pytest.raises(github.GithubException) as err:
        pr.remove_from_labels("never-there")
    assert (err.value.status, err.value.data["message"]) == (404, "Label does not exist")
    assert bot.get_repo("acme/access").get_label("needs-dba").name == "needs-dba"


def test_a_pull_request_is_also_an_issue(
    gh: GitHubSandbox, bot: github.Github, number: int
) -> None:
    issue = bot.get_repo("acme/access").get_issue(number)
    assert issue.pull_request is not None
    assert issue.user.login == "octocat"
    issue.create_comment("via the issue")
    assert gh.comments(number) == ["via the issue"]
