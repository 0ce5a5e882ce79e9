"""`jitops audit`'s reads: git (through the door) handed as plain data to :mod:`jitops.audit`.

The audit itself is pure; this module streams the commits, reads the grant files in one batch,
and, for ``audit verify``, the policies that judged unreviewed issues and the signatures.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jitops.audit import history as audit
from jitops.audit import verify as audit_verify
from jitops.audit.history import History, Record
from jitops.core.grant import GRANTS_DIR, grant_ids_in
from jitops.doors.git import Git, GitError


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
    at the issue commit's first parent. The policy trees of all those parents are resolved in
    one batched read; each distinct policy version is loaded once. Unreadable: needs review."""
    from jitops.core.policy import POLICY_DIR, PolicyError, load_policy  # verify only

    if not records:
        return {}
    names = {r.issue_sha: f"{r.issue_sha}^1:{POLICY_DIR}" for r in records if r.issue_sha}
    trees = git.resolve_many(list(names.values()))
    policies: dict[str, Any] = {}
    out: dict[str, bool] = {}
    for r in records:
        assert r.issue_sha is not None
        tree = trees.get(names[r.issue_sha])
        if tree is None:
            out[r.issue_sha] = True
            continue
        if tree not in policies:
            try:
                policies[tree] = load_policy(git.files_at(f"{r.issue_sha}^1", POLICY_DIR, ".yaml"))
            except (PolicyError, GitError):
                policies[tree] = None
        role = policies[tree].roles.get(r.role or "") if policies[tree] is not None else None
        out[r.issue_sha] = role is None or bool(role.approvals)
    return out
