"""The GitHub door through the loopback stand-in with real PyGithub: plain values out, bounded
retries honouring Retry-After, errors that say what to do, one sticky comment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitops.core.approvals import Review
from jitops.doors.github import (
    ChangedFile,
    Comment,
    GitHub,
    GitHubAuthError,
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    PullRequest,
)
from jitops_sandbox.github import GitHubSandbox

pytestmark = pytest.mark.integration

GRANT = "requester: octocat\nrole: staging-admin\nduration: 1h\nreason: Debug staging\n"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubSandbox]:
    with GitHubSandbox(tmp_path / "github") as sandbox:
        sandbox.add_user("jitops-bot", write=True, bot=True)
        for login in ("octocat", "alice", "bob", "mallory"):
            sandbox.add_user(login)
        sandbox.add_team("acme", "dba", ["alice", "bob"])
        yield sandbox
        assert sandbox.errors == [], "the stand-in itself failed while answering"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def door(gh: GitHubSandbox, login: str = "jitops-bot", **kw: object) -> GitHub:
    return GitHub("acme/access", gh.token(login), gh.api_url, **kw)  # type: ignore[arg-type]


def test_pull_request_files_and_reviews_are_plain_values(gh: GitHubSandbox) -> None:
    n = gh.open_pr("octocat", "g1", "Access please", files={"grants/g1.yaml": GRANT})
    gh.review(n, "alice", "APPROVED")
    g = door(gh)
    pr = g.pull_request(n)
    assert isinstance(pr, PullRequest)
    assert (pr.number, pr.author, pr.state, pr.merged, pr.title) == (
        n,
        "octocat",
        "open",
        False,
        "Access please",
    )
    assert pr.head_sha == gh.head_sha(n) and pr.base_ref == "main" and pr.head_ref == "g1"
    assert g.pull_files(n) == [ChangedFile("grants/g1.yaml", "added", None)]
    (review,) = g.reviews(n)
    assert isinstance(review, Review)
    assert (review.user, review.state, review.commit_id) == ("alice", "APPROVED", pr.head_sha)
    assert g.pulls_for_commit(pr.head_sha) == [n]
    assert g.default_branch() == "main"
    assert g.whoami() == "jitops-bot"


def test_team_membership_is_one_request_and_cached(gh: GitHubSandbox) -> None:
    g = door(gh)
    gh.clear_requests()
    assert g.is_team_member("acme", "dba", "alice") is True
    assert g.is_team_member("ACME", "DBA", "Alice") is True  # cached, case-insensitive
    assert g.is_team_member("acme", "dba", "mallory") is False
    assert g.is_team_member("acme", "no-such-team", "alice") is False
    assert gh.count_requests() == 3


def test_ssh_keys(gh: GitHubSandbox) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    gh.add_ssh_key("octocat", key)
    g = door(gh)
    assert g.ssh_keys("octocat") == [key]
    assert g.ssh_keys("alice") == []


def test_one_sticky_comment_updated_in_place(gh: GitHubSandbox) -> None:
    n = gh.open_pr("octocat", "g1", "g1", files={"grants/g1.yaml": GRANT})
    gh.comment(n, "mallory", "<!-- m --> a fake jitops comment by someone else")
    g = door(gh)
    first = g.upsert_comment(n, "<!-- m -->", "<!-- m --> one")
    second = g.upsert_comment(n, "<!-- m -->", "<!-- m --> two")
    assert first == second
    assert gh.comments(n) == ["<!-- m --> a fake jitops comment by someone else", "<!-- m --> two"]
    gh.clear_requests()
    g.upsert_comment(n, "<!-- m -->", "<!-- m --> two")  # unchanged: no write
    assert gh.count_requests("PATCH") == 0 and gh.count_requests("POST") == 0
    assert Comment(first, "jitops-bot", "<!-- m --> two") in g.comments(n)


def test_statuses_labels_and_review_requests_skip_the_author_and_the_already_asked(
    gh: GitHubSandbox,
) -> None:
    n = gh.open_pr("octocat", "g1", "g1", files={"grants/g1.yaml": GRANT})
    g = door(gh)
    sha = g.pull_request(n).head_sha
    g.set_status(sha, "jitops/approval", "pending", "x" * 300)
    (status,) = gh.statuses(sha)
    assert (status.context, status.state, len(status.description or "")) == (
        "jitops/approval",
        "pending",
        140,
    )
    g.add_labels(n, ["jitops", "grant"])
    assert sorted(gh.labels(n)) == ["grant", "jitops"]
    g.request_reviewers(n, ["octocat", "alice"], ["dba"])  # the author is dropped, not a 422
    assert (gh.pr(n).requested_reviewers, gh.pr(n).requested_teams) == (["alice"], ["dba"])
    again = door(gh)
    gh.clear_requests()
    again.request_reviewers(n, ["alice"], ["dba"])
    assert gh.count_requests("POST") == 0  # everybody was asked already


def test_5xx_and_secondary_rate_limits_are_retried_honouring_retry_after(
    gh: GitHubSandbox,
) -> None:
    sleeps = Sleeps()
    g = door(gh, sleep=sleeps)
    gh.fail_next(2, 502)
    gh.rate_limit_next(1, secondary=True, retry_after=30)
    assert g.default_branch() == "main"
    assert sleeps == [0.5, 1.0, 30.0]  # Retry-After honoured: 30 s is within the 60 s cap
    assert g.request_count == 4


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit_waits_until_the_reset(gh: GitHubSandbox, status: int) -> None:
    sleeps = Sleeps()
    g = door(gh, sleep=sleeps)
    gh.rate_limit_next(1, secondary=False, reset_in=5, status=status)
    assert g.default_branch() == "main"
    assert len(sleeps) == 1 and 4.0 <= sleeps[0] <= 6.5  # until x-ratelimit-reset, +1 s
    assert gh.count_requests("GET", "/repos/acme/access") == 2


@pytest.mark.parametrize("status", [403, 429])
def test_a_reset_beyond_the_cap_fails_at_once_saying_when_to_retry(
    gh: GitHubSandbox, status: int
) -> None:
    sleeps = Sleeps()
    g = door(gh, sleep=sleeps)
    gh.rate_limit_next(1, secondary=False, reset_in=3600, status=status)
    with pytest.raises(GitHubRateLimited) as err:
        g.default_branch()
    assert sleeps == []
    assert err.value.status == status
    assert err.value.retry_at is not None
    assert err.value.retry_at > datetime.now(UTC) + timedelta(minutes=59)
    text = str(err.value)
    assert "API rate limit exceeded" in text
    assert err.value.retry_at.strftime("%Y-%m-%dT%H:%M:%SZ") in text
    assert "re-run after that" in text


def test_secondary_without_retry_after_waits_a_minute_then_gives_up(gh: GitHubSandbox) -> None:
    sleeps = Sleeps()
    g = door(gh, sleep=sleeps)
    gh.rate_limit_next(1, secondary=True, retry_after=None, status=429)
    assert g.default_branch() == "main"
    assert sleeps == [60.0]  # GitHub: "wait for at least one minute"
    gh.rate_limit_next(2, secondary=True, retry_after=None)
    with pytest.raises(GitHubRateLimited, match=r"secondary rate limit.*re-run after that"):
        door(gh, sleep=sleeps).default_branch()
    assert sleeps == [60.0, 60.0]  # the next wait (2 minutes) is beyond the cap: fail clearly


def test_a_long_retry_after_fails_clearly_and_a_short_cap_is_honoured(gh: GitHubSandbox) -> None:
    sleeps = Sleeps()
    gh.rate_limit_next(1, secondary=True, retry_after=5)
    with pytest.raises(GitHubRateLimited, match=r"in 0:00:05"):
        door(gh, sleep=sleeps, max_rate_wait=2).default_branch()
    assert sleeps == []


def test_a_permission_403_is_not_a_rate_limit(gh: GitHubSandbox) -> None:
    sleeps = Sleeps()
    gh.fail_next(1, 403, message="Resource not accessible by integration")
    with pytest.raises(GitHubAuthError, match="give the token the permission"):
        door(gh, sleep=sleeps).default_branch()
    assert sleeps == []


def test_retries_are_bounded_and_the_error_says_what_happened(gh: GitHubSandbox) -> None:
    sleeps = Sleeps()
    g = door(gh, sleep=sleeps, max_attempts=3)
    gh.fail_next(10, 503, message="Service Unavailable")
    with pytest.raises(GitHubError, match="503 while trying to read acme/access"):
        g.default_branch()
    assert len(sleeps) == 2 and g.request_count == 3


def test_bad_token_missing_pull_and_unreachable_host_say_what_to_do(gh: GitHubSandbox) -> None:
    bad = GitHub("acme/access", "nope", gh.api_url)
    with pytest.raises(GitHubAuthError, match="check JITOPS_GITHUB_TOKEN"):
        bad.pull_request(1)
    with pytest.raises(GitHubNotFound, match="check the repository name, the number"):
        door(gh).pull_request(999)
    sleeps = Sleeps()
    gone = GitHub("acme/access", "t", "http://127.0.0.1:9/api/v3", max_attempts=2, sleep=sleeps)
    with pytest.raises(GitHubError, match=r"could not reach GitHub .* re-run"):
        gone.pull_request(1)
    assert len(sleeps) == 1


def test_forbidden_team_membership_names_the_permission(gh: GitHubSandbox) -> None:
    gh.fail_next(1, 403, message="Resource not accessible by integration", path="/teams/")
    with pytest.raises(GitHubAuthError, match=r"Members: read.*JITOPS_GITHUB_TOKEN"):
        door(gh).is_team_member("acme", "dba", "alice")


def test_writes_without_permission_are_refused_with_advice(gh: GitHubSandbox) -> None:
    n = gh.open_pr("octocat", "g1", "g1", files={"grants/g1.yaml": GRANT})
    reader = door(gh, "mallory")
    with pytest.raises(GitHubAuthError, match="give the token the permission"):
        reader.set_status(gh.head_sha(n), "jitops/validate", "success", "ok")


def test_create_pull(gh: GitHubSandbox) -> None:
    gh.create_branch("topic")
    gh.commit_files("topic", {"grants/g2.yaml": GRANT}, author="octocat")
    n = door(gh, "octocat").create_pull("topic", "main", "Access", "please")
    assert gh.pr(n).author == "octocat"


def test_an_installation_token_that_cannot_read_user_is_the_bot(gh: GitHubSandbox) -> None:
    gh.fail_next(1, 403, message="Resource not accessible by integration", path="/user")
    g = door(gh, bot_login="acme-jitops[bot]")
    assert g.whoami() == "acme-jitops[bot]"
    assert g.whoami() == "acme-jitops[bot]"  # cached: asked once
    assert gh.count_requests("GET", "/user") == 1
    with pytest.raises(GitHubAuthError, match="refused the token"):
        GitHub("acme/access", "nope", gh.api_url).whoami()  # a bad token is still an error


def test_who_an_installation_token_is_comes_from_env_then_policy_then_actions(
    gh: GitHubSandbox,
) -> None:
    for bot_login, fallback, expected in (
        ("env-bot", "policy-bot[bot]", "env-bot"),
        (None, "policy-bot[bot]", "policy-bot[bot]"),
        (None, None, "github-actions[bot]"),
    ):
        gh.fail_next(1, 403, message="Resource not accessible by integration", path="/user")
        assert door(gh, bot_login=bot_login).whoami(fallback) == expected
    assert door(gh).whoami("policy-bot[bot]") == "jitops-bot"  # /user answers: it wins


def test_team_membership_counts_child_teams_and_never_pending_invitations(
    gh: GitHubSandbox,
) -> None:
    gh.add_user("dave")
    gh.add_team("acme", "dba-oncall", ["dave"], parent="dba")
    gh.add_team_member("acme", "dba", "mallory", pending=True)
    g = door(gh)
    assert g.is_team_member("acme", "dba", "dave")  # through the child team
    assert not g.is_team_member("acme", "dba", "mallory")  # invited, not accepted
    assert not g.is_team_member("acme", "dba-oncall", "alice")


def test_branch_rules_and_rulesets_for_doctor(gh: GitHubSandbox) -> None:
    ruleset = gh.add_ruleset(
        "protect main",
        required_approvals=1,
        require_code_owner_review=True,
        required_checks=[("jitops/approval", 77)],
        bypass_apps=[77],
    )
    gh.add_ruleset("dry run", required_approvals=9, enforcement="evaluate")
    reader = door(gh, "octocat")
    rules = reader.branch_rules("main")
    assert [(r["type"], r["ruleset_id"]) for r in rules] == [
        ("pull_request", ruleset),
        ("required_status_checks", ruleset),
    ]
    assert rules[0]["parameters"]["require_code_owner_review"] is True
    assert reader.branch_rules("feature/x") == []
    assert [r["name"] for r in reader.rulesets()] == ["protect main", "dry run"]
    assert "bypass_actors" not in reader.ruleset(ruleset)  # read access: GitHub hides them
    assert door(gh).ruleset(ruleset)["bypass_actors"] == [
        {"actor_id": 77, "actor_type": "Integration", "bypass_mode": "always"}
    ]
    with pytest.raises(GitHubNotFound):
        reader.ruleset(999999)
    assert reader.branch_protection("main") is None  # protected by rulesets only


def test_secondary_limits_that_repeat_across_calls_are_not_waited_out_again(
    gh: GitHubSandbox,
) -> None:
    sleeps = Sleeps()
    g = door(gh, sleep=sleeps)
    n = gh.open_pr("octocat", "g1", "Access", files={"grants/g1.yaml": GRANT})
    gh.rate_limit_next(1, secondary=True, retry_after=None)
    assert g.pull_request(n).number == n
    gh.rate_limit_next(1, secondary=True, retry_after=None)
    with pytest.raises(GitHubRateLimited):
        g.pull_files(n)  # the second one in this run would need 2 minutes: fail, re-run later
    assert sleeps == [60.0]
