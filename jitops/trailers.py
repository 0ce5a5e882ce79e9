"""Commit trailers: the audit interface of jitops (DESIGN.md section 5; keys are stable).

Every state change jitops makes is a commit whose message ends with ``Jitops-*`` trailers::

    jitops: expire prod-db-ro-octocat-1123

    Access of octocat to prod-db-readonly ended at 2026-11-23T12:00:00Z.

    Jitops-Action: expire
    Jitops-Grant: prod-db-ro-octocat-1123
    ...

``git log --format='%(trailers:key=Jitops-Grant,valueonly)'`` reads them without jitops.
Pure: no git, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from jitops.grant import format_time, parse_time

ACTIONS = ("issue", "expire", "revoke", "deny")
KEYS = (
    "Jitops-Action",
    "Jitops-Grant",
    "Jitops-Requester",
    "Jitops-Role",
    "Jitops-Pull-Request",
    "Jitops-Approved-By",
    "Jitops-Expires-At",
    "Jitops-Reason",
)
_TRAILER = re.compile(r"^(Jitops-[A-Za-z-]+):[ \t]*(.*)$")


@dataclass(frozen=True)
class LedgerEntry:
    action: str  # issue | expire | revoke | deny
    grant: str
    requester: str
    role: str
    pull_request: int | None = None
    approved_by: tuple[str, ...] = ()
    expires_at: datetime | None = None
    reason: str | None = None  # revoke and deny only
    at: datetime | None = None  # the commit's time, when read from git (not a trailer)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def trailer_lines(entry: LedgerEntry) -> list[str]:
    lines = [
        f"Jitops-Action: {entry.action}",
        f"Jitops-Grant: {entry.grant}",
        f"Jitops-Requester: {entry.requester}",
        f"Jitops-Role: {entry.role}",
    ]
    if entry.pull_request is not None:
        lines.append(f"Jitops-Pull-Request: {entry.pull_request}")
    if entry.approved_by:
        lines.append(f"Jitops-Approved-By: {', '.join(entry.approved_by)}")
    if entry.expires_at is not None:
        lines.append(f"Jitops-Expires-At: {format_time(entry.expires_at)}")
    if entry.reason and entry.action in ("revoke", "deny"):
        lines.append(f"Jitops-Reason: {_one_line(entry.reason)}")
    return lines


def commit_message(entry: LedgerEntry, body: str) -> str:
    """``jitops: <action> <grant>``, a blank line, the human sentence, then the trailers."""
    if entry.action not in ACTIONS:
        raise ValueError(f"unknown ledger action {entry.action!r}")
    # A body line that looks like a trailer would be read as one: keep the body plain prose.
    prose = "\n".join(("  " + ln if _TRAILER.match(ln) else ln) for ln in body.strip().splitlines())
    return (
        f"jitops: {entry.action} {entry.grant}\n\n{prose}\n\n"
        + "\n".join(trailer_lines(entry))
        + "\n"
    )


def parse_trailers(message: str) -> dict[str, str]:
    """The ``Jitops-*`` trailers of the last paragraph of ``message`` (last value wins)."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", message.strip()) if p.strip()]
    if not paragraphs:
        return {}
    found: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        m = _TRAILER.match(line.strip())
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def parse_entry(message: str) -> tuple[LedgerEntry | None, list[str]]:
    """The ledger entry of a commit message, and findings for whatever is malformed.

    Never raises: a message without ``Jitops-Action`` is ``(None, [])``.
    """
    return entry_from_trailers(parse_trailers(message))


def entry_from_trailers(t: dict[str, str]) -> tuple[LedgerEntry | None, list[str]]:
    """Like :func:`parse_entry`, from trailers already split into ``{key: value}``."""
    if "Jitops-Action" not in t:
        return None, []
    findings: list[str] = []
    action = t["Jitops-Action"]
    if action not in ACTIONS:
        findings.append(f"unknown Jitops-Action {action!r}")
    for key in ("Jitops-Grant", "Jitops-Requester", "Jitops-Role"):
        if not t.get(key):
            findings.append(f"missing {key} trailer")
    pr: int | None = None
    if t.get("Jitops-Pull-Request"):
        try:
            pr = int(t["Jitops-Pull-Request"].lstrip("#"))
        except ValueError:
            findings.append(f"Jitops-Pull-Request {t['Jitops-Pull-Request']!r} is not a number")
    expires: datetime | None = None
    if t.get("Jitops-Expires-At"):
        try:
            expires = parse_time(t["Jitops-Expires-At"])
        except ValueError:
            findings.append(f"Jitops-Expires-At {t['Jitops-Expires-At']!r} is not a time")
    approved = tuple(a.strip() for a in t.get("Jitops-Approved-By", "").split(",") if a.strip())
    if action not in ACTIONS or not t.get("Jitops-Grant"):
        return None, findings
    entry = LedgerEntry(
        action=action,
        grant=t["Jitops-Grant"],
        requester=t.get("Jitops-Requester", ""),
        role=t.get("Jitops-Role", ""),
        pull_request=pr,
        approved_by=approved,
        expires_at=expires,
        reason=t.get("Jitops-Reason"),
    )
    return entry, findings
