"""Rendering audit records: terminal table, CSV, JSON and a self-contained HTML report."""

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
        f'"active": {"true" if r.active else "false"}, {_time_and_risk_json(r)}}}'
    )


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
    columns = [*KEYS, "ticket", "duration", "end_reason"]
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
        table.add_row(*(Text(one_line(c)) for c in cells))
    console = Console(record=True, width=160, force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return cap.get()


def to_html(records: Sequence[Record], now: datetime) -> str:
    """One self-contained page: who has access now, the history with filters, a timeline."""
    e = _h
    active = [r for r in records if r.active]
    issued = [r for r in records if r.issued_at]
    rows = "\n".join(
        "<tr data-requester='{req}' data-role='{role}' data-action='{act}'>".format(
            req=e(r.requester or ""),
            role=e(r.role or ""),
            act=e(r.ended_by or _state(r) or "ended"),
        )
        + "".join(
            f"<td>{e(str(v))}</td>"
            for v in (
                r.grant,
                r.requester or "",
                r.role or "",
                r.pull_request or "",
                ", ".join(r.approved_by),
                format_time(r.issued_at) if r.issued_at else "",
                format_time(r.expires_at) if r.expires_at else "",
                format_time(r.ended_at) if r.ended_at else "",
                r.ended_by or _state(r),
                r.reason or "",
                r.end_reason or "",
            )
        )
        + "</tr>"
        for r in records
    )
    now_rows = (
        "\n".join(
            f"<li><b>{e(r.requester or '')}</b> — {e(r.role or '')} until "
            f"{e(format_time(r.expires_at) if r.expires_at else '?')} ({e(_left(r, now))})</li>"
            for r in active
        )
        or "<li>nobody</li>"
    )
    svg = _timeline(issued, now)
    legend = _legend({_bar_kind(r) for r in issued})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jitops audit</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;width:100%;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 5px;text-align:left;white-space:nowrap}}
td:nth-child(10),td:nth-child(11){{white-space:normal;min-width:10em}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;opacity:.7}}
th{{background:#f3f3f3}} .filters input{{margin-right:1em}} svg text{{font:11px sans-serif}}
</style></head><body>
<h1>jitops audit</h1><p>Generated {e(format_time(now))} from git history alone.</p>
<h2>Who has access now</h2><ul id="now">{now_rows}</ul>{_break_glass(records)}
<h2>Timeline</h2><p class="legend">who held which role when:{legend}</p>{svg}
<h2>History</h2>
<div class="filters">
<label>requester <input id="f-requester"></label><label>role <input id="f-role"></label>
<label>action <input id="f-action"></label><label>text <input id="f-text"></label></div>
<table id="history"><thead><tr><th>grant</th><th>requester</th><th>role</th><th>PR</th>
<th>approved by</th><th>issued</th><th>expires</th><th>ended</th><th>ended by</th><th>reason</th>
<th>end reason</th>
</tr></thead><tbody>
{rows}
</tbody></table>
<script>
const ids = ["requester", "role", "action", "text"];
function apply() {{
  const f = Object.fromEntries(
    ids.map(k => [k, document.getElementById("f-" + k).value.toLowerCase()]));
  for (const tr of document.querySelectorAll("#history tbody tr")) {{
    const ok = tr.dataset.requester.toLowerCase().includes(f.requester)
      && tr.dataset.role.toLowerCase().includes(f.role)
      && tr.dataset.action.toLowerCase().includes(f.action)
      && tr.textContent.toLowerCase().includes(f.text);
    tr.style.display = ok ? "" : "none";
  }}
}}
ids.forEach(k => document.getElementById("f-" + k).addEventListener("input", apply));
// a link can carry filters: report.html#requester=octocat&role=prod
const given = new URLSearchParams(location.hash.slice(1));
ids.forEach(k => {{ if (given.has(k)) document.getElementById("f-" + k).value = given.get(k); }});
apply();
</script></body></html>
"""


_COLOURS = {
    "expire": ("#6a9", "expired"),
    "revoke": ("#d84", "revoked"),
    "deny": ("#c33", "denied after issue"),
    "ended": ("#999", "file removed, no end recorded"),
    "active": ("#47c", "active (in grants/)"),
    "emergency": ("#e90", "break-glass"),
    "unratified": ("#b0c", "break-glass never ratified"),
}


def _break_glass(records: Sequence[Record]) -> str:
    """Break-glass lists (time and risk): awaiting ratification, and never ratified."""

    def items(state: str) -> str:
        chosen = [r for r in records if r.ratification in state.split("|")]
        return (
            "".join(
                f"<li><b>{_h(r.grant)}</b> — {_h(r.requester or '')}, {_h(r.role or '')}"
                + (f", ratify by {_h(format_time(r.ratify_by))}" if r.ratify_by else "")
                + (f"; closed: {_h(r.closed_reason)}" if r.closed_reason else "")
                + "</li>"
                for r in chosen
            )
            or "<li>none</li>"
        )

    style = 'style="border-left:6px solid #b0c;padding-left:8px"'
    return (
        f"<h2 {style}>Break-glass: awaiting ratification</h2>"
        f'<ul id="awaiting-ratification">{items("awaiting")}</ul>'
        f"<h2 {style}>Break-glass: never ratified</h2>"
        f'<ul id="never-ratified">{items("unratified|closed")}</ul>'
    )


def _state(r: Record) -> str:
    return "active" if r.active else ("pending" if r.issued_at is None else "")


def _bar_kind(r: Record) -> str:
    """How an issued grant's bar is coloured: how it ended, or that it has not."""
    if r.ratification in ("unratified", "closed"):
        return "unratified"
    if r.ended_by is not None:
        return r.ended_by if r.ended_by in _COLOURS else "revoke"
    if r.emergency:
        return "emergency"
    return "active" if r.active else "ended"


def _legend(kinds: set[str]) -> str:
    """The colours actually drawn, in a fixed order."""
    return "".join(
        f'<span style="background:{colour}"></span>{label}'
        for kind, (colour, label) in _COLOURS.items()
        if kind in kinds
    )


def _timeline(records: Sequence[Record], now: datetime) -> str:
    if not records:
        return "<p>no grant was ever issued</p>"
    starts = [r.issued_at for r in records if r.issued_at]
    ends = [r.ended_at or r.expires_at or now for r in records]
    t0, t1 = min(starts), max([*ends, *starts])
    span = max((t1 - t0).total_seconds(), 1.0)
    lanes = sorted({(r.requester or "?", r.role or "?") for r in records})
    lane_of = {lane: i for i, lane in enumerate(lanes)}
    width, left, row = 900, 260, 22
    height = row * len(lanes) + 30
    parts = [f'<svg id="timeline" width="{width + left}" height="{height}" role="img">']
    for lane, i in lane_of.items():
        parts.append(f'<text x="4" y="{20 + i * row + 12}">{_h(lane[0])} · {_h(lane[1])}</text>')
    for r in records:
        if r.issued_at is None:
            continue
        end = r.ended_at or r.expires_at or now
        x = left + (r.issued_at - t0).total_seconds() / span * width
        w = max(3.0, (end - r.issued_at).total_seconds() / span * width)
        y = 20 + lane_of[(r.requester or "?", r.role or "?")] * row
        colour = _COLOURS[_bar_kind(r)][0]
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{colour}" '
            f'fill-opacity="0.6" stroke="{colour}">'
            f"<title>{_h(r.grant)}</title></rect>"
        )
    parts.append(f'<text x="{left}" y="{height - 4}">{_h(format_time(t0))}</text>')
    parts.append(f'<text x="{left + width - 130}" y="{height - 4}">{_h(format_time(t1))}</text>')
    parts.append("</svg>")
    return "".join(parts)
