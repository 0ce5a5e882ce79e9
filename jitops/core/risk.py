"""Risk tiers: which ``risk`` entries of a role match a request, and the rules that judge it.

Every matching entry's approval rules are **added** to the role's own (and its
``require_ticket`` joins the role's), and the approval rule of :mod:`jitops.core.approvals`
matches approvers over the union: a riskier request never needs fewer approvals (a property
test holds this over random policies and requests). Pure: plain values in, words out.

The request time is the pull request's creation for ``pr check``, the merge for the gate, the
case's ``at:`` for ``policy test``; a scheduled grant (``not_before``) is also judged at the
time its access starts, and an entry matching at either time counts.

:func:`judging_role` is the one place the role a request is judged by is put together: the
role's own rules, an extension's ``extend`` rules instead of them, or break-glass (no prior
review at all: :mod:`jitops.core.breakglass` decides who may and the cap).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from jitops.core.duration import format_duration
from jitops.core.policy import WEEKDAYS, Hours, Policy, RiskEntry, Role
from jitops.core.principals import Principal

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Match:
    """A risk entry that matches a request, and why in words."""

    entry: RiskEntry
    because: tuple[str, ...]

    def describe(self) -> str:
        added = [r.describe() for r in self.entry.approvals]
        if self.entry.require_ticket:
            added.append("a ticket")
        needs = f"; adds {', '.join(added)}" if added else ""
        return f"risk[{self.entry.index}]: {' and '.join(self.because)}{needs}"


def _clock(value: datetime) -> str:
    return value.strftime("%H:%M")


def _inside(hours: Hours, local: datetime) -> bool:
    t = local.time().replace(second=0, microsecond=0, tzinfo=None)
    if hours.start < hours.end:
        return hours.start <= t < hours.end
    return t >= hours.start or t < hours.end  # a working "day" that spans midnight


def why_matches(entry: RiskEntry, duration: timedelta, at: datetime) -> tuple[str, ...] | None:
    """The reasons ``entry`` matches a request of ``duration`` at ``at`` (every key of its
    ``when`` must hold); None when it does not match."""
    w = entry.when
    reasons: list[str] = []
    if w.duration_over is not None:
        if duration <= w.duration_over:
            return None
        reasons.append(
            f"duration {format_duration(duration)} is over {format_duration(w.duration_over)}"
        )
    if w.outside_hours is not None:
        oh = w.outside_hours
        local = at.astimezone(ZoneInfo(oh.tz))
        if _inside(oh, local):
            return None
        reasons.append(f"{_clock(local)} {oh.tz} is outside {oh.start:%H:%M}-{oh.end:%H:%M}")
    if w.weekdays is not None:
        local = at.astimezone(ZoneInfo(w.tz))
        if local.weekday() not in w.weekdays:
            return None
        days = ", ".join(WEEKDAYS[d] for d in sorted(w.weekdays))
        reasons.append(f"{_DAY_NAMES[local.weekday()]} in {w.tz} is one of {days}")
    return tuple(reasons)


def matching(role: Role, duration: timedelta, times: Iterable[datetime]) -> tuple[Match, ...]:
    """The role's risk entries that match a request of ``duration`` at any of ``times`` (in
    the role's order; an entry counts once, with the reasons of the first time it matches)."""
    out = []
    moments = [t.astimezone(UTC) for t in times]
    for entry in role.risk:
        for at in moments:
            because = why_matches(entry, duration, at)
            if because is not None:
                out.append(Match(entry, because))
                break
    return tuple(out)


@dataclass(frozen=True)
class Judged:
    """The role a request is judged by, and what made it so (for the PR comment)."""

    role: Role
    matches: tuple[Match, ...] = ()
    kind: str = "request"  # request | extension | emergency
    extra: tuple[str, ...] = ()  # further reasons the role was tightened (a named recipient)

    def notes(self) -> list[str]:
        """Lines for people: each matching entry and why, or why no review is needed."""
        bg = self.role.break_glass
        if self.kind == "emergency" and bg is not None:
            who = "; ".join(r.describe() for r in bg.ratify)
            return [
                f"break-glass: issued on merge without prior review, for at most "
                f"{format_duration(bg.max_duration)}; it must be ratified by {who} (approving "
                f"reviews) within {format_duration(bg.ratify_within)} of issue, or it is "
                "revoked and recorded as unratified"
            ]
        lines = [m.describe() for m in self.matches]
        if self.kind == "extension":
            lines.insert(0, "an extension: judged by the role's extend rules")
        return lines + list(self.extra)


def request_times(at: datetime, not_before: datetime | None) -> tuple[datetime, ...]:
    """When a request is judged: at ``at`` and, when scheduled, when its access starts."""
    return (at,) if not_before is None or not_before <= at else (at, not_before)


def judging_role(
    role: Role,
    *,
    duration: timedelta,
    at: datetime,
    not_before: datetime | None = None,
    extension: bool = False,
    emergency: bool = False,
) -> Judged:
    """The role (approvals, ``require_ticket``, requesters) a request is judged by.

    * emergency on a role with ``break_glass``: no approval rule and anyone may be the
      requester here (:func:`jitops.core.breakglass.problems` checks ``break_glass.requesters``
      and says so in its own words);
    * an extension: the role's ``extend`` approvals instead of its own (default: its own);
    * then every matching risk entry's approvals and ``require_ticket`` are added.
    """
    if emergency and role.break_glass is not None:
        anyone = (Principal.parse("*"),)
        return Judged(role.with_rules((), requesters=anyone), (), "emergency")
    base = role.extend.approvals if extension and role.extend is not None else role.approvals
    found = matching(role, duration, request_times(at, not_before))
    added = tuple(r for m in found for r in m.entry.approvals)
    ticket = role.require_ticket or any(m.entry.require_ticket for m in found)
    judged = role.with_rules(base + added, require_ticket=ticket)
    return Judged(judged, found, "extension" if extension else "request")


def judging_policy(
    policy: Policy,
    role_name: str,
    *,
    duration: timedelta,
    at: datetime,
    not_before: datetime | None = None,
    extension: bool = False,
    emergency: bool = False,
) -> tuple[Policy, Judged | None]:
    """``policy`` with role ``role_name`` replaced by the role the request is judged by (what
    :func:`jitops.core.approvals.evaluate` and :func:`jitops.core.checks.check_grant` take);
    the policy unchanged and None when the role does not exist."""
    role = policy.roles.get(role_name)
    if role is None:
        return policy, None
    judged = judging_role(
        role,
        duration=duration,
        at=at,
        not_before=not_before,
        extension=extension,
        emergency=emergency,
    )
    roles = dict(policy.roles)
    roles[role_name] = judged.role
    return replace(policy, roles=roles), judged


__all__ = [
    "Judged",
    "Match",
    "judging_policy",
    "judging_role",
    "matching",
    "request_times",
    "why_matches",
]
