"""Durations as people write them in grants and policies: ``45m``, ``2h``, ``1h30m``, ``1d``.

Go/Vault style units ``s``, ``m``, ``h``, ``d`` (a day is 24 hours), combined from the largest
unit to the smallest, each at most once. A unit is always required: ``90`` is refused because
nobody can tell whether it means minutes or seconds.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from jitops.errors import JitopsError

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d{1,9})([dhms])")
_MAX = timedelta(days=3650)


def _shown(raw: str) -> str:
    """The text as quoted in a message: escaped by repr, cut when long."""
    return repr(raw) if len(raw) <= 40 else repr(raw[:40]) + "..."


class DurationError(JitopsError):
    """Text that is not a duration jitops accepts."""


def parse_duration(text: object) -> timedelta:
    """Parse ``text`` into a positive :class:`timedelta`, or raise :class:`DurationError`."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise DurationError(
            f"duration must be text like '2h' or '1h30m', not {type(text).__name__}"
        )
    raw = str(text).strip()
    if re.fullmatch(r"-?\d+", raw):
        raise DurationError(
            f"duration {_shown(raw)} has no unit; write it with one, e.g. '{raw}m' or '{raw}s'"
        )
    if raw.startswith("-"):
        raise DurationError(f"duration {_shown(raw)} is negative; ask for a positive duration")
    pos = 0
    seconds = 0
    seen: list[str] = []
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        unit = match.group(2)
        if seen and list(_UNITS).index(unit) <= list(_UNITS).index(seen[-1]):
            raise DurationError(
                f"duration {_shown(raw)} repeats or misorders units; write largest first, "
                "each once, e.g. '1h30m'"
            )
        seen.append(unit)
        seconds += int(match.group(1)) * _UNITS[unit]
        pos = match.end()
    if pos != len(raw) or not seen:
        raise DurationError(
            f"duration {_shown(raw)} is not understood; use a number and a unit "
            "(s, m, h, d), e.g. '45m', '2h', '1h30m', '1d'"
        )
    if seconds <= 0:
        raise DurationError(f"duration {_shown(raw)} is zero; ask for a positive duration")
    value = timedelta(seconds=seconds)
    if value > _MAX:
        raise DurationError(f"duration {_shown(raw)} is absurdly long; ask for less than 10 years")
    return value


def format_duration(
    value: timedelta, *, days: Literal["exact", "always", "never"] = "exact", sep: str = ""
) -> str:
    """The shortest canonical text for ``value``: ``timedelta(minutes=90)`` -> ``1h30m``.

    ``days``: ``exact`` counts days only when ``value`` is whole days ('26h', not '1d2h');
    ``always`` counts them whenever there is one ('1d 2h' with ``sep=" "``); ``never`` counts
    hours instead. The one duration formatter: comments, messages and the policy use it."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in _UNITS.items():
        if unit == "d" and (days == "never" or (days == "exact" and seconds % 86400)):
            continue
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return sep.join(out)
