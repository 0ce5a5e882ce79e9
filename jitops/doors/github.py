"""The GitHub door: the only module that imports PyGithub.

Everything it returns is a plain frozen dataclass, so the core never sees a PyGithub object.
Errors become :class:`GitHubError` subclasses whose messages say what to do.

One retry policy, ours (PyGithub's own retry and throttling are off), at most
``max_attempts`` tries per call:

- 5xx answers and connection errors: waits of 0.5 s, 1 s, 2 s ... (at most ``MAX_SLEEP``),
  the doors' one :class:`~jitops.doors.retry.RetryPolicy` (connection errors: within 60 s).
- Primary rate limit (403 or 429 with ``x-ratelimit-remaining: 0``): wait until
  ``x-ratelimit-reset`` (epoch seconds) plus one second.
- Secondary rate limit (403 or 429 with ``retry-after``, or GitHub's "secondary rate limit"
  message without it): wait ``retry-after`` seconds; without it one minute, doubling each
  time it repeats for this client (GitHub: "wait for at least one minute", "increase the time
  between retries exponentially").
- A rate-limit wait longer than ``max_rate_wait`` (default ``MAX_RATE_WAIT`` = 60 s) is not
  worth holding a CI job for: the call fails at once with :class:`GitHubRateLimited`, whose
  message says when to retry (jitops jobs are safe to re-run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import github
import requests
from github import Auth, Github, GithubException

from jitops.core.approvals import Review
from jitops.core.policy import ACTIONS_BOT
from jitops.doors.retry import RetryPolicy
from jitops.errors import JitopsError

T = TypeVar("T")

MAX_ATTEMPTS = 5
MAX_SLEEP = 10.0  # the longest wait after a 5xx or a connection error
MAX_RATE_WAIT = 60.0  # the longest wait for a rate limit; longer: fail with when to retry
SECONDARY_WAIT = 60.0  # a secondary rate limit without retry-after: at least one minute


class GitHubError(JitopsError):
    """A GitHub API call failed (``status``: the HTTP status, None when none came back)."""

    status: int | None = None


class GitHubAuthError(GitHubError):
    """Bad or insufficient credentials."""


class GitHubNotFound(GitHubError):
    """The object does not exist (or the token cannot see it)."""


class GitHubRateLimited(GitHubError):
    """GitHub's rate limit: ``retry_at`` is when GitHub says the call may be made again."""

    retry_at: datetime | None = None


@dataclass(frozen=True)
class PullRequest:
    number: int
    author: str
    state: str
    merged: bool
    draft: bool
    head_sha: str
    head_ref: str
    base_sha: str
    base_ref: str
    merge_commit_sha: str | None
    title: str
    url: str
    merged_at: datetime | None = None  # when GitHub merged it (reviews after it never count)
    commits: int | None = None  # how many commits the pull request has (merge commits included)
    created_at: datetime | None = None  # when it was opened (the request time of risk tiers)


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | removed | modified | renamed | copied | changed | unchanged
    previous_path: str | None = None


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str


class GitHub:
    """One repository on GitHub (or GitHub Enterprise, or the loopback stand-in)."""

    def __init__(
        self,
        repo_full_name: str,
        token: str,
        base_url: str = "https://api.github.com",
        *,
        timeout: float = 15.0,
        max_attempts: int = MAX_ATTEMPTS,
        max_rate_wait: float = MAX_RATE_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        bot_login: str | None = None,
    ) -> None:
        self.repo_full_name = repo_full_name
        self.bot_login = bot_login
        self.max_attempts = max_attempts
        # 5xx answers and failed connections (rate limits wait as GitHub says, below)
        self.retry = RetryPolicy(max_attempts, base_delay=0.5, max_delay=MAX_SLEEP, deadline=60.0)
        self.max_rate_wait = max_rate_wait
        self._clock = clock
        self._secondary_hits = 0  # secondary limits without retry-after met by this client
        self.request_count = 0  # API calls made, retries included (an upper bound of HTTP requests)
        self._sleep = sleep
        self._gh = Github(
            base_url=base_url.rstrip("/"),
            auth=Auth.Token(token),
            timeout=int(timeout),
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # no GET for objects we only act on (a commit to set a status on, ...)
        )
        self._repo: Any = None
        self._teams: dict[tuple[str, str, str], bool] = {}
        self._me: str | None = None
        self._pulls: dict[int, Any] = {}

    # -- the retry loop -----------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        start = time.monotonic()
        for attempt in range(1, self.max_attempts + 1):
            self.request_count += 1
            try:
                return fn()
            except GithubException as exc:
                status = exc.status
                message = _message(exc)
                limit = _rate_limit(status, message, exc.headers or {}, self._clock())
                if limit is not None:
                    wait, retry_at = limit
                    if wait is None:  # secondary, no retry-after: one minute, then doubling
                        self._secondary_hits += 1
                        wait = SECONDARY_WAIT * 2 ** (self._secondary_hits - 1)
                        retry_at = self._clock() + wait
                    if wait <= self.max_rate_wait and attempt < self.max_attempts:
                        self._sleep(wait)
                        continue
                    limited = _rate_limited(what, message, retry_at, self._clock())
                    limited.status = status
                    raise limited from exc
                if status >= 500 and (delay := self.retry.wait(attempt)) is not None:
                    self._sleep(delay)
                    continue
                raise _translate(what, status, message) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                delay = self.retry.wait(attempt, time.monotonic() - start)
                if delay is not None:
                    self._sleep(delay)
                    continue
                raise GitHubError(
                    f"could not reach GitHub to {what} ({type(exc).__name__}); check the API URL "
                    "and the network, then re-run (jitops jobs are safe to re-run)"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = self._gh.get_repo(self.repo_full_name)  # lazy: no request
        return self._repo

    # -- reads --------------------------------------------------------------------------------
    def whoami(self, fallback: str | None = None) -> str:
        """The login the token acts as (cached).

        Installation tokens (the workflow's GITHUB_TOKEN, a GitHub App's) may not read
        ``/user`` (403): then the login is, in this order, ``bot_login`` (JITOPS_BOT_LOGIN),
        ``fallback`` (the policy's ``settings.bot``) or the Actions bot, ``github-actions[bot]``.
        """
        if self._me is None:
            try:
                self._me = self._call(
                    "find out who the token belongs to", lambda: self._gh.get_user().login
                )
            except GitHubAuthError as exc:
                if exc.status != 403:
                    raise
                self._me = self.bot_login or fallback or ACTIONS_BOT
        return self._me

    def default_branch(self) -> str:
        return self._call(
            f"read {self.repo_full_name}", lambda: str(self.repo.default_branch)
        )  # the lazy repository object is completed here, inside the retry loop

    def _pull(self, number: int) -> Any:
        """The PyGithub pull request, fetched once per run."""
        if number not in self._pulls:
            pull = self.repo.get_pull(number)
            pull.head  # noqa: B018 - complete the lazy object now, inside the retry loop
            self._pulls[number] = pull
        return self._pulls[number]

    def pull_request(self, number: int) -> PullRequest:
        def get() -> PullRequest:
            p = self._pull(number)
            return PullRequest(
                number=p.number,
                author=p.user.login,
                state=p.state,
                merged=bool(p.merged),
                draft=bool(p.draft),
                head_sha=p.head.sha,
                head_ref=p.head.ref,
                base_sha=p.base.sha,
                base_ref=p.base.ref,
                merge_commit_sha=p.merge_commit_sha,
                title=p.title or "",
                url=p.html_url or "",
                merged_at=p.merged_at,
                commits=p.commits,
                created_at=p.created_at,
            )

        return self._call(f"read pull request #{number}", get)

    def pull_files(self, number: int) -> list[ChangedFile]:
        return self._call(
            f"list the files of pull request #{number}",
            lambda: [
                ChangedFile(f.filename, f.status, f.previous_filename)
                for f in self._pull(number).get_files()
            ],
        )

    def reviews(self, number: int) -> list[Review]:
        def get() -> list[Review]:
            out = []
            for rv in self._pull(number).get_reviews():
                if rv.user is None:
                    continue
                submitted: datetime | None = rv.submitted_at
                out.append(Review(rv.user.login, str(rv.state).upper(), rv.commit_id, submitted))
            return out

        return self._call(f"read the reviews of pull request #{number}", get)

    def is_team_member(self, org: str, slug: str, login: str) -> bool:
        key = (org.lower(), slug.lower(), login.lower())
        if key not in self._teams:

            def get() -> bool:
                # one request (PyGithub's Team object would cost a GET of the team first)
                url = f"/orgs/{quote(org)}/teams/{quote(slug)}/memberships/{quote(login)}"
                try:
                    _, data = self._gh.requester.requestJsonAndCheck("GET", url)
                except github.UnknownObjectException:
                    return False
                return isinstance(data, dict) and data.get("state") == "active"

            try:
                self._teams[key] = self._call(f"check @{org}/{slug} membership", get)
            except GitHubNotFound:
                self._teams[key] = False
            except GitHubAuthError as exc:
                error = GitHubAuthError(
                    f"cannot read the members of @{org}/{slug}: the token needs organisation "
                    "members read access — use a GitHub App token with 'Members: read', or a "
                    "fine-grained token with that permission, as JITOPS_GITHUB_TOKEN"
                )
                error.status = exc.status
                raise error from exc
        return self._teams[key]

    def ssh_keys(self, login: str) -> list[str]:
        def get() -> list[str]:
            # one request (PyGithub's get_user(login) would GET the user first)
            url = f"/users/{quote(login)}/keys"
            _, data = self._gh.requester.requestJsonAndCheck("GET", url, {"per_page": 100})
            return [str(k["key"]) for k in data or [] if isinstance(k, dict) and "key" in k]

        return self._call(f"read the SSH keys of {login}", get)

    def branch_head(self, branch: str) -> str | None:
        """The commit branch ``branch`` points at (the branches API: a branch, never a tag of
        the same name, which anyone with write access can push), None when there is none."""

        def get() -> str:
            return str(self.repo.get_branch(branch).commit.sha)

        try:
            return self._call(f"read branch {branch}", get)
        except GitHubNotFound:
            return None

    def file_at(self, path: str, ref: str) -> bytes | None:
        """The bytes of ``path`` at ``ref`` through the contents API (None: not there).

        Files up to 1 MB come in the answer itself (GitHub's contents API); grants and
        policies are far smaller."""

        def get() -> bytes | None:
            found = self.repo.get_contents(path, ref=ref)
            if isinstance(found, list) or found.type != "file":
                return None
            return bytes(found.decoded_content)

        try:
            return self._call(f"read {path} at {ref}", get)
        except GitHubNotFound:
            return None

    def files_at(self, directory: str, ref: str, suffix: str) -> dict[str, bytes]:
        """``{path: bytes}`` of the files directly in ``directory`` at ``ref`` whose names end
        with ``suffix`` (nothing when the directory is not there)."""

        def listing() -> list[str]:
            found = self.repo.get_contents(directory, ref=ref)
            entries = found if isinstance(found, list) else [found]
            return sorted(e.path for e in entries if e.type == "file" and e.name.endswith(suffix))

        try:
            paths = self._call(f"list {directory}/ at {ref}", listing)
        except GitHubNotFound:
            return {}
        return {p: data for p in paths if (data := self.file_at(p, ref)) is not None}

    def pulls_for_commit(self, sha: str) -> list[int]:
        return self._call(
            f"find the pull request of commit {sha[:12]}",
            lambda: [p.number for p in self.repo.get_commit(sha).get_pulls()],
        )

    def comments(self, number: int) -> list[Comment]:
        return self._call(
            f"read the comments of #{number}",
            lambda: [
                Comment(c.id, c.user.login if c.user else "", c.body or "")
                for c in self.repo.get_issue(number).get_comments()
            ],
        )

    def branch_protection(self, branch: str) -> dict[str, Any] | None:
        """The protection of ``branch`` as plain data (None when it is not protected)."""

        def get() -> dict[str, Any]:
            p = self.repo.get_branch(branch).get_protection()
            checks = p.required_status_checks
            reviews = p.required_pull_request_reviews
            return {
                "contexts": list(checks.contexts) if checks else [],
                "dismiss_stale_reviews": bool(reviews.dismiss_stale_reviews) if reviews else False,
                "require_code_owner_reviews": (
                    bool(reviews.require_code_owner_reviews) if reviews else False
                ),
            }

        try:
            return self._call(f"read the protection of {branch}", get)
        except GitHubNotFound:
            return None

    def _get_list(self, what: str, url: str, max_pages: int = 10) -> list[dict[str, Any]]:
        """Every item of a paginated GET (100 a page, at most ``max_pages`` pages)."""

        def get() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            for page in range(1, max_pages + 1):
                _, data = self._gh.requester.requestJsonAndCheck(
                    "GET", url, {"per_page": 100, "page": page}
                )
                batch = [d for d in data or [] if isinstance(d, dict)]
                items += batch
                if len(batch) < 100:
                    break
            return items

        return self._call(what, get)

    def branch_rules(self, branch: str) -> list[dict[str, Any]]:
        """The active ruleset rules of ``branch`` as GitHub returns them (raw rule objects:
        ``type``, ``parameters``, ``ruleset_id``, ...). Read access is enough; rulesets in
        ``evaluate`` or ``disabled`` enforcement are not included."""
        url = f"/repos/{self.repo_full_name}/rules/branches/{quote(branch, safe='')}"
        return self._get_list(f"read the rules of branch {branch}", url)

    def rulesets(self) -> list[dict[str, Any]]:
        """The repository's rulesets (summaries: id, name, enforcement; no rules)."""
        return self._get_list("list the rulesets", f"/repos/{self.repo_full_name}/rulesets")

    def ruleset(self, ruleset_id: int) -> dict[str, Any]:
        """One ruleset with its rules and conditions; ``bypass_actors`` only when the token
        has write access to the ruleset (GitHub leaves the key out otherwise)."""

        def get() -> dict[str, Any]:
            url = f"/repos/{self.repo_full_name}/rulesets/{int(ruleset_id)}"
            _, data = self._gh.requester.requestJsonAndCheck("GET", url)
            return dict(data or {})

        return self._call(f"read ruleset {ruleset_id}", get)

    def _get_json(self, what: str, url: str, params: Mapping[str, Any] | None = None) -> Any:
        def get() -> Any:
            _, data = self._gh.requester.requestJsonAndCheck("GET", url, dict(params or {}))
            return data

        return self._call(what, get)

    def environment(self, name: str) -> dict[str, Any] | None:
        """``GET /repos/{o}/{r}/environments/{name}``: the environment (its
        ``deployment_branch_policy`` and ``protection_rules``), None when it does not exist."""
        url = f"/repos/{self.repo_full_name}/environments/{quote(name, safe='')}"
        try:
            return dict(self._get_json(f"read environment {name}", url) or {})
        except GitHubNotFound:
            return None

    def environment_branch_policies(self, name: str) -> list[dict[str, Any]]:
        """The custom deployment branch policies of environment ``name`` (``name``, ``type``)."""
        url = (
            f"/repos/{self.repo_full_name}/environments/{quote(name, safe='')}"
            "/deployment-branch-policies"
        )
        data = self._get_json(
            f"read the deployment branches of environment {name}", url, {"per_page": 100}
        )
        return [dict(p) for p in (data or {}).get("branch_policies") or []]

    def environment_secret_names(self, name: str) -> list[str]:
        """The names of environment ``name``'s secrets (GitHub never answers their values)."""
        url = f"/repos/{self.repo_full_name}/environments/{quote(name, safe='')}/secrets"
        data = self._get_json(f"list the secrets of environment {name}", url, {"per_page": 100})
        return [str(s.get("name")) for s in (data or {}).get("secrets") or []]

    def workflow(self, file: str) -> dict[str, Any] | None:
        """``GET /repos/{o}/{r}/actions/workflows/{file}``: the workflow and its ``state``
        (``active``, ``disabled_inactivity``, ``disabled_manually``, ...); None when GitHub
        does not know the file."""
        url = f"/repos/{self.repo_full_name}/actions/workflows/{quote(file, safe='')}"
        try:
            return dict(self._get_json(f"read workflow {file}", url) or {})
        except GitHubNotFound:
            return None

    def workflow_runs(self, file: str, *, event: str, count: int = 5) -> list[dict[str, Any]]:
        """The latest ``count`` runs of workflow ``file`` started by ``event``, newest first."""
        url = f"/repos/{self.repo_full_name}/actions/workflows/{quote(file, safe='')}/runs"
        data = self._get_json(
            f"list the runs of workflow {file}", url, {"event": event, "per_page": count}
        )
        return [dict(r) for r in (data or {}).get("workflow_runs") or []]

    def team_id(self, org: str, slug: str) -> int | None:
        """The numeric id of team ``@org/slug`` (what a ruleset's bypass list names), None when
        there is no such team."""

        def get() -> int | None:
            url = f"/orgs/{quote(org)}/teams/{quote(slug)}"
            try:
                _, data = self._gh.requester.requestJsonAndCheck("GET", url)
            except github.UnknownObjectException:
                return None
            return int(data["id"]) if isinstance(data, dict) and "id" in data else None

        try:
            return self._call(f"read team @{org}/{slug}", get)
        except GitHubNotFound:
            return None

    # -- writes -------------------------------------------------------------------------------
    def comment(self, number: int, body: str) -> int:
        return int(
            self._call(
                f"comment on #{number}",
                lambda: self.repo.get_issue(number).create_comment(body).id,
            )
        )

    def upsert_comment(self, number: int, marker: str, body: str) -> int:
        """Keep exactly one comment carrying ``marker`` (written by us) up to date."""
        marked = [c for c in self.comments(number) if marker in c.body]
        me = self.whoami() if marked else ""  # nothing to update: no need to ask who we are
        for c in marked:
            if c.author.lower() == me.lower():
                if c.body != body:
                    self.edit_comment(number, c.id, body)
                return c.id
        return self.comment(number, body)

    def edit_comment(self, number: int, comment_id: int, body: str) -> None:
        """Replace the body of issue comment ``comment_id`` (on #``number``): one
        ``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``
        (https://docs.github.com/en/rest/issues/comments#update-an-issue-comment; the issue and
        comment objects are lazy, so nothing is read first)."""
        self._call(
            f"update the jitops comment on #{number}",
            lambda: self.repo.get_issue(number).get_comment(comment_id).edit(body),
        )

    def set_status(
        self, sha: str, context: str, state: str, description: str, target_url: str | None = None
    ) -> None:
        kwargs: dict[str, Any] = {
            "state": state,
            "description": description[:140],
            "context": context,
        }
        if target_url:
            kwargs["target_url"] = target_url
        self._call(
            f"set the {context} status", lambda: self.repo.get_commit(sha).create_status(**kwargs)
        )

    def request_reviewers(self, number: int, users: list[str], teams: list[str]) -> None:
        """Ask ``users`` and ``teams`` (slugs of this repository's organisation) for review.

        People and teams already asked, and the author (GitHub refuses that), are skipped;
        nothing is sent when nobody is left.
        """

        if not users and not teams:
            return
        pull = self._call(f"read pull request #{number}", lambda: self._pull(number))
        author = pull.user.login.lower()
        asked = {u.login.lower() for u in pull.requested_reviewers or []} | {author}
        asked_teams = {t.slug.lower() for t in pull.requested_teams or []}
        new_users = list(dict.fromkeys(u for u in users if u.lower() not in asked))
        new_teams = list(dict.fromkeys(t for t in teams if t.lower() not in asked_teams))
        if new_users or new_teams:
            self._call(
                f"request reviews on #{number}",
                lambda: pull.create_review_request(
                    reviewers=new_users or github.GithubObject.NotSet,
                    team_reviewers=new_teams or github.GithubObject.NotSet,
                ),
            )

    def add_labels(self, number: int, labels: list[str]) -> None:
        if labels:
            self._call(
                f"label #{number}", lambda: self.repo.get_issue(number).add_to_labels(*labels)
            )

    def create_pull(self, head: str, base: str, title: str, body: str) -> int:
        return int(
            self._call(
                "open the pull request",
                lambda: self.repo.create_pull(base=base, head=head, title=title, body=body).number,
            )
        )


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        return str(data.get("message", ""))
    return str(data or "")


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _rate_limit(
    status: int, message: str, headers: Mapping[str, Any], now: float
) -> tuple[float | None, float | None] | None:
    """``(wait, retry_at)`` when the answer is a rate limit (None: it is not one).

    GitHub's docs (rest/using-the-rest-api/rate-limits-for-the-rest-api): exceeding the
    primary limit is 403 or 429 with ``x-ratelimit-remaining: 0`` ("do not retry until after
    the time specified by x-ratelimit-reset"); a secondary limit is 403 or 429, "if the
    retry-after response header is present, do not retry until after that many seconds ...
    otherwise wait for at least one minute". ``wait`` None: secondary without retry-after.
    """
    if status not in (403, 429):
        return None
    retry_after = _header(headers, "retry-after")
    if retry_after is not None:
        try:
            seconds = max(0.0, float(retry_after))
        except ValueError:
            seconds = SECONDARY_WAIT
        return seconds, now + seconds
    if _header(headers, "x-ratelimit-remaining") == "0":
        try:
            reset = float(_header(headers, "x-ratelimit-reset") or "")
        except ValueError:
            return None, None
        return max(0.0, reset - now) + 1.0, reset
    if status == 429 or "rate limit" in message.lower():
        return None, None  # secondary (or unspecified): at least one minute
    return None


def _rate_limited(what: str, message: str, retry_at: float | None, now: float) -> GitHubError:
    when = ""
    if retry_at is not None:
        at = datetime.fromtimestamp(retry_at, UTC)
        wait = timedelta(seconds=max(0, round(retry_at - now)))
        when = f" until {at.strftime('%Y-%m-%dT%H:%M:%SZ')} (in {wait})"
    error = GitHubRateLimited(
        f"GitHub's rate limit stopped jitops while trying to {what} ({message or 'rate limited'});"
        f" GitHub asks to wait{when or ' a few minutes'}: re-run after that (jitops jobs are "
        "safe to re-run), or use a token with a higher limit (a GitHub App installation token)"
    )
    error.retry_at = datetime.fromtimestamp(retry_at, UTC) if retry_at is not None else None
    return error


def _translate(what: str, status: int, message: str) -> GitHubError:
    error = _translated(what, status, message)
    error.status = status
    return error


def _translated(what: str, status: int, message: str) -> GitHubError:
    if status == 401:
        return GitHubAuthError(
            f"GitHub refused the token while trying to {what} ({message or 'bad credentials'}); "
            "check JITOPS_GITHUB_TOKEN / GITHUB_TOKEN"
        )
    if status == 403:
        return GitHubAuthError(
            f"GitHub denied access while trying to {what} ({message}); give the token the "
            "permission this needs (see docs/setup.md)"
        )
    if status == 404:
        return GitHubNotFound(
            f"GitHub says not found while trying to {what}; check the repository name, the "
            "number, and that the token can see the repository"
        )
    return GitHubError(f"GitHub answered {status} while trying to {what}: {message}")
