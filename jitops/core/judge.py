"""The time-and-risk rules of one request, composed (pure): what ``pr check``, ``policy test``
and the gate add to the grant's own checks.

:func:`judge` returns the policy the request's approvals are evaluated against (its role
replaced by the one :func:`jitops.core.risk.judging_role` puts together) and the problems of
the new fields -- ``not_before`` (:mod:`jitops.core.schedule`), ``extends``
(:mod:`jitops.core.extend`), ``emergency`` (:mod:`jitops.core.breakglass`) -- each located on
its line and saying what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jitops.core import breakglass, extend, schedule
from jitops.core.grant import Grant
from jitops.core.policy import Policy
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


__all__ = ["Judgement", "judge"]
