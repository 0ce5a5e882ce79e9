"""`jitops audit`'s reads: git (through the door) handed as plain data to :mod:`jitops.audit`.

The audit itself is pure; this module streams the commits, reads the grant files in one batch,
the policies that judged issued grants (static secrets; for ``audit verify``, unreviewed
issues) and the signatures.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitops.audit import history as audit
from jitops.audit import verify as audit_verify
from jitops.audit.history import History, Record
from jitops.core.grant import GRANTS_DIR, grant_ids_in
from jitops.doors.git import Git, GitError

if TYPE_CHECKING:
    from jitops.core.policy import Policy, Role


def load_history(git: Git, ref: str, *, check_status: bool = False) -> History:
    """The git door's plain data (streamed commits, the ids in grants/, a batched blob
    reader) handed to the pure audit core."""
    present = grant_ids_in(
        [e.path for e in git.ls_tree(ref, GRANTS_DIR)] if git.rev_parse(ref) else []
    )
    reader = git.blob_stream()  # reads the grant files while the log is still streaming
    # the build allocates a few objects per commit and frees none of them, and makes no
    # reference cycles: the cyclic collector would only walk the growing heap again and
    # again (about 7% of the audit's CPU at 40,000 commits, more as the history grows)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return audit.build(git.log_records(ref), present, reader, check_status=check_status)
    except BaseException:
        reader.close()
        raise
    finally:
        if collecting:
            gc.enable()


def request_times(git: Git, records: Iterable[Record]) -> dict[str, datetime]:
    """``{head sha: when}``: when each request's final version was written, as far as git
    knows (the pull request's head commit's committer time; for a squash or rebase merge, the
    merge commit's author time), read in one batch (see ``report.APPROVAL_NOTE``)."""
    squashed = {r.head_sha for r in records if r.head_sha and r.head_sha == r.added_sha}
    heads = sorted({r.head_sha for r in records if r.head_sha})
    times = git.commit_times(heads)
    return {
        sha: datetime.fromtimestamp(at if sha in squashed else ct, UTC)
        for sha, (at, ct) in times.items()
    }


def verify_ledger(
    git: Git,
    ref: str,
    *,
    now: datetime,
    tolerance: timedelta,
    allowed_signers: Path | None = None,
) -> tuple[History, list[str], Any]:
    """The history at ``ref``, what ``audit verify`` finds wrong with it, and the signatures
    it checked (None without ``allowed_signers``)."""
    history = load_history(git, ref, check_status=True)
    needs_review = roles_needing_review(git, audit_verify.unreviewed_issues(history))
    signatures = (
        git.signatures(history.own, allowed_signers) if allowed_signers is not None else None
    )
    problems = audit_verify.verify(
        history, now=now, tolerance=tolerance, needs_review=needs_review, signatures=signatures
    )
    return history, problems, signatures


def roles_needing_review(git: Git, records: list[Record]) -> dict[str, bool]:
    """``{issue sha: role needed review}`` for issues without approvers, judged by the policy
    at the issue commit's first parent (:func:`roles_at_issue`). Unreadable: needs review."""
    return {
        sha: role is None or bool(role.approvals)
        for sha, role in roles_at_issue(git, records).items()
    }


def note_static_secrets(git: Git, records: Iterable[Record]) -> None:
    """Mark the issued ``records`` whose role handed out a secret that outlives the grant
    (``static_secret``), judged by the policy at each issue commit's first parent."""
    issued = [r for r in records if r.issue_sha and r.issued_at is not None]
    roles = roles_at_issue(git, issued)
    found = {sha: None if r is None else (r.static_secret or False) for sha, r in roles.items()}
    audit.note_static_secrets(issued, found)


def roles_at_issue(git: Git, records: Iterable[Record]) -> dict[str, Role | None]:
    """``{issue sha: the record's role as the policy at the issue commit's first parent
    defined it}`` (the policy that judged the issue), None when that policy cannot be read or
    has no such role. Only issued records are read, in three batched git reads whatever their
    number: the policies/ trees (named through ``Record.policy_commit``: one name per policy
    version the history walk saw, not one per issue), the distinct trees, then their files.
    Each distinct policy version is loaded once, as it was then: a role with a secret that
    has no lease and no ``static: true`` predates that rule and still loads."""
    issued = [r for r in records if r.issue_sha]
    if not issued:
        return {}
    names = {
        r.issue_sha: f"{r.policy_commit or r.issue_sha + '^1'}:{audit.POLICY_DIR}"
        for r in issued
        if r.issue_sha
    }
    trees = git.resolve_many(list(dict.fromkeys(names.values())))
    try:
        files = git.files_in_trees([t for t in trees.values() if t], audit.POLICY_DIR, ".yaml")
    except GitError:
        files = {}
    policies: dict[str, Policy | None] = {}
    for tree, contents in files.items():
        from jitops.core.policy import PolicyError, load_policy  # only when one is read

        try:
            policies[tree] = load_policy(contents, require_static_mark=False)
        except PolicyError:
            policies[tree] = None
    out: dict[str, Role | None] = {}
    for r in issued:
        assert r.issue_sha is not None
        found = trees.get(names[r.issue_sha])
        policy = policies.get(found) if found is not None else None
        out[r.issue_sha] = policy.roles.get(r.role or "") if policy is not None else None
    return out
