"""Break-glass (``emergency: true``): who may, how long, and whether it was ratified in time.

An emergency grant on a role with ``break_glass``, asked for by one of its ``requesters``, is
issued on merge without prior review, its duration capped at ``break_glass.max_duration``. It is
**ratified** when the ``ratify`` rules hold through reviews of the merged pull request's head
commit submitted before ``issued_at + ratify_within`` (the one place reviews after the merge
count; the requester and the author never ratify). When the window passes without that, the
next run revokes the token if it is still live and records ``Jitops-Action: unratified``: a
finding of ``audit verify`` until an admin closes it with a recorded reason. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jitops.core.approvals import Review, latest_reviews, rules_met
from jitops.core.duration import format_duration
from jitops.core.grant import format_time
from jitops.core.policy import BreakGlass, Role
from jitops.core.principals import TeamLookup, same_login


def problems(role: Role, requester: str, teams: TeamLookup | None) -> list[tuple[str, str]]:
    """``(key, message)`` for what forbids an emergency grant of ``role`` by ``requester``;
    ``key`` is the grant field the message is about. A team membership that cannot be told
    offline is a ``warning`` message (prefixed ``warning:``), decided by ``pr check``."""
    bg = role.break_glass
    if bg is None:
        return [
            (
                "emergency",
                f"role {role.name} has no break_glass, so it cannot be asked for as an "
                "emergency; remove 'emergency: true' to ask for reviewed access",
            )
        ]
    undecided = []
    for p in bg.requesters:
        verdict = p.matches(requester, teams)
        if verdict:
            return []
        if verdict is None:
            undecided.append(str(p))
    if undecided:
        return [
            (
                "requester",
                f"warning: {requester} may ask for emergency access to {role.name} only as a "
                f"member of {', '.join(undecided)}; team membership is not verified offline",
            )
        ]
    allowed = ", ".join(str(p) for p in bg.requesters)
    return [
        (
            "requester",
            f"{requester} may not ask for emergency access to {role.name}: break_glass is open "
            f"to {allowed} only; remove 'emergency: true' and ask for reviewed access",
        )
    ]


def capped(duration: timedelta, bg: BreakGlass) -> timedelta:
    """The duration an emergency grant is issued for."""
    return min(duration, bg.max_duration)


def deadline(issued_at: datetime, bg: BreakGlass) -> datetime:
    return issued_at + bg.ratify_within


class State(enum.Enum):
    RATIFIED = "ratified"
    AWAITING = "awaiting ratification"
    UNRATIFIED = "unratified"


@dataclass(frozen=True)
class Ratification:
    state: State
    reason: str
    ratified_by: tuple[str, ...] = ()
    deadline: datetime | None = None


def ratification(
    bg: BreakGlass,
    *,
    requester: str,
    author: str,
    head_sha: str,
    issued_at: datetime,
    reviews: Sequence[Review],
    teams: TeamLookup | None,
    now: datetime,
) -> Ratification:
    """Whether an emergency grant issued at ``issued_at`` is ratified, still awaits it, or was
    never ratified. Reviews count when submitted strictly before the deadline, on the merged
    pull request's head commit, by someone other than the requester and the author, APPROVED
    as their latest counted review before the deadline."""
    until = deadline(issued_at, bg)
    counted = [r for r in reviews if r.submitted_at is not None and r.submitted_at < until]
    people = [
        r.user
        for login, r in sorted(latest_reviews(counted).items())
        if r.state.upper() == "APPROVED"
        and r.commit_id == head_sha
        and not same_login(login, requester)
        and not same_login(login, author)
    ]
    met, used = rules_met(bg.ratify, people, teams)
    if met:
        return Ratification(State.RATIFIED, f"ratified by {', '.join(used)}", used, until)
    who = "; ".join(r.describe() for r in bg.ratify)
    if now < until:
        return Ratification(
            State.AWAITING,
            f"awaiting ratification: {who} by {format_time(until)}",
            (),
            until,
        )
    return Ratification(
        State.UNRATIFIED,
        f"never ratified: {who} did not approve within {format_duration(bg.ratify_within)} of "
        f"issue (by {format_time(until)})",
        (),
        until,
    )


def ratify_note(bg: BreakGlass, issued_at: datetime) -> str:
    """Who must ratify by when (the PR comment and the ``break_glass`` notification)."""
    who = "; ".join(r.describe() for r in bg.ratify)
    return (
        f"must be ratified by {who} (an approving review of this pull request) before "
        f"{format_time(deadline(issued_at, bg))}, or the access is revoked and recorded as "
        "unratified"
    )


__all__ = [
    "Ratification",
    "State",
    "capped",
    "deadline",
    "problems",
    "ratification",
    "ratify_note",
]
