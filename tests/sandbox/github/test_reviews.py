"""Reviews: states, the commit they were made on, self-approval, dismissal, API submission."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import github
import pytest

from jitops_sandbox.github import APIError, GitHubSandbox, SandboxError
from tests.sandbox.github.support import GRANT

pytestmark = pytest.mark.integration


@pytest.fixture
def number(gh: GitHubSandbox) -> int:
    return gh.open_pr("octocat", "grant", "Access", files={"grants/a.yaml": GRANT})


def test_reviews_carry_state_user_and_commit(
    gh: GitHubSandbox, bot: github.Github, number: int
) -> None:
    first_head = gh.head_sha(number)
    gh.review(number, "alice", "APPROVED")
    new_head = gh.push_to_pr(number, {"grants/a.yaml": GRANT + "ticket: INC-9\n"})
    gh.review(number, "bob", "CHANGES_REQUESTED", body="no")
    gh.review(number, "carol", "COMMENTED", body="hm", commit_id=first_head)
    pr = bot.get_repo("acme/access").get_pull(number)
    reviews = list(pr.get_reviews())
    assert [(r.user.login, r.state, r.commit_id) for r in reviews] == [
        ("alice", "APPROVED", first_head),
        ("bob", "CHANGES_REQUESTED", new_head),
        ("carol", "COMMENTED", first_head),
    ]
    assert pr.head.sha == new_head
    assert reviews[1].body == "no"
    assert reviews[0].submitted_at is not None
    assert reviews[0].pull_request_url == pr.url
    assert reviews[0].html_url.endswith(f"/pull/{number}#pullrequestreview-{reviews[0].id}")


def test_author_cannot_approve_own_pull_request(gh: GitHubSandbox, number: int) -> None:
    with pytest.raises(APIError) as err:
        gh.review(number, "octocat", "APPROVED")
    assert err.value.status == 422
    gh.review(number, "octocat", "COMMENTED", body="note to self")


def test_dismissed_review_reads_as_dismissed(
    gh: GitHubSandbox, bot: github.Github, number: int
) -> None:
    review_id = gh.review(number, "alice", "APPROVED")
    gh.dismiss_review(number, review_id)
    review = bot.get_repo("acme/access").get_pull(number).get_review(review_id)
    assert review.state == "DISMISSED"


def test_submitting_reviews_through_the_api(
    gh: GitHubSandbox, client: Callable[[str], github.Github], number: int
) -> None:
    pr = client("alice").get_repo("acme/access").get_pull(number)
    review = pr.create_review(event="APPROVE")
    assert (review.state, review.user.login, review.commit_id) == (
        "APPROVED",
        "alice",
        gh.head_sha(number),
    )
    own = client("octocat").get_repo("acme/access").get_pull(number)
    with pytest.raises(github.GithubException) as err:
        own.create_review(event="APPROVE")
    assert err.value.status == 422


def test_dismissal_through_the_api(gh: GitHubSandbox, bot: github.Github, number: int) -> None:
    review_id = gh.review(number, "alice", "APPROVED")
    review = bot.get_repo("acme/access").get_pull(number).get_review(review_id)
    review.dismiss("stale")
    assert [r.state for r in bot.get_repo("acme/access").get_pull(number).get_reviews()] == [
        "DISMISSED"
    ]


def test_reviews_paginate(gh: GitHubSandbox, bot: github.Github, number: int) -> None:
    for i in range(33):
        gh.review(number, ("alice", "bob", "carol")[i % 3], "COMMENTED", body=str(i))
    reviews = bot.get_repo("acme/access").get_pull(number).get_reviews()
    assert reviews.totalCount == 33
    assert [r.body for r in reviews] == [str(i) for i in range(33)]


def test_reviews_after_the_merge_are_accepted_and_dated(
    gh: GitHubSandbox, client: Callable[[str], github.Github], number: int
) -> None:
    merge_time = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    head = gh.head_sha(number)
    gh.merge_pr(number, "carol", at=merge_time)
    # GitHub accepts reviews on merged pull requests, through the API too (cli/cli#5038)
    pr = client("alice").get_repo("acme/access").get_pull(number)
    pr.create_review(event="APPROVE")
    gh.review(number, "bob", "APPROVED", at=merge_time + timedelta(hours=1))
    pr = client("alice").get_repo("acme/access").get_pull(number)
    assert (pr.merged_at, pr.closed_at) == (merge_time, merge_time)
    assert pr.merged_by.login == "carol"
    reviews = {r.user.login: r for r in pr.get_reviews()}
    assert reviews["alice"].commit_id == reviews["bob"].commit_id == head
    assert reviews["bob"].submitted_at == merge_time + timedelta(hours=1)
    assert reviews["alice"].submitted_at > merge_time  # the stand-in's clock is now


def test_force_push_away_and_back(gh: GitHubSandbox, bot: github.Github, number: int) -> None:
    reviewed = gh.head_sha(number)
    gh.review(number, "alice", "APPROVED")
    gh.create_branch("other", "main")
    elsewhere = gh.commit_files("other", {"grants/a.yaml": GRANT + "duration: 9h\n"})
    assert gh.force_push(number, elsewhere) == elsewhere
    pr = bot.get_repo("acme/access").get_pull(number)
    assert pr.head.sha == elsewhere
    assert [r.commit_id for r in pr.get_reviews()] == [reviewed]  # no longer the head
    assert gh.force_push(number, reviewed) == reviewed
    assert bot.get_repo("acme/access").get_pull(number).head.sha == reviewed
    gh.merge_pr(number, "carol")
    with pytest.raises(SandboxError):
        gh.force_push(number, elsewhere)
