"""Rendering audit records: terminal table, CSV and JSON (the HTML page: jitops.audit.html)."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from datetime import datetime

from jitops.audit.history import KEYS, Record, rfc3339
from jitops.core.grant import format_time
from jitops.core.inert import one_line, printable


def _h(text: str) -> str:
    """Text for HTML: escaped, control characters shown escaped."""
    return html.escape(printable(text, newlines=True))


def to_json(records: Sequence[Record]) -> str:
    """A JSON array, one record per line (readable, and fast for large histories): each line
    is exactly ``json.dumps(record.to_json())``, written without building the dicts."""
    if not records:
        return "[]\n"
    return "[\n" + ",\n".join(map(_json_line, records)) + "\n]\n"


_str = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str (C)


def _s(value: str | None) -> str:
    return "null" if value is None else _str(value)


def _json_line(r: Record) -> str:
    pr = "null" if r.pull_request is None else str(int(r.pull_request))
    approved = ", ".join(map(_str, r.approved_by))
    return (
        f'{{"grant": {_str(r.grant)}, "requester": {_s(r.requester)}, "role": {_s(r.role)}, '
        f'"pull_request": {pr}, "approved_by": [{approved}], '
        f'"issued_at": {_s(rfc3339(r.issued_at))}, "expires_at": {_s(rfc3339(r.expires_at))}, '
        f'"ended_at": {_s(rfc3339(r.ended_at))}, "ended_by": {_s(r.ended_by)}, '
        f'"reason": {_s(r.reason)}, "ticket": {_s(r.ticket)}, "duration": {_s(r.duration)}, '
        f'"requested_at": {_s(rfc3339(r.requested_at))}, "end_reason": {_s(r.end_reason)}, '
        f'"active": {"true" if r.active else "false"}, {_time_and_risk_json(r)}, '
        f'"static_secret": {_STATIC[r.static_secret]}, '
        f'"static_secret_path": {_s(r.static_secret_path)}}}'
    )


_STATIC = {True: "true", False: "false", None: "null"}

#: what every output says of a grant whose secret outlives it (``Record.static_secret``)
STATIC_NOTE = "static secret: rotate it"
UNKNOWN_NOTE = "policy at issue unreadable: static secret?"


def static_note(r: Record) -> str:
    """The short note on a grant that handed out a static secret ('' for the others)."""
    if r.static_secret:
        return STATIC_NOTE
    return UNKNOWN_NOTE if r.static_secret is None else ""


#: The record's time-and-risk keys (:meth:`Record.to_json` has them all).
TIME_AND_RISK_KEYS = (
    "not_before",
    "extends",
    "chain",
    "chain_total",
    "emergency",
    "ratify_by",
    "ratified_by",
    "unratified",
    "ratification",
    "closed_reason",
    "closed_by",
)


def _time_and_risk_json(r: Record) -> str:
    full = r.to_json()
    return json.dumps({k: full[k] for k in TIME_AND_RISK_KEYS})[1:-1]


def to_csv(records: Sequence[Record]) -> str:
    buf = io.StringIO()
    columns = [*KEYS, "ticket", "duration", "end_reason", "static_secret", "static_secret_path"]
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in records:
        row = r.to_json()
        row["approved_by"] = ", ".join(row["approved_by"])
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = _cell(value)
        writer.writerow(row)
    return buf.getvalue()


def _cell(text: str | None) -> str | None:
    """Free text for a spreadsheet: never read as a formula (OWASP's CSV injection advice:
    a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'``), controls escaped."""
    if text is None:
        return None
    text = printable(text, newlines=True)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _left(r: Record, now: datetime) -> str:
    if r.expires_at is None:
        return ""
    minutes = int((r.expires_at - now).total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m left" if minutes >= 0 else "overdue"


def to_table(records: Sequence[Record], now: datetime, *, active: bool) -> str:
    if not records:
        return (
            "Nobody has access right now: no grant is active.\n"
            if active
            else "No grant matches: the history is empty or the filters exclude every grant.\n"
        )
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # a Text cell is never parsed as markup ("[/bold]" stays text)

    table = Table(
        "grant",
        "requester",
        "role",
        "PR",
        "approved by",
        "issued",
        "expires",
        "time left" if active else "ended",
        title="jitops audit",
        caption=f"{len(records)} active grant(s)" if active else f"{len(records)} grant(s)",
    )
    for r in records:
        last = (
            _left(r, now)
            if active
            else (f"{r.ended_by or ''} {format_time(r.ended_at) if r.ended_at else ''}".strip())
        )
        cells = (
            r.grant,
            r.requester or "",
            r.role or "",
            str(r.pull_request or ""),
            ", ".join(r.approved_by),
            format_time(r.issued_at) if r.issued_at else "",
            format_time(r.expires_at) if r.expires_at else "",
            last or ("active" if r.active else ""),
        )
        # control characters (ANSI, OSC-8 links) are shown escaped, never sent to the terminal
        row = [Text(one_line(c)) for c in cells]
        if static_note(r):
            row[2].append("\n" + static_note(r), style="bold")
        table.add_row(*row)
    console = Console(record=True, width=160, force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return cap.get() + static_footer(records)


def static_footer(records: Sequence[Record]) -> str:
    """The lines under the table naming each static secret handed out: revoking the grant
    does not end it (jitops.core.leases)."""
    from jitops.core.leases import ROTATE

    paths = sorted({r.static_secret_path for r in records if r.static_secret_path})
    unknown = sum(1 for r in records if r.static_secret is None)
    lines = [f"Static secret {one_line(p)}: {ROTATE}.\n" for p in paths]
    if unknown:
        lines.append(
            f"{unknown} grant(s) were issued under a policy audit could not read: whether "
            "they handed out a static secret is unknown; read the policy at their issue "
            "commit's parent.\n"
        )
    return "".join(lines)
