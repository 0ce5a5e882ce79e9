"""Usage evidence: which grants were actually used, from a Vault/OpenBao audit log (pure).

A file audit device writes one JSON object per line, a ``request`` entry and a ``response``
entry for each request. The token jitops issues for a grant carries its metadata
(``jitops_grant``, ``jitops_requester``, ``jitops_role``, ...: see the Vault door's ``issue``),
and the audit device writes a token's metadata in ``auth.metadata`` as it is: OpenBao 2.7.2
HMACs the token itself and its accessor (``auth.accessor``, unless the device was declared
with ``hmac_accessor = false``), never metadata. So a request is attributed to a grant by its
``auth.metadata.jitops_grant``; HMAC'd values stay HMAC'd and are never shown.

This module turns lines (bytes) into :class:`Event` values and events plus the git ledger's
records into a :class:`UsageReport`; reading files (gzip, rotation, a cut last line) is the
caller's. Only lines that mention ``jitops_grant`` are parsed: on a busy Vault most lines are
someone else's, and a substring test is far cheaper than JSON.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jitops.audit.history import Record, rfc3339

MARKER = b'"jitops_grant"'
HMAC_PREFIX = "hmac-sha256:"


class LineError(ValueError):
    """A line that should be an audit entry is not one (cut off, or not JSON)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One request of a grant's token, as plain data."""

    time: datetime
    grant: str
    path: str
    operation: str
    allowed: bool  # the request passed the ACL (policy_results.allowed; errors count as used)
    accessor_hmaced: bool
    accessor: str = ""  # the token's accessor when the log has it plain (hmac_accessor=false)


def event_from_line(line: bytes) -> Event | None:
    """The grant request on ``line``, or None for a line that is not one (another token's
    request, a response entry). Raises :class:`LineError` for a line that mentions a grant
    but is not a JSON audit entry."""
    if MARKER not in line:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        raise LineError("not JSON") from None
    if not isinstance(entry, dict) or entry.get("type") != "request":
        return None
    auth = entry.get("auth")
    request = entry.get("request")
    if not isinstance(auth, dict) or not isinstance(request, dict):
        return None
    meta = auth.get("metadata")
    grant = meta.get("jitops_grant") if isinstance(meta, dict) else None
    if not isinstance(grant, str) or not grant:
        return None
    try:
        when = parse_time(entry["time"])
    except (KeyError, TypeError, ValueError):
        raise LineError("no time") from None
    results = auth.get("policy_results")
    allowed = not isinstance(results, dict) or results.get("allowed") is not False
    accessor = auth.get("accessor")
    hmaced = isinstance(accessor, str) and accessor.startswith(HMAC_PREFIX)
    return Event(
        time=when,
        grant=grant,
        path=str(request.get("path") or ""),
        operation=str(request.get("operation") or ""),
        allowed=allowed,
        accessor_hmaced=hmaced,
        accessor=accessor if isinstance(accessor, str) and not hmaced else "",
    )


def parse_time(text: Any) -> datetime:
    """The audit log's RFC 3339 time (nanoseconds, Z) as an aware UTC datetime (to the
    microsecond)."""
    if not isinstance(text, str) or len(text) < 20:
        raise ValueError("not a time")
    base = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    rest = text[19:]
    if rest.startswith("."):
        digits = rest[1:].rstrip("Z")[:6]
        if digits:
            base = base.replace(microsecond=int(digits.ljust(6, "0")))
    return base


@dataclass
class GrantUsage:
    grant: str
    requester: str | None = None
    role: str | None = None
    issued_at: datetime | None = None
    ends_at: datetime | None = None  # when access ended (or will): ended_at, else expires_at
    first_use: datetime | None = None
    last_use: datetime | None = None
    requests: int = 0
    denied: int = 0
    after_end: int = 0  # requests seen after the grant ended (a token that outlived it)
    #: requests whose (plain) accessor is not the one git recorded: a re-issue's earlier
    #: token, or a token whose jitops metadata jitops did not write
    other_token: int = 0
    accessor: str | None = None  # what git recorded (status block token_accessor)
    paths: Counter[str] = field(default_factory=Counter)
    covered: bool = True  # the log spans the whole window (so "never used" is a fact)

    @property
    def granted(self) -> timedelta | None:
        if self.issued_at is None or self.ends_at is None:
            return None
        return max(self.ends_at - self.issued_at, timedelta(0))

    @property
    def used(self) -> timedelta | None:
        """From the first to the last request (zero for a single request)."""
        if self.first_use is None or self.last_use is None:
            return None
        return self.last_use - self.first_use

    @property
    def state(self) -> str:
        if self.requests:
            return "used"
        return "never used" if self.covered else "no requests in the log"

    def to_json(self) -> dict[str, Any]:
        granted, used = self.granted, self.used
        return {
            "grant": self.grant,
            "requester": self.requester,
            "role": self.role,
            "issued_at": rfc3339(self.issued_at),
            "ends_at": rfc3339(self.ends_at),
            "state": self.state,
            "requests": self.requests,
            "denied": self.denied,
            "after_end": self.after_end,
            "other_token": self.other_token,
            "first_use": _iso(self.first_use),
            "last_use": _iso(self.last_use),
            "granted_seconds": int(granted.total_seconds()) if granted is not None else None,
            "used_seconds": int(used.total_seconds()) if used is not None else None,
            "paths": dict(sorted(self.paths.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


@dataclass
class UsageReport:
    grants: list[GrantUsage]
    events: int  # grant requests read from the log (before --since)
    unknown: Counter[str]  # requests naming a grant the ledger does not know: {grant: count}
    log_start: datetime | None
    log_end: datetime | None
    accessors_hmaced: bool | None  # None: no grant request seen
    notes: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return sum(g.requests for g in self.grants)


def attribute(
    events: Iterable[Event],
    records: Mapping[str, Record],
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    span: tuple[datetime | None, datetime | None] = (None, None),
) -> UsageReport:
    """Per grant of the ledger (issued ones, whose window reaches ``since``): its requests in
    ``events``. ``now`` caps a window that has not ended yet. ``span``: the times of the log's
    first and last entries, whoever made them (what the log covers)."""
    now = now or datetime.now(UTC)
    usage: dict[str, GrantUsage] = {}
    for rec in records.values():
        if rec.issued_at is None:
            continue
        ends = rec.ended_at or rec.expires_at
        if ends is not None and rec.ended_at is not None and rec.expires_at is not None:
            ends = min(rec.ended_at, rec.expires_at)
        if since is not None and ends is not None and ends < since:
            continue
        usage[rec.grant] = GrantUsage(
            rec.grant, rec.requester, rec.role, rec.issued_at, ends, accessor=rec.token_accessor
        )
    unknown: Counter[str] = Counter()
    seen = 0
    start = end = None
    hmaced: bool | None = None
    for ev in events:
        seen += 1
        if start is None or ev.time < start:
            start = ev.time
        if end is None or ev.time > end:
            end = ev.time
        hmaced = ev.accessor_hmaced if hmaced is None else hmaced and ev.accessor_hmaced
        if since is not None and ev.time < since:
            continue
        g = usage.get(ev.grant)
        if g is None:
            unknown[ev.grant] += 1
            continue
        g.requests += 1
        g.paths[ev.path] += 1
        if not ev.allowed:
            g.denied += 1
        if g.ends_at is not None and ev.time > g.ends_at:
            g.after_end += 1
        if ev.accessor and g.accessor and ev.accessor != g.accessor:
            g.other_token += 1
        if g.first_use is None or ev.time < g.first_use:
            g.first_use = ev.time
        if g.last_use is None or ev.time > g.last_use:
            g.last_use = ev.time
    first, last = span
    start = min(filter(None, (start, first)), default=None)
    end = max(filter(None, (end, last)), default=None)
    for g in usage.values():
        window_end = min(g.ends_at, now) if g.ends_at else now
        g.covered = (
            start is not None
            and end is not None
            and g.issued_at is not None
            and start <= g.issued_at
            and window_end <= end
        )
    grants = sorted(usage.values(), key=lambda g: (g.issued_at or now, g.grant))
    return UsageReport(grants, seen, unknown, start, end, hmaced)


def summary(report: UsageReport) -> list[str]:
    """What a reader must know about the evidence itself (one line each)."""
    out = list(report.notes)
    if report.events == 0:
        out.append(
            "no request of a jitops grant token is in the log: is it the audit log of the Vault "
            "this repository's grants are issued by, and does it cover their time?"
        )
    elif report.matched == 0 and report.unknown:
        out.append(
            f"none of the {report.events} grant requests in the log belongs to a grant of this "
            f"repository's ledger ({len(report.unknown)} other grant ids): is it the audit log "
            "of another Vault, or of another access repository?"
        )
    elif report.unknown:
        n = sum(report.unknown.values())
        out.append(
            f"{n} request{'s' if n != 1 else ''} of {len(report.unknown)} grant id"
            f"{'s' if len(report.unknown) != 1 else ''} not in this ledger were left out "
            "(another access repository sharing the Vault, or metadata jitops did not write)"
        )
    if report.accessors_hmaced:
        out.append(
            "token accessors are HMAC'd in this log (the audit device's default): requests are "
            "attributed by token metadata; no HMAC'd value is shown"
        )
    elif report.accessors_hmaced is False:
        out.append(
            "token accessors are plain in this log (hmac_accessor = false): each request's "
            "token was also checked against the accessor git recorded"
        )
    return out


def _iso(value: datetime | None) -> str | None:
    """RFC 3339 UTC to the second (audit log times carry nanoseconds; people do not)."""
    return rfc3339(value.replace(microsecond=0)) if value is not None else None


# -- rendering -------------------------------------------------------------------------------
def format_span(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    if secs and not days:
        parts.append(f"{secs}s")
    return "".join(parts) or "0s"


def to_json(report: UsageReport) -> str:
    return json.dumps(
        {
            "log": {
                "grant_requests": report.events,
                "first": _iso(report.log_start),
                "last": _iso(report.log_end),
                "accessors_hmaced": report.accessors_hmaced,
                "unknown_grants": dict(sorted(report.unknown.items())),
                "notes": summary(report),
            },
            "grants": [g.to_json() for g in report.grants],
        },
        indent=2,
        ensure_ascii=False,
    )


CSV_KEYS = (
    "grant",
    "requester",
    "role",
    "state",
    "issued_at",
    "ends_at",
    "first_use",
    "last_use",
    "requests",
    "denied",
    "after_end",
    "other_token",
    "granted_seconds",
    "used_seconds",
    "paths",
)


def to_csv(report: UsageReport) -> str:
    import csv
    import io

    from jitops.core.inert import printable

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_KEYS)
    for g in report.grants:
        row = g.to_json()
        row["paths"] = " ".join(f"{p}={n}" for p, n in row["paths"].items())
        cells = (printable(str(v)) if v is not None else "" for v in map(row.get, CSV_KEYS))
        w.writerow([_csv_cell(c) for c in cells])
    return buf.getvalue()


def _csv_cell(text: str) -> str:
    """A cell no spreadsheet runs as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_text(report: UsageReport, *, top: int = 3) -> str:
    from jitops.core.inert import one_line

    lines = []
    for g in report.grants:
        head = f"{g.grant} {g.requester or '?'} {g.role or '?'} {g.state}"
        if g.requests:
            head += (
                f": {g.requests} request{'s' if g.requests != 1 else ''} from "
                f"{_iso(g.first_use)} to {_iso(g.last_use)}, used {format_span(g.used)} of "
                f"{format_span(g.granted)} granted"
            )
            if g.denied:
                head += f", {g.denied} denied"
            if g.after_end:
                head += f", {g.after_end} AFTER the grant ended"
            if g.other_token:
                head += f", {g.other_token} by a token git did not record for it"
        else:
            head += f" ({format_span(g.granted)} granted)"
        lines.append(one_line(head))
        for path, n in sorted(g.paths.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
            lines.append(f"    {n:>6}  {one_line(path, 200)}")
        if len(g.paths) > top:
            lines.append(f"    ... {len(g.paths) - top} more paths (--format json lists all)")
    used = sum(1 for g in report.grants if g.requests)
    never = sum(1 for g in report.grants if g.state == "never used")
    lines.append(
        f"{len(report.grants)} grant{'s' if len(report.grants) != 1 else ''}: {used} used, "
        f"{never} never used, {len(report.grants) - used - never} not covered by the log"
    )
    lines += [f"note: {n}" for n in summary(report)]
    return "\n".join(lines) + "\n"


def to_html_section(report: UsageReport) -> str:
    """The usage section of the HTML audit report (escaped; no outside references)."""
    from html import escape

    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(v))}</td>"
            for v in (
                g.grant,
                g.requester or "",
                g.role or "",
                g.state,
                g.requests,
                _iso(g.first_use) or "",
                _iso(g.last_use) or "",
                f"{format_span(g.used)} of {format_span(g.granted)}",
                ", ".join(f"{p} ({n})" for p, n in g.paths.most_common(5)),
            )
        )
        + "</tr>"
        for g in report.grants
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in summary(report))
    return (
        "<h2>Usage (Vault audit log)</h2>"
        f"<ul id='usage-notes'>{notes}</ul>"
        "<table id='usage'><thead><tr><th>grant</th><th>requester</th><th>role</th>"
        "<th>state</th><th>requests</th><th>first use</th><th>last use</th>"
        "<th>used of granted</th><th>paths</th></tr></thead><tbody>\n"
        f"{rows}\n</tbody></table>"
    )
