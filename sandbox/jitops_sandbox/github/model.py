"""The stand-in's records: users, teams, pull requests, comments, reviews, statuses, labels.

Mutable on purpose (they are the server's state, changed under the store's lock); the values
handed to tests (:class:`RequestRecord`) are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MERGE_METHODS = ("merge", "squash", "rebase")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
STATUS_STATES = ("error", "failure", "pending", "success")


def iso(when: datetime) -> str:
    """GitHub's timestamp format: ``2026-11-23T12:00:00Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SSHKey:
    """A public SSH key on an account (GitHub's ``key`` schema: the owner's view of it)."""

    id: int
    key: str
    title: str
    created_at: datetime


@dataclass
class User:
    login: str
    id: int
    token: str
    write: bool = False
    bot: bool = False
    name: str | None = None
    keys: list[SSHKey] = field(default_factory=list)
    app_id: int | None = None  # a GitHub App's installation acting as this bot account
    admin: bool = False  # the repository admin role (a ruleset's RepositoryRole bypass)

    @property
    def email(self) -> str:
        return f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass
class Org:
    login: str
    id: int


@dataclass
class Team:
    id: int
    org: str
    slug: str
    name: str
    description: str = ""
    # lower-cased login -> (login, role) where role is "member" or "maintainer"
    members: dict[str, tuple[str, str]] = field(default_factory=dict)
    # invited, not yet accepted: lower-cased login -> (login, role); never counted as members
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)
    parent_id: int | None = None


@dataclass
class Pull:
    number: int
    id: int
    author: str
    title: str
    body: str
    head_ref: str
    base_ref: str
    draft: bool
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    merge_method: str | None = None  # merge | squash | rebase | queue, once merged
    # the commits the merge put on the base branch (the merge commit, the squash commit or
    # every replayed commit, oldest first)
    landed: list[str] = field(default_factory=list)
    queue_ref: str | None = None  # its merge-queue branch while queued
    queued_by: str | None = None
    # the last head/base seen, kept when the branch is deleted and frozen at merge
    last_head_sha: str = ""
    last_base_sha: str = ""
    labels: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Comment:
    id: int
    number: int
    author: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Review:
    id: int
    number: int
    author: str
    state: str
    body: str
    commit_id: str
    submitted_at: datetime | None


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: datetime


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Protection:
    """Branch protection, as far as the stand-in models it (None approvals: no PR rule)."""

    required_checks: list[str] = field(default_factory=list)
    strict: bool = False
    required_approvals: int | None = None
    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    require_last_push_approval: bool = False
    enforce_admins: bool = False


@dataclass
class Environment:
    """A deployment environment; ``branches`` None lets every branch deploy to it."""

    id: int
    name: str
    branches: list[str] | None = None
    protected_branches: bool = False
    secrets: list[str] = field(default_factory=list)  # environment secret names


@dataclass
class Workflow:
    """A workflow file of ``.github/workflows``; ``state`` as GitHub names it (``active``,
    ``disabled_manually``, ``disabled_inactivity``, ...)."""

    id: int
    path: str
    name: str
    state: str = "active"


@dataclass(frozen=True)
class WorkflowRun:
    """One run of a workflow (what a doctor reads: when, from which event, how it ended)."""

    id: int
    workflow_id: int
    event: str
    created_at: datetime
    head_sha: str
    conclusion: str | None = "success"


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered: path without the API prefix or the query string.

    ``route`` is the stand-in's route template that answered (None: no route, or a fault),
    ``body`` the JSON body sent back (None: no body), ``fault`` True when an injected fault
    answered instead of the stand-in (so contract checks leave it out).
    """

    method: str
    path: str
    query: str
    status: int
    user: str | None
    route: str | None = None
    body: Any = field(default=None, compare=False, repr=False)
    fault: bool = False


@dataclass
class Fault:
    """An injected failure: answer the next ``remaining`` matching requests with ``status``."""

    remaining: int
    status: int
    body: dict[str, object]
    headers: dict[str, str]
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path
