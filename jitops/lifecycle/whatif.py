"""`jitops policy diff`'s reads: the two policies and the grants' facts from git (through the
door), handed to the pure what-if (:mod:`jitops.core.whatif`).

The grants are read the way `jitops audit` reads them (one streaming log pass, one batched
read of the files as added): every active grant, and every grant file added since ``since``
whatever became of it (issued, denied, expired, revoked, still waiting, withdrawn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jitops.audit.history import Record
from jitops.core import whatif
from jitops.core.policy import POLICY_DIR, Policy, PolicyError, load_policy
from jitops.core.principals import TeamLookup
from jitops.doors.git import Git
from jitops.errors import JitopsError, UsageError
from jitops.lifecycle.audit import load_history
from jitops.lifecycle.validate import read_policy

_ENDED = {"expire": "expired", "revoke": "revoked", "deny": "denied"}


@dataclass(frozen=True)
class PolicyDiff:
    base: str  # the ref the base policy and the history were read from
    candidate: str  # "working tree" or the candidate ref
    since: datetime
    diff: whatif.Diff


def state_of(r: Record) -> str:
    """What became of a grant, in the what-if's words (:class:`jitops.core.whatif.Facts`)."""
    if r.active:
        return "active"
    if r.ended_by in _ENDED:
        return _ENDED[r.ended_by]
    if r.issued_at is not None:
        return "ended"
    return "waiting" if r.present else "withdrawn"


def facts_of(records: Iterable[Record], since: datetime) -> list[whatif.Facts]:
    """The active grants and the requests added since ``since``, as plain facts."""
    out = []
    for r in records:
        if not (r.active or (r.requested_at is not None and r.requested_at >= since)):
            continue
        out.append(
            whatif.Facts(
                grant_id=r.grant,
                requester=r.requester,
                role=r.role,
                duration=r.duration,
                reason=r.reason,
                ticket=r.ticket,
                state=state_of(r),
                active=r.active,
                pull_request=r.pull_request,
                requested_at=r.requested_at,
                approved_by=tuple(r.approved_by),
            )
        )
    return out


def read_facts(git: Git, ref: str, since: datetime) -> list[whatif.Facts]:
    return facts_of(load_history(git, ref).records.values(), since)


def policy_diff(
    root: Path,
    *,
    base: str,
    candidate: str | None,
    since: datetime,
    teams: TeamLookup | None = None,
) -> PolicyDiff:
    """Judge the active grants and the requests since ``since`` (read from ``base``'s history)
    by the candidate policy (the working tree's policies/, or ``candidate``'s) against the
    policy of ``base``."""
    git = Git(root)
    for ref in (base, candidate):
        if ref is not None and git.rev_parse(ref) is None:
            raise UsageError(
                f"{ref}: no such commit here; fetch it (git fetch origin) or name another ref"
            )
    base_policy = _load(lambda: load_policy(git.files_at(base, POLICY_DIR, ".yaml")), base)
    candidate_policy = _load(lambda: read_policy(root, candidate), candidate or "working tree")
    facts = read_facts(git, base, since)
    found = whatif.diff(base_policy, candidate_policy, facts, teams)
    return PolicyDiff(base, candidate or "working tree", since, found)


class PolicyInvalid(JitopsError):
    """One of the two policies does not load: nothing can be judged by it."""


def _load(read: Callable[[], Policy], where: str) -> Policy:
    try:
        return read()
    except PolicyError as exc:
        problems = "; ".join(str(p) for p in exc.problems[:5])
        raise PolicyInvalid(
            f"the policy of {where} is invalid, so nothing can be judged by it: {problems}"
        ) from None
