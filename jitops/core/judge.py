"""The time-and-risk rules of one request, composed (pure): what ``pr check``, ``policy test``
and the gate add to the grant's own checks.

:func:`judge` returns the policy the request's approvals are evaluated against (its role
replaced by the one :func:`jitops.core.risk.judging_role` puts together) and the problems of
the new fields -- ``not_before`` (:mod:`jitops.core.schedule`), ``extends``
(:mod:`jitops.core.extend`), ``emergency`` (:mod:`jitops.core.breakglass`) -- each located on
its line and saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from jitops.core import breakglass, extend, schedule
from jitops.core.grant import Grant
from jitops.core.policy import ApprovalRule, Policy
from jitops.core.principals import TeamLookup
from jitops.core.risk import Judged, judging_policy
from jitops.errors import Problem


@dataclass(frozen=True)
class Judgement:
    policy: Policy  # the policy the approval rule is evaluated against
    judged: Judged | None  # None: the role does not exist (check_grant says so)
    problems: tuple[Problem, ...] = ()

    def notes(self) -> list[str]:
        return self.judged.notes() if self.judged else []


def judge(
    grant: Grant,
    policy: Policy,
    *,
    at: datetime,
    teams: TeamLookup | None,
    chain: Sequence[extend.Link] | None = None,
    chain_at: datetime | None = None,
    request: bool = True,
) -> Judgement:
    """Judge ``grant``'s time-and-risk fields at ``at`` (the pull request's creation for
    ``pr check``, the merge at the gate, the case's ``at:`` in ``policy test``).

    ``chain``: jitops' record of the grant ``extends`` names and of its own chain (None: not
    looked up, e.g. offline; the gate always passes it for an extension); ``chain_at``: when the
    extended grant must be live and the chain's total is counted from (default ``at``; the gate
    uses the issue time). ``request``: judged
    when asking (a ``not_before`` already past is refused) rather than at the gate."""
    out: list[Problem] = []

    def err(key: str, message: str) -> None:
        severity = "error"
        if message.startswith("warning: "):
            severity, message = "warning", message.removeprefix("warning: ")
        out.append(Problem(grant.path, grant.line(key), message, severity))

    judged_policy, judged = judging_policy(
        policy,
        grant.role,
        duration=grant.duration,
        at=at,
        not_before=grant.not_before,
        extension=grant.extends is not None,
        emergency=grant.emergency,
    )
    role = policy.roles.get(grant.role)
    if grant.recipient is not None and role is not None:
        judged_policy, judged = _recipient_needs_review(grant, judged_policy, judged, err)
    if grant.not_before is not None:
        if grant.emergency:
            err(
                "not_before",
                "an emergency grant cannot be scheduled: break-glass is for now; remove "
                "not_before or emergency",
            )
        found = schedule.lead_problem(
            grant.not_before, at, policy.settings.max_lead_time, request=request
        )
        if found:
            err("not_before", found)
    if grant.emergency and role is not None:
        if grant.extends is not None:
            err(
                "extends",
                "an emergency grant cannot extend another; remove extends, or ask for a "
                "reviewed extension without emergency",
            )
        for key, message in breakglass.problems(role, grant.requester, teams):
            err(key, message)
    if grant.extends is not None and role is not None and chain is not None:
        for message in extend.problems(
            grant_id=grant.id,
            requester=grant.requester,
            role=role,
            duration=grant.duration,
            chain=chain,
            at=chain_at or at,
        ):
            err("extends", message)
    return Judgement(judged_policy, judged, tuple(out))


#: why a grant naming a recipient is never self-service (the PR comment says it)
RECIPIENT_NOTE = (
    "a recipient is named: the delivery is sealed to that age key, not to the requester's "
    "GitHub SSH keys, so someone must approve it (anyone with write access can push to the "
    "pull request's branch)"
)


def _recipient_needs_review(
    grant: Grant,
    policy: Policy,
    judged: Judged | None,
    err: Callable[[str, str], None],
) -> tuple[Policy, Judged | None]:
    """A grant that names ``recipient:`` is sealed to that key, and anyone with write access
    can push that line to the requester's pull request: the gate knows who opened it, not who
    pushed its head. So it is never issued without a review: a role that needs no approval is
    judged as needing one from the admins (``settings.admins``); without admins, or for an
    emergency grant (issued without prior review), the recipient is refused."""
    if judged is None:
        return policy, judged
    if grant.emergency:
        err(
            "recipient",
            "an emergency grant is issued without review, so it is sealed to your GitHub SSH "
            "keys only; remove recipient",
        )
        return policy, judged
    if judged.role.approvals:
        return policy, replace(judged, extra=(*judged.extra, RECIPIENT_NOTE))
    admins = policy.settings.admins
    if not admins:
        err(
            "recipient",
            f"role {grant.role} needs no approval and the policy names no admins, so nobody "
            "would review the recipient this grant is sealed to; remove recipient (your GitHub "
            "SSH keys are used), or ask an admin to set settings.admins",
        )
        return policy, judged
    role = judged.role.with_rules((ApprovalRule(tuple(admins), 1),))
    roles = dict(policy.roles)
    roles[grant.role] = role
    return replace(policy, roles=roles), replace(
        judged, role=role, extra=(*judged.extra, RECIPIENT_NOTE)
    )


__all__ = ["RECIPIENT_NOTE", "Judgement", "judge"]
