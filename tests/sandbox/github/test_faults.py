"""Injected faults, rate limits, the request log and concurrent requests."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import github
import pytest
import requests
from urllib3.util.retry import Retry

from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import GRANT, connect

pytestmark = pytest.mark.integration


def test_fail_next_answers_with_the_status_then_recovers(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.fail_next(1, status=502)
    with pytest.raises(github.GithubException) as err:
        bot.get_user("alice").login  # noqa: B018
    assert err.value.status == 502
    assert bot.get_user("alice").login == "alice"
    assert [r.status for r in gh.requests if r.path == "/users/alice"] == [502, 200]


def test_faults_can_target_a_method_and_path(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    gh.fail_next(1, status=500, method="POST", path="/comments")
    pr = bot.get_repo("acme/access").get_pull(number)  # a GET: not affected
    with pytest.raises(github.GithubException) as err:
        pr.create_issue_comment("hello")
    assert err.value.status == 500
    pr.create_issue_comment("hello")
    assert gh.comments(number) == ["hello"]


def test_a_retrying_client_is_counted_on_each_attempt(gh: GitHubSandbox) -> None:
    retry = Retry(total=3, status_forcelist=[502], backoff_factor=0, allowed_methods=None)
    g = connect(gh, gh.token("alice"), retry=retry)
    gh.fail_next(2, status=502)
    gh.clear_requests()
    assert g.get_user("bob").login == "bob"
    assert gh.count_requests("GET", "/users/bob") == 3
    g.close()


def test_secondary_rate_limit(gh: GitHubSandbox, bot: github.Github) -> None:
    gh.rate_limit_next(1, retry_after=7)
    with pytest.raises(github.RateLimitExceededException) as err:
        bot.get_user("alice").login  # noqa: B018
    assert err.value.status == 403
    assert err.value.headers["retry-after"] == "7"
    assert err.value.data["message"].startswith("You have exceeded a secondary rate limit")


def test_primary_rate_limit(gh: GitHubSandbox, bot: github.Github) -> None:
    gh.rate_limit_next(1, secondary=False)
    with pytest.raises(github.RateLimitExceededException) as err:
        bot.get_user("alice").login  # noqa: B018
    assert err.value.headers["x-ratelimit-remaining"] == "0"


def test_request_log_records_method_path_status_and_user(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.clear_requests()
    bot.get_user("alice").login  # noqa: B018
    with pytest.raises(github.UnknownObjectException):
        bot.get_user("nobody").login  # noqa: B018
    assert [(r.method, r.path, r.status, r.user) for r in gh.requests] == [
        ("GET", "/users/alice", 200, "jitops-bot"),
        ("GET", "/users/nobody", 404, "jitops-bot"),
    ]
    assert gh.count_requests(path="/users/*") == 2
    assert gh.count_requests("POST") == 0


def test_concurrent_writes_are_all_kept(gh: GitHubSandbox) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    sha = gh.head_sha(number)

    def work(i: int) -> None:
        g = connect(gh, gh.token("jitops-bot"), lazy=True)
        repo = g.get_repo("acme/access")
        repo.get_pull(number).create_issue_comment(f"c{i}")
        repo.get_commit(sha).create_status("pending", context=f"ctx/{i}")
        g.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(24)))
    assert sorted(gh.comments(number)) == sorted(f"c{i}" for i in range(24))
    assert len({s.context for s in gh.statuses(sha)}) == 24


def test_unknown_path_and_wrong_prefix_are_404(gh: GitHubSandbox) -> None:
    auth = {"Authorization": f"Bearer {gh.token('alice')}"}
    assert requests.get(f"{gh.api_url}/nope", headers=auth, timeout=10).status_code == 404
    root = gh.api_url.rsplit("/api/v3", 1)[0]
    reply = requests.get(f"{root}/users/alice", headers=auth, timeout=10)
    assert reply.status_code == 404
    assert reply.json()["message"] == "Not Found"
    assert requests.get(f"{gh.api_url}/users/alice", headers=auth, timeout=10).status_code == 200


def test_malformed_ids_are_404_not_a_crash(gh: GitHubSandbox) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    auth = {"Authorization": f"token {gh.token('alice')}"}
    base = f"{gh.api_url}/repos/acme/access"
    for path in (f"/pulls/{number}/reviews/abc", "/pulls/x", "/issues/comments/y", "/issues/z"):
        reply = requests.get(base + path, headers=auth, timeout=10)
        assert (reply.status_code, reply.json()["message"]) == (404, "Not Found"), path
    bad_json = requests.post(
        f"{base}/issues/{number}/comments", data=b"{", headers=auth, timeout=10
    )
    assert (bad_json.status_code, bad_json.json()["message"]) == (400, "Problems parsing JSON")


def test_rate_limits_as_429_and_secondary_without_retry_after(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.rate_limit_next(1, secondary=True, retry_after=None, status=429)
    with pytest.raises(github.GithubException) as err:
        bot.get_user("alice").login  # noqa: B018
    assert err.value.status == 429
    assert "retry-after" not in {k.lower() for k in err.value.headers}
    gh.rate_limit_next(1, secondary=False, reset_in=90, status=429)
    with pytest.raises(github.GithubException) as err:
        bot.get_user("bob").login  # noqa: B018
    headers = {k.lower(): v for k, v in err.value.headers.items()}
    assert headers["x-ratelimit-remaining"] == "0"
    assert int(headers["x-ratelimit-reset"]) - time.time() > 80
    assert bot.get_user("carol").login == "carol"  # the faults are used up
