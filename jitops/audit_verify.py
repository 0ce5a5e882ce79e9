"""`jitops audit verify`: the ledger's invariants, checked from git alone.

Each violation is one line. What counts as a pull request merge: GitHub's merge commit (two
parents, subject "Merge pull request #N from owner/branch") or a squash / rebase merge (one
parent, subject ending in "(#N)"). What counts as jitops' own commit: one whose trailers
carry a valid ``Jitops-Action`` (DESIGN.md section 5). The commit author is not checked:
anyone who can push can write any author name, so the real protection stays branch protection
(`jitops doctor` checks it); this check finds what slipped past it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jitops.audit import History, Record
from jitops.grant import format_time
from jitops.ledger import Git, GitError


def verify(git: Git, history: History, *, now: datetime, tolerance: timedelta) -> list[str]:
    """One line per violated invariant (empty: the ledger is consistent)."""
    out = [str(f) for f in history.findings]
    out += [
        f"{sha[:12]}: commit touching grants/ came neither from a pull request merge nor from "
        f"jitops ({subject[:60]!r})"
        for sha, subject in history.unexplained
    ]
    unreviewed = [
        r for r in history.records.values() if r.issue_sha is not None and not r.approved_by
    ]
    needs_review = _roles_needing_review(git, unreviewed)
    for r in sorted(history.records.values(), key=lambda r: r.grant):
        out += _check_record(r, needs_review, now, tolerance)
    return out


def _check_record(
    r: Record, needs_review: dict[str, bool], now: datetime, tolerance: timedelta
) -> list[str]:
    out = []
    if r.issue_sha is not None:
        at = f"{r.issue_sha[:12]}: issue of {r.grant}"
        if r.pull_request is None:
            out.append(f"{at} has no pull request")
        if r.added == 0:
            out.append(f"{at}, but no commit in this history added its file (rewritten history?)")
        elif r.added_pr is None:
            out.append(f"{at}, whose file was not added by a pull request merge")
        elif r.pull_request is not None and r.added_pr != r.pull_request:
            out.append(
                f"{at} names pull request #{r.pull_request}, but #{r.added_pr} added the file"
            )
        if not r.approved_by and needs_review.get(r.issue_sha, True):
            out.append(f"{at} has no approvers but its role needs review")
        if r.expires_at is None:
            out.append(f"{at} has no expires_at")
    elif r.ended_by in ("expire", "revoke"):
        out.append(f"grant {r.grant} was ended ({r.ended_by}) but never issued in this history")
    if r.ended_by is not None and r.added == 0 and r.issue_sha is None:
        out.append(f"grant {r.grant} was ended but its file was never added in this history")
    if r.active and r.expires_at is None:
        out.append(f"grant {r.grant} is active without an expires_at")
    if r.expires_at is not None and r.issued_at is not None:
        end = r.ended_at or (now if r.present else None)
        if end is not None and end - r.expires_at > tolerance:
            late = end - r.expires_at
            out.append(
                f"grant {r.grant} stayed active in git {int(late.total_seconds() // 60)} min "
                f"past its expiry {format_time(r.expires_at)} (tolerance "
                f"{int(tolerance.total_seconds() // 60)} min)"
            )
    return out


def _roles_needing_review(git: Git, records: list[Record]) -> dict[str, bool]:
    """``{issue sha: role needed review}`` for issues without approvers, judged by the policy
    at the issue commit's first parent. The policy trees of all those parents are resolved in
    one batched read; each distinct policy version is loaded once. Unreadable: needs review."""
    from jitops.core.policy import POLICY_DIR, PolicyError, load_policy

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
