"""Grants: one YAML file per request for access, ``grants/<id>.yaml``.

This module turns a file's bytes into a :class:`Grant` (or located problems). Judging a grant
against the policy is :mod:`jitops.core.checks`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jitops.core.agekeys import recipient_problem
from jitops.core.duration import DurationError, parse_duration
from jitops.errors import Problem

if TYPE_CHECKING:  # loaded when a file is read: `audit` mostly reads grants without YAML
    from jitops.core import yamlsafe

GRANTS_DIR = "grants"
GRANT_SUFFIX = ".yaml"
#: A grant id: the file stem, a branch name, a commit subject, a trailer value. Matched with
#: ``fullmatch`` (``$`` alone would let a trailing newline through).
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")
#: A role name (as in the policy schema's ``roles`` keys).
ROLE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: Names Windows refuses as file names whatever the extension: a grant with one of these ids
#: could not be checked out there.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{dev}{n}" for dev in ("com", "lpt") for n in range(10)}
)
#: Times in a status block outside these years are damage, not dates (and would overflow).
_YEARS = range(1970, 9000)


@lru_cache(maxsize=1 << 16)  # audit asks about the same few names tens of thousands of times
def valid_id(text: str) -> bool:
    """``text`` is a usable grant id (safe in a file name, a branch, a commit subject)."""
    return bool(ID_RE.fullmatch(text)) and text not in WINDOWS_RESERVED


@lru_cache(maxsize=1 << 12)
def valid_role(text: str) -> bool:
    return bool(ROLE_RE.fullmatch(text))


def parse_time(text: str) -> datetime:
    """RFC 3339 text to an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with a Z: ``2026-11-23T10:00:00Z``."""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


_STR_ONLY = frozenset({str})


def _status_time(value: object) -> datetime:
    if type(value) is not str:
        raise ValueError("a time is not RFC 3339 text")
    try:
        when = parse_time(value)
    except OverflowError:
        raise ValueError("a time is out of range") from None
    if when.year not in _YEARS:
        raise ValueError("a time is out of range")
    return when


@dataclass(frozen=True)
class GrantStatus:
    state: str
    issued_at: datetime
    expires_at: datetime
    token_accessor: str
    pull_request: int | None = None
    approved_by: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> GrantStatus:
        """Raises ValueError (or KeyError) for a damaged block: missing keys, times that are
        not RFC 3339 text or lie outside sane years, an empty accessor, odd types."""
        pr = data.get("pull_request")
        approved = data.get("approved_by") or []
        if pr is not None and (type(pr) is not int or pr < 1):  # bool is not a number here
            raise ValueError("pull_request is not a pull request number")
        if type(approved) is not list or not _STR_ONLY.issuperset(map(type, approved)):
            raise ValueError("approved_by is not a list of logins")
        accessor = data["token_accessor"]
        if type(accessor) is not str or not accessor.strip():
            raise ValueError("token_accessor is empty")
        return cls(
            state=data["state"],
            issued_at=_status_time(data["issued_at"]),
            expires_at=_status_time(data["expires_at"]),
            token_accessor=accessor,
            pull_request=pr,
            approved_by=tuple(approved),
        )

    def to_mapping(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pull_request": self.pull_request,
            "approved_by": list(self.approved_by),
            "issued_at": format_time(self.issued_at),
            "expires_at": format_time(self.expires_at),
            "token_accessor": self.token_accessor,
        }


@dataclass(frozen=True)
class Grant:
    id: str
    path: str
    requester: str
    role: str
    duration: timedelta
    duration_text: str
    reason: str
    ticket: str | None = None
    status: GrantStatus | None = None
    # an age recipient to seal the delivery to instead of the GitHub SSH keys (jitops.core.agekeys)
    recipient: str | None = None
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    # time and risk (docs/time-and-risk.md): issue no earlier than; the active grant this one
    # replaces; break-glass (no prior review, ratified afterwards)
    not_before: datetime | None = None
    extends: str | None = None
    emergency: bool = False

    def line(self, key: str) -> int:
        return self.lines.get(key, 1)

    @property
    def is_active(self) -> bool:
        return self.status is not None and self.status.state == "active"

    @classmethod
    def from_document(
        cls, doc: yamlsafe.Document, grant_id: str
    ) -> tuple[Grant | None, list[Problem]]:
        """Build from a loaded document.

        Returns the grant (None when its required fields are unusable) and every problem
        found. A grant with problems is still returned when it can be judged, so one run
        reports everything wrong with a file, not just the first thing.
        """
        from jitops.core import schema

        problems = schema.check(doc, "grant")
        data = doc.data
        if not isinstance(data, dict):
            return None, problems
        required = ("requester", "role", "duration", "reason")
        if not all(isinstance(data.get(k), str) for k in required):
            return None, problems
        try:
            duration = parse_duration(data["duration"])
        except DurationError as exc:
            if not any(p.line == doc.line(("duration",)) for p in problems):
                problems.append(Problem(doc.source, doc.line(("duration",)), str(exc)))
            return None, problems
        status = None
        if isinstance(data.get("status"), dict):
            try:
                status = GrantStatus.from_mapping(data["status"])
            except (KeyError, TypeError, ValueError, OverflowError):
                if not problems:
                    problems.append(
                        Problem(
                            doc.source,
                            doc.line(("status",)),
                            "status block is damaged (times must be RFC 3339 like "
                            "2026-11-23T10:00:00Z); restore it from git history",
                        )
                    )
                return None, problems
        lines = {str(path[0]): line for path, line in doc.lines.items() if len(path) == 1}
        ticket = data.get("ticket")
        recipient = data.get("recipient")
        if recipient is not None and (why := recipient_problem(recipient)) is not None:
            at = doc.line(("recipient",))
            if not any(p.line == at for p in problems):  # the schema's pattern said it already
                problems.append(Problem(doc.source, at, f"recipient {why}"))
            recipient = None
        not_before = None
        if isinstance(data.get("not_before"), str):
            try:
                not_before = _status_time(data["not_before"])
            except ValueError:
                if not any(p.line == doc.line(("not_before",)) for p in problems):
                    problems.append(
                        Problem(
                            doc.source,
                            doc.line(("not_before",)),
                            f"not_before {_shown(data['not_before'])} is not a time; write it "
                            "in RFC 3339 with a zone, e.g. 2026-12-08T22:00:00Z",
                        )
                    )
                return None, problems
        extends = data.get("extends")
        grant = cls(
            id=grant_id,
            path=doc.source,
            requester=data["requester"],
            role=data["role"],
            duration=duration,
            duration_text=data["duration"].strip(),
            reason=data["reason"],
            ticket=ticket if isinstance(ticket, str) else None,
            status=status,
            recipient=recipient if isinstance(recipient, str) else None,
            lines=lines,
            not_before=not_before,
            extends=extends if isinstance(extends, str) else None,
            emergency=data.get("emergency") is True,
        )
        return grant, problems


# -- the grant-path rule: a grant is a .yaml file directly in grants/, named by its id ----------
def grant_path(grant_id: str) -> str:
    """Where grant ``grant_id`` lives: ``grants/<id>.yaml``."""
    return f"{GRANTS_DIR}/{grant_id}{GRANT_SUFFIX}"


def is_grant_path(path: str) -> bool:
    """Whether ``path`` (relative to the repository root) is a grant file's place."""
    return (
        path.startswith(GRANTS_DIR + "/") and path.count("/") == 1 and path.endswith(GRANT_SUFFIX)
    )


def grant_id_in(path: str) -> str:
    """The id of ``grants/<id>.yaml``; '' for any path that is not a grant file's place."""
    return path[len(GRANTS_DIR) + 1 : -len(GRANT_SUFFIX)] if is_grant_path(path) else ""


def grant_ids_in(paths: Iterable[str]) -> set[str]:
    """The ids of the grant files among ``paths`` (others are ignored)."""
    return {grant_id for p in paths if (grant_id := grant_id_in(p))}


def grant_id_of(path: str) -> str:
    """The file stem of ``path`` (the id it claims, for messages about any file name)."""
    return path.rsplit("/", 1)[-1].removesuffix(GRANT_SUFFIX)


def shown_id(path: str) -> str:
    """The id for output and logs: the file stem when it is a valid id, else a placeholder
    (a hostile file name never reaches a terminal, a log or git)."""
    stem = grant_id_of(path)
    return stem if ID_RE.fullmatch(stem) and "\n" not in path else "(invalid grant file name)"


def check_id(path: str) -> list[Problem]:
    grant_id = grant_id_of(path)
    if valid_id(grant_id):
        return []
    if grant_id in WINDOWS_RESERVED:
        return [
            Problem(
                path,
                0,
                f"file name {grant_id!r} is a reserved device name on Windows (a checkout "
                "there fails); pick a longer id such as 'prod-db-octocat-1123'",
            )
        ]
    return [
        Problem(
            path,
            0,
            f"file name {_shown(grant_id)} is not a valid grant id; use 3-64 characters of "
            "lower-case letters, digits and '-', starting with a letter or digit (e.g. "
            "'prod-db-octocat-1123')",
        )
    ]


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message (control characters escaped), cut at ``limit``."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def read_grant(data: bytes, path: str) -> tuple[Grant | None, list[Problem]]:
    """Read ``grants/<id>.yaml`` from its bytes: the grant (when usable) and every problem."""
    from jitops.core import yamlsafe

    problems = check_id(path)
    try:
        doc = yamlsafe.load(data, path, max_bytes=yamlsafe.GRANT_MAX_BYTES)
    except yamlsafe.YamlError as exc:
        return None, problems + exc.problems
    grant, found = Grant.from_document(doc, grant_id_of(path))
    return grant, problems + found


def render_grant(grant: Grant, *, with_status: bool = True) -> str:
    """The canonical YAML text of a grant (what ``request`` writes and ``issue`` updates)."""
    out = [
        f"requester: {grant.requester}",
        f"role: {grant.role}",
        f"duration: {grant.duration_text}",
        f"reason: {_quote(grant.reason)}",
    ]
    if grant.ticket is not None:
        out.append(f"ticket: {_quote(grant.ticket)}")
    if grant.recipient is not None:
        out.append(f"recipient: {grant.recipient}")
    if grant.not_before is not None:
        out.append(f"not_before: {format_time(grant.not_before)}")
    if grant.extends is not None:
        out.append(f"extends: {grant.extends}")
    if grant.emergency:
        out.append("emergency: true")
    if with_status and grant.status is not None:
        s = grant.status.to_mapping()
        out.append("status:")
        out.append(f"  state: {s['state']}")
        if s["pull_request"] is not None:
            out.append(f"  pull_request: {s['pull_request']}")
        out.append(f"  approved_by: [{', '.join(s['approved_by'])}]")
        out.append(f"  issued_at: {s['issued_at']}")
        out.append(f"  expires_at: {s['expires_at']}")
        out.append(f"  token_accessor: {_quote(s['token_accessor'])}")
    return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    """Double-quoted YAML scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)
