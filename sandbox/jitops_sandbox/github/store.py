"""The stand-in's state and the operations on it, shared by the HTTP routes and the Python API.

Every operation runs under one re-entrant lock, so concurrent requests (and a test driving
the Python API at the same time) see a consistent repository.  Operations raise
:class:`APIError` with GitHub's status codes and error bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jitops_sandbox.github import merging, rulesets
from jitops_sandbox.github.accounts import Accounts
from jitops_sandbox.github.errors import APIError, SandboxError, not_found, validation_failed
from jitops_sandbox.github.gitrepo import BareRepo
from jitops_sandbox.github.model import (
    MERGE_METHODS,
    REVIEW_STATES,
    STATUS_STATES,
    Comment,
    Environment,
    Label,
    Protection,
    Pull,
    Review,
    Status,
    Workflow,
    WorkflowRun,
)
from jitops_sandbox.github.rulesets import Ruleset

_DOCS = "https://docs.github.com/rest"
_MAX_STATUSES = 1000


class Store(Accounts):
    """The one repository's pull requests, comments, reviews and statuses (and the accounts)."""

    def __init__(
        self, owner: str, name: str, repo: BareRepo, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(clock)
        self.owner = owner
        self.name = name
        self.git = repo
        self.pulls: dict[int, Pull] = {}
        self.protections: dict[str, Protection] = {}
        self.environments: dict[str, Environment] = {}
        self.comments: dict[int, Comment] = {}
        self.reviews: dict[int, Review] = {}
        self.statuses: list[Status] = []
        self.labels: dict[str, Label] = {}
        # the repository's allow_merge_commit / allow_squash_merge / allow_rebase_merge
        self.merge_methods = dict.fromkeys(MERGE_METHODS, True)
        self.rulesets: dict[int, Ruleset] = {}
        self.workflows: dict[str, Workflow] = {}  # by file name, e.g. jitops-sweep.yml
        self.workflow_runs: list[WorkflowRun] = []
        self.repo_id = self.new_id()
        self.add_org(owner)

    # -- pull requests ----------------------------------------------------------------------

    def pull(self, number: int) -> Pull:
        found = self.pulls.get(number)
        if found is None:
            raise not_found(f"no pull request #{number}")
        return found

    def head_sha(self, pull: Pull) -> str:
        """The PR's head commit, read live from the branch while the PR is open."""
        if pull.state == "open":
            live = self.git.branch_sha(pull.head_ref)
            if live and live != pull.last_head_sha:
                pull.last_head_sha = live
                rule = self.protections.get(pull.base_ref)
                if (rule is not None and rule.dismiss_stale_reviews) or rulesets.dismisses_stale(
                    self, pull.base_ref
                ):
                    self._dismiss_approvals(pull.number)
        return pull.last_head_sha

    def _dismiss_approvals(self, number: int) -> None:
        """'Dismiss stale pull request approvals when new commits are pushed'."""
        for review in self.reviews.values():
            if review.number == number and review.state == "APPROVED":
                review.state = "DISMISSED"

    def check_protection(self, pull: Pull, merger: str | None = None) -> None:
        """Refuse (405, GitHub's wording) a merge that the base branch's protection forbids.

        Approvals: each reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED review
        counts, the author's never; any reviewer (not only writers) counts here.
        """
        rule = self.protections.get(pull.base_ref)
        if rule is None:
            return
        head = self.head_sha(pull)
        if rule.required_approvals:
            latest: dict[str, str] = {}
            for review in sorted(self.reviews.values(), key=lambda r: r.id):
                if review.number == pull.number and review.state in (
                    "APPROVED",
                    "CHANGES_REQUESTED",
                    "DISMISSED",
                ):
                    latest[review.author.lower()] = review.state
            latest.pop(pull.author.lower(), None)
            if "CHANGES_REQUESTED" in latest.values():
                raise APIError(405, "Merging is blocked: a reviewer requested changes.")
            approvals = sum(1 for state in latest.values() if state == "APPROVED")
            if approvals < rule.required_approvals:
                n = rule.required_approvals
                raise APIError(
                    405,
                    f"At least {n} approving review{'s are' if n > 1 else ' is'} required by "
                    "reviewers with write access.",
                )
        if rule.require_code_owner_reviews or rule.require_last_push_approval:
            found = rulesets.pull_request_violations(
                self,
                pull,
                {
                    "require_code_owner_review": rule.require_code_owner_reviews,
                    "require_last_push_approval": rule.require_last_push_approval,
                },
                "",
                head,
            )
            if found:
                raise APIError(405, found[0])
        for context in rule.required_checks:
            mine = [s for s in self.statuses if s.sha == head and s.context == context]
            if not mine:
                raise APIError(405, f'Required status check "{context}" is expected.')
            if mine[-1].state != "success":
                raise APIError(405, f'Required status check "{context}" is failing.')

    def pusher(self, sha: str, pull: Pull) -> str:
        """Who pushed ``sha``: the account of its committer's e-mail, else the PR's author."""
        email = self.git.commit_info(sha).committer_email.lower()
        for user in self.users.values():
            if user.email.lower() == email:
                return user.login
        return pull.author

    def base_sha(self, pull: Pull) -> str:
        if pull.state == "open":
            live = self.git.branch_sha(pull.base_ref)
            if live:
                pull.last_base_sha = live
        return pull.last_base_sha

    def open_pull(
        self, author: str, head: str, base: str, title: str, body: str = "", draft: bool = False
    ) -> Pull:
        docs = f"{_DOCS}/pulls/pulls#create-a-pull-request"
        with self.lock:
            user = self.user(author)
            if ":" in head:
                owner, head = head.split(":", 1)
                if owner.lower() != self.owner.lower():
                    raise validation_failed(
                        {"resource": "PullRequest", "field": "head", "code": "invalid"},
                        documentation_url=docs,
                    )
            if not title:
                raise validation_failed(
                    {"resource": "PullRequest", "field": "title", "code": "missing_field"},
                    documentation_url=docs,
                )
            head_sha = self.git.branch_sha(head)
            base_sha = self.git.branch_sha(base)
            if base_sha is None:
                raise validation_failed(
                    {"resource": "PullRequest", "field": "base", "code": "invalid"},
                    documentation_url=docs,
                )
            if head_sha is None:
                raise validation_failed(
                    {"resource": "PullRequest", "field": "head", "code": "invalid"},
                    documentation_url=docs,
                )
            for other in self.pulls.values():
                if other.state == "open" and other.head_ref == head and other.base_ref == base:
                    raise validation_failed(
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {self.owner}:{head}.",
                        },
                        documentation_url=docs,
                    )
            if head == base or self.git.is_ancestor(head_sha, base_sha):
                raise validation_failed(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {base} and {head}",
                    },
                    documentation_url=docs,
                )
            now = self.clock()
            pull = Pull(
                number=len(self.pulls) + 1,
                id=self.new_id(),
                author=user.login,
                title=title,
                body=body,
                head_ref=head,
                base_ref=base,
                draft=draft,
                created_at=now,
                updated_at=now,
                last_head_sha=head_sha,
                last_base_sha=base_sha,
            )
            self.pulls[pull.number] = pull
            return pull

    def close_pull(self, pull: Pull, state: str) -> None:
        with self.lock:
            if pull.merged:
                return
            self.head_sha(pull)
            self.base_sha(pull)
            pull.state = state
            pull.closed_at = None if state == "open" else self.clock()
            pull.updated_at = self.clock()

    # merges live in merging.py (merge, squash, rebase, the merge queue)
    def merge_pull(self, number: int, merged_by: str, **options: Any) -> str:
        """:func:`jitops_sandbox.github.merging.merge_pull` on this repository."""
        return merging.merge_pull(self, number, merged_by, **options)

    def land_queued(self, number: int, at: datetime | None = None) -> str:
        """:func:`jitops_sandbox.github.merging.land_queued` on this repository."""
        return merging.land_queued(self, number, at)

    def pulls_for_commit(self, sha: str) -> list[Pull]:
        """Merged PRs that introduced ``sha``; open PRs containing it when it is off main."""
        with self.lock:
            default = self.git.branch_sha("main")
            on_default = default is not None and self.git.is_ancestor(sha, default)
            found = []
            for pull in sorted(self.pulls.values(), key=lambda p: -p.number):
                if pull.merged:
                    base = pull.last_base_sha
                    if sha in pull.landed or sha in self.git.commits_between(
                        base, pull.last_head_sha
                    ):
                        found.append(pull)
                elif pull.state == "open" and not on_default:
                    head = self.head_sha(pull)
                    if sha in self.git.commits_between(self.base_sha(pull), head):
                        found.append(pull)
            return found

    def request_reviewers(self, pull: Pull, users: list[str], teams: list[str]) -> None:
        with self.lock:
            bad = [u for u in users if u.lower() not in self.users]
            bad += [t for t in teams if self.find_team(self.owner, t) is None]
            if bad:
                raise APIError(
                    422,
                    "Reviews may only be requested from collaborators. One or more of the users "
                    "or teams you specified is not a collaborator of the "
                    f"{self.owner}/{self.name} repository.",
                )
            if any(u.lower() == pull.author.lower() for u in users):
                raise APIError(422, "Review cannot be requested from pull request author.")
            for login in users:
                canonical = self.user(login).login
                if canonical not in pull.requested_reviewers:
                    pull.requested_reviewers.append(canonical)
            for slug in teams:
                canonical = self.team(self.owner, slug).slug
                if canonical not in pull.requested_teams:
                    pull.requested_teams.append(canonical)

    # -- reviews, comments, statuses, labels ------------------------------------------------

    def add_review(
        self,
        number: int,
        author: str,
        state: str,
        body: str = "",
        commit_id: str | None = None,
        allow_self_approval: bool = False,
        at: datetime | None = None,
    ) -> Review:
        """A review, accepted on open, closed and merged PRs alike (GitHub does: reviews
        after the merge exist); ``commit_id`` defaults to the head (frozen at merge)."""
        with self.lock:
            pull = self.pull(number)
            user = self.user(author)
            if state not in REVIEW_STATES:
                raise SandboxError(f"review state {state} is not one of {REVIEW_STATES}")
            own = user.login.lower() == pull.author.lower()
            if own and state in ("APPROVED", "CHANGES_REQUESTED") and not allow_self_approval:
                verb = "approve" if state == "APPROVED" else "request changes on"
                raise APIError(
                    422, "Unprocessable Entity", errors=[f"Can not {verb} your own pull request"]
                )
            if commit_id is None:
                commit_id = self.head_sha(pull)
            elif self.git.resolve(commit_id) is None:
                raise APIError(422, "Unprocessable Entity", errors=["Commit not found"])
            review = Review(
                id=self.new_id(),
                number=number,
                author=user.login,
                state=state,
                body=body,
                commit_id=self.git.resolve(commit_id) or commit_id,
                submitted_at=None if state == "PENDING" else (at or self.clock()),
            )
            self.reviews[review.id] = review
            if state != "PENDING":
                pull.requested_reviewers = [
                    r for r in pull.requested_reviewers if r.lower() != user.login.lower()
                ]
            return review

    def dismiss_review(self, number: int, review_id: int) -> Review:
        with self.lock:
            review = self.reviews.get(review_id)
            if review is None or review.number != number:
                raise not_found()
            if review.state == "PENDING":
                raise APIError(422, "Can not dismiss a pending review")
            review.state = "DISMISSED"
            return review

    def add_comment(self, number: int, author: str, body: str) -> Comment:
        with self.lock:
            self.pull(number)
            if not body:
                raise validation_failed(
                    {"resource": "IssueComment", "code": "missing_field", "field": "body"}
                )
            now = self.clock()
            comment = Comment(self.new_id(), number, self.user(author).login, body, now, now)
            self.comments[comment.id] = comment
            return comment

    def comment(self, comment_id: int) -> Comment:
        found = self.comments.get(comment_id)
        if found is None:
            raise not_found(f"no comment {comment_id}")
        return found

    def add_status(
        self,
        sha: str,
        state: str,
        creator: str,
        context: str = "default",
        description: str | None = None,
        target_url: str | None = None,
    ) -> Status:
        with self.lock:
            full = self.git.resolve(sha)
            if full is None:
                raise APIError(422, f"No commit found for SHA: {sha}")
            if state not in STATUS_STATES:
                raise validation_failed(
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "state",
                        "message": "state is not included in the list",
                    }
                )
            same = [s for s in self.statuses if s.sha == full and s.context == context]
            if len(same) >= _MAX_STATUSES:
                raise validation_failed(
                    {
                        "resource": "Status",
                        "code": "custom",
                        "message": "This SHA and context has reached the maximum number of "
                        "statuses.",
                    }
                )
            status = Status(
                id=self.new_id(),
                sha=full,
                state=state,
                context=context,
                description=description,
                target_url=target_url,
                creator=self.user(creator).login,
                created_at=self.clock(),
            )
            self.statuses.append(status)
            return status

    def label(self, name: str, create: bool = False) -> Label:
        with self.lock:
            found = self.labels.get(name.lower())
            if found is None:
                if not create:
                    raise not_found()
                found = self.labels[name.lower()] = Label(self.new_id(), name)
            return found

    def add_labels(self, pull: Pull, names: list[str]) -> None:
        with self.lock:
            for name in names:
                label = self.label(name, create=True)
                if label.name not in pull.labels:
                    pull.labels.append(label.name)

    def remove_label(self, pull: Pull, name: str) -> None:
        with self.lock:
            match = [n for n in pull.labels if n.lower() == name.lower()]
            if not match:
                raise APIError(404, "Label does not exist")
            pull.labels.remove(match[0])
