"""Merging a pull request as GitHub does: merge, squash and rebase, and the merge queue.

The store's ``merge_pull`` and ``land_queued`` call these with itself; what they use of it is
:class:`MergeView` (this module never imports the store).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from jitops_sandbox.github import rulesets
from jitops_sandbox.github.errors import APIError, SandboxError, validation_failed
from jitops_sandbox.github.gitrepo import Identity
from jitops_sandbox.github.model import MERGE_METHODS

if TYPE_CHECKING:
    from jitops_sandbox.github.model import Pull


class MergeView(rulesets.RulesView, Protocol):
    """What a merge uses of the repository: the rules' view, its lock and clock, the merge
    methods it allows, its pull requests and its classic branch protection."""

    owner: str
    merge_methods: dict[str, bool]
    clock: Callable[[], datetime]

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def pull(self, number: int) -> Pull: ...
    def head_sha(self, pull: Pull) -> str: ...
    def check_protection(self, pull: Pull, merger: str | None = None) -> None: ...


def merge_pull(
    store: MergeView,
    number: int,
    merged_by: str,
    *,
    method: str = "merge",
    commit_title: str | None = None,
    commit_message: str | None = None,
    sha: str | None = None,
    enforce: bool = True,
    at: datetime | None = None,
    queue: bool = False,
) -> str:
    """Merge as GitHub's ``PUT /pulls/{n}/merge`` does; returns ``merge_commit_sha``.

    - ``merge``: one commit with two parents, the base tip first;
    - ``squash``: one commit with one parent (the base tip) and the PR's net change;
      its message is ``commit_title`` (default ``<PR title> (#n)``) and
      ``commit_message`` (default: the PR's commit messages as a list);
    - ``rebase``: every non-merge commit of the PR replayed onto the base tip (new shas,
      a new committer), no merge commit; ``merge_commit_sha`` is the last replayed one.

    GitHub's docs: data/reusables/pull_requests/{squash,rebase}_and_merge_summary.md.
    A method the repository does not allow answers 405 ("Merge commits are not allowed
    on this repository."), a ``sha`` that is not the head 409, as GitHub does.
    """
    with store.lock:
        pull = store.pull(number)
        user = store.user(merged_by)
        if method not in MERGE_METHODS:
            raise validation_failed(
                {"resource": "PullRequest", "field": "merge_method", "code": "invalid"}
            )
        if not store.merge_methods[method]:
            noun = {"merge": "Merge commits", "squash": "Squash merges"}
            raise APIError(
                405,
                f"{noun.get(method, 'Rebase merges')} are not allowed on this repository.",
            )
        if pull.state != "open":
            raise APIError(405, "Pull Request is not mergeable")
        head = store.head_sha(pull)
        if sha and sha != head:
            raise APIError(409, "Head branch was modified. Review and try the merge again.")
        if enforce:
            store.check_protection(pull, user.login)
            rulesets.check(store, pull, user, method, head, queued=queue)
        now = at or store.clock()
        base_tip = store.git.branch_sha(pull.base_ref)
        if base_tip is None:
            raise APIError(405, "Pull Request is not mergeable")
        target = pull.base_ref
        if queue:
            # GitHub's merge queue: the merge is built on a temporary branch
            # gh-readonly-queue/<base>/pr-<n>-<base sha>, checked (merge_group), then the
            # base branch is fast-forwarded to it
            target = f"gh-readonly-queue/{pull.base_ref}/pr-{number}-{base_tip}"
            store.git.set_branch(target, base_tip, "0" * 40)
        fork = store.git.merge_base(base_tip, head) or base_tip
        author = Identity(user.login, user.email, now)
        committer = Identity("GitHub", "noreply@github.com", now)
        try:
            if method == "merge":
                title = commit_title or (
                    f"Merge pull request #{number} from {store.owner}/{pull.head_ref}"
                )
                body = pull.title if commit_message is None else commit_message
                text = f"{title}\n\n{body}\n" if body else f"{title}\n"
                landed = [store.git.merge_no_ff(target, head, text, author, committer)]
            elif method == "squash":
                title = commit_title or f"{pull.title} (#{number})"
                if commit_message is None:
                    shas = reversed(store.git.commits_between(fork, head))
                    body = "\n\n".join(f"* {store.git.commit_info(c).message}" for c in shas)
                else:
                    body = commit_message
                text = f"{title}\n\n{body}\n" if body else f"{title}\n"
                landed = [store.git.squash(target, head, text, author, committer)]
            else:
                landed = store.git.rebase(target, fork, head, committer)
        except SandboxError as exc:
            if queue:
                store.git.delete_branch(target)
            raise APIError(405, "Pull Request is not mergeable") from exc
        if queue:
            pull.queue_ref = target
            pull.queued_by = user.login
            pull.merge_method = method
            return landed[-1]
        pull.last_base_sha = base_tip
        pull.last_head_sha = head
        pull.state = "closed"
        pull.merged_at = pull.closed_at = pull.updated_at = now
        pull.merged_by = user.login
        pull.merge_commit_sha = landed[-1]
        pull.merge_method = method
        pull.landed = landed
        return landed[-1]


def land_queued(store: MergeView, number: int, at: datetime | None = None) -> str:
    """Fast-forward the base branch to the PR's merge-queue commit, delete the queue
    branch, and mark the PR merged (``merge_commit_sha``: the queue commit)."""
    with store.lock:
        pull = store.pull(number)
        if pull.queue_ref is None or pull.state != "open":
            raise SandboxError(f"pull request #{number} is not in the merge queue")
        queued = store.git.branch_sha(pull.queue_ref)
        base_tip = store.git.branch_sha(pull.base_ref)
        built_on = pull.queue_ref.rsplit("-", 1)[1]
        if queued is None or base_tip != built_on:
            raise SandboxError(f"{pull.base_ref} moved since #{number} was queued")
        landed = store.git.commits_between(base_tip, queued)[::-1]
        store.git.set_branch(pull.base_ref, queued, base_tip)
        store.git.delete_branch(pull.queue_ref)
        now = at or store.clock()
        pull.last_base_sha = base_tip
        pull.state = "closed"
        pull.merged_at = pull.closed_at = pull.updated_at = now
        pull.merge_commit_sha = queued
        pull.merged_by = pull.queued_by
        pull.landed = [
            c for c in landed if c not in store.git.commits_between(base_tip, pull.last_head_sha)
        ]
        pull.queue_ref = None
        return queued
