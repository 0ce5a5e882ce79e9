"""Small values every part of the Vault stand-in uses: durations, ids, times, field parsing.

Written for the stand-in alone (it shares no code with jitops' core, so it cannot share a bug).
"""

from __future__ import annotations

import re
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

from jitops.sandbox.vault.errors import VaultAPIError

SYSTEM_MAX_TTL = 768 * 3600  # Vault's default and maximum lease TTL: 32 days
BASE62 = string.ascii_letters + string.digits

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def duration_seconds(value: Any, field: str = "ttl") -> int:
    """Seconds from Vault's duration forms: 30, "30", "30s", "2h", "1h30m", "1d" (floored)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise VaultAPIError(400, f"error converting input {value} for field {field!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise VaultAPIError(400, f"invalid duration for field {field!r}: must not be negative")
        return int(value)
    if not isinstance(value, str):
        raise VaultAPIError(400, f"error converting input {value!r} for field {field!r}")
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise VaultAPIError(
                400,
                f"error converting input {value} for field {field!r}: "
                f'time: invalid duration "{value}"',
            )
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text:
        return 0
    return int(total)


def go_duration(seconds: int) -> str:
    """Go's time.Duration String() for whole seconds: 0s, 45s, 2m0s, 1h30m0s."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_uuid() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def now() -> float:
    return time.time()


def rfc3339(moment: float | None) -> str | None:
    """Vault's time format: RFC 3339 in UTC with fractional seconds."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "1", "t"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "f", ""):
        return False
    raise VaultAPIError(400, f"error converting input {value!r} for field {field!r}")


def as_list(value: Any, field: str) -> list[str]:
    """A list of strings from a JSON list or a comma-separated string, as Vault accepts."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    raise VaultAPIError(400, f"error converting input {value!r} for field {field!r}")


def as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise VaultAPIError(400, f"error converting input {value} for field {field!r}")
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise VaultAPIError(400, f"error converting input {value!r} for field {field!r}") from None


def as_str_map(value: Any, field: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise VaultAPIError(400, f"error converting input {value!r} for field {field!r}")
    return {str(k): str(v) for k, v in value.items()}


def policy_names(value: Any, field: str = "policies") -> list[str]:
    """Policy names as Vault stores them: trimmed, lower-cased, de-duplicated, in order."""
    out: list[str] = []
    for name in as_list(value, field):
        name = name.lower()
        if name not in out:
            out.append(name)
    return out
