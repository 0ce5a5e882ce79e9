"""Commit trailers: the audit interface of jitops (docs/design.md; the keys are stable).

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
from functools import lru_cache

from jitops.core.grant import format_time, parse_time, valid_id, valid_role
from jitops.core.inert import one_line, printable
from jitops.core.principals import LOGIN_RE
from jitops.errors import JitopsError

#: ``unratified``: an emergency grant whose ratification window passed (its token revoked if
#: still live); ``ratify``: its ratification, recorded (no file change); ``close``: an admin
#: closed the finding of an unratified grant with a reason (no file change).
ACTIONS = ("issue", "expire", "revoke", "deny", "restore", "unratified", "ratify", "close")
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
_REQUIRED = ("Jitops-Grant", "Jitops-Requester", "Jitops-Role")
_REQUIRED_DENY = ("Jitops-Grant",)
_ANY_TRAILER = re.compile(r"^[A-Za-z0-9-]+:")


@dataclass(frozen=True)
class LedgerEntry:
    action: str  # issue | expire | revoke | deny | restore
    grant: str
    requester: str
    role: str
    pull_request: int | None = None
    approved_by: tuple[str, ...] = ()
    expires_at: datetime | None = None
    reason: str | None = None  # revoke, deny, restore, unratified and close only
    at: datetime | None = None  # the commit's time, when read from git (not a trailer)


class TrailerError(JitopsError):
    """A ledger entry jitops must not write (its grant id breaks the id rule)."""


@lru_cache(maxsize=1 << 14)
def valid_login(text: str) -> bool:
    return bool(LOGIN_RE.fullmatch(text))


def trailer_lines(entry: LedgerEntry) -> list[str]:
    """The trailer block. Only values that match their rule are written (an id, a login, a
    role name: no newline, no markup), so no field a requester wrote can add a trailer. A
    requester or role that breaks its rule (a denied request) is left out; an id that breaks
    the id rule is refused: nothing may be committed about a file jitops cannot name."""
    if entry.action not in ACTIONS:
        raise TrailerError(f"unknown ledger action {entry.action!r}")
    if not valid_id(entry.grant):
        raise TrailerError(
            f"grant id {one_line(entry.grant, 80)!r} breaks the id rule; it cannot be "
            "written into the ledger (an admin must rename or remove the file)"
        )
    lines = [f"Jitops-Action: {entry.action}", f"Jitops-Grant: {entry.grant}"]
    if valid_login(entry.requester):
        lines.append(f"Jitops-Requester: {entry.requester}")
    if valid_role(entry.role):
        lines.append(f"Jitops-Role: {entry.role}")
    if entry.pull_request is not None:
        lines.append(f"Jitops-Pull-Request: {int(entry.pull_request)}")
    approved = [a for a in entry.approved_by if valid_login(a)]
    if approved:
        lines.append(f"Jitops-Approved-By: {', '.join(approved)}")
    if entry.expires_at is not None:
        lines.append(f"Jitops-Expires-At: {format_time(entry.expires_at)}")
    if entry.reason and entry.action in ("revoke", "deny", "restore", "unratified", "close"):
        lines.append(f"Jitops-Reason: {one_line(entry.reason, 500)}")
    return lines


def commit_message(entry: LedgerEntry, body: str) -> str:
    """``jitops: <action> <grant>``, a blank line, the human sentence, then the trailers.

    The body is prose about the grant and may quote what a requester wrote: it is written on
    one line with control characters shown, so it can neither end its paragraph early nor
    look like a trailer block (git reads trailers from the last paragraph only)."""
    trailers = trailer_lines(entry)  # validates the action and the id first
    prose = printable(" ".join(body.split())) or "(no description)"
    if _TRAILER.match(prose) or _ANY_TRAILER.match(prose):
        prose = "  " + prose
    return f"jitops: {entry.action} {entry.grant}\n\n{prose}\n\n" + "\n".join(trailers) + "\n"


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
        findings.append(f"unknown Jitops-Action {one_line(action, 40)!r}")
    # a deny may record a request whose requester or role broke its rule (left out)
    for key in _REQUIRED_DENY if action == "deny" else _REQUIRED:
        if not t.get(key):
            findings.append(f"missing {key} trailer")
    grant = t.get("Jitops-Grant", "")
    if grant and not valid_id(grant):
        findings.append(f"Jitops-Grant {one_line(grant, 80)!r} is not a grant id")
        grant = ""
    requester, role = t.get("Jitops-Requester", ""), t.get("Jitops-Role", "")
    if requester and not valid_login(requester):
        findings.append(f"Jitops-Requester {one_line(requester, 80)!r} is not a GitHub login")
        requester = ""
    if role and not valid_role(role):
        findings.append(f"Jitops-Role {one_line(role, 80)!r} is not a role name")
        role = ""
    pr: int | None = None
    if t.get("Jitops-Pull-Request"):
        try:
            pr = int(t["Jitops-Pull-Request"].lstrip("#"))
        except ValueError:
            findings.append(
                f"Jitops-Pull-Request {one_line(t['Jitops-Pull-Request'], 40)!r} is not a number"
            )
    expires: datetime | None = None
    if t.get("Jitops-Expires-At"):
        try:
            expires = parse_time(t["Jitops-Expires-At"])
        except (ValueError, OverflowError):
            shown = one_line(t["Jitops-Expires-At"], 40)
            findings.append(f"Jitops-Expires-At {shown!r} is not a time")
    approved = tuple(a.strip() for a in t.get("Jitops-Approved-By", "").split(",") if a.strip())
    if approved and not all(map(valid_login, approved)):
        findings.append("Jitops-Approved-By lists something that is not a GitHub login")
        approved = tuple(a for a in approved if valid_login(a))
    if action not in ACTIONS or not grant:
        return None, findings
    entry = LedgerEntry(
        action=action,
        grant=grant,
        requester=requester,
        role=role,
        pull_request=pr,
        approved_by=approved,
        expires_at=expires,
        reason=t.get("Jitops-Reason"),
    )
    return entry, findings
