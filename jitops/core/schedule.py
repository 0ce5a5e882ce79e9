"""Scheduled access (``not_before``): whether a grant may be asked for, and whether it is due.

A scheduled grant is approved and merged ahead; until it is due no token exists and its file
stays on main, untouched; the first issue run (a push, or the scheduled sweep) that sees it
due applies the gate again -- team memberships and the requesters list as they are then -- and
issues it. Its duration counts from issuance. Pure: plain values in, words out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from jitops.core.duration import format_duration
from jitops.core.grant import format_time


def lead_problem(
    not_before: datetime, at: datetime, max_lead_time: timedelta, *, request: bool
) -> str | None:
    """What is wrong with ``not_before`` judged at ``at`` (None: nothing).

    ``request``: judged when asking (``jitops request``, ``pr check``): a time already past is
    refused there. At the gate (``at`` is the merge) a past ``not_before`` is simply due."""
    if request and not_before <= at:
        return (
            f"not_before {format_time(not_before)} is not in the future (it is "
            f"{format_time(at)}); drop not_before to ask for access now, or give a later time"
        )
    if not_before - at > max_lead_time:
        return (
            f"not_before {format_time(not_before)} is {_ahead(not_before - at)} ahead, more than "
            f"the {format_duration(max_lead_time)} settings.max_lead_time allows; ask again "
            f"closer to the time (eligibility can change before then)"
        )
    return None


def due(not_before: datetime | None, now: datetime) -> bool:
    """Whether a grant may be issued at ``now``."""
    return not_before is None or not_before <= now


def waiting(not_before: datetime, now: datetime) -> str:
    """The words of a grant that is not due yet (an issue run's result)."""
    return (
        f"scheduled: not due until {format_time(not_before)} (in {_ahead(not_before - now)}); "
        "no token exists yet, the first run after that time issues it"
    )


def _ahead(delta: timedelta) -> str:
    seconds = max(1, int(delta.total_seconds()))
    return format_duration(timedelta(seconds=seconds), days="always")


__all__ = ["due", "lead_problem", "waiting"]
