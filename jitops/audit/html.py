"""The auditor's page (`jitops audit --format html`): a summary band, a timeline with a real
time axis, and the history with links and filters, in one self-contained file (pure).

Inert by construction: every text a requester or a pull request's author wrote reaches the page
through :func:`_h` (escaped, quotes included, controls shown as escapes), the only script is
jitops' own, allowed by its hash in a Content-Security-Policy that also forbids any request
(``default-src 'none'``): the page works offline, and even markup that slipped through could not
run a script or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from jitops.audit.history import Record
from jitops.audit.render import STATIC_NOTE, static_note
from jitops.audit.report import (
    APPROVAL_NOTE,
    Summary,
    granted,
    granted_end,
    span,
    state,
    state_colour,
    state_words,
    summarise,
)
from jitops.core.grant import format_time
from jitops.core.inert import printable
from jitops.core.leases import ROTATE

TIMELINE_LIMIT = 1500  # bars drawn at most (the latest); the table keeps every grant


def _h(text: object) -> str:
    """Text for HTML (content or a quoted attribute): escaped, controls shown as escapes."""
    return html.escape(printable(str(text), newlines=True))


def _t(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when else ""


def to_html(
    records: Sequence[Record],
    now: datetime,
    *,
    web: str | None = None,
    request_times: Mapping[str, datetime] | None = None,
    extra_section: str = "",
) -> str:
    """The page for ``records`` (oldest first). ``web``: the repository's web address, for
    links to pull requests and commits; ``request_times``: see :func:`summarise`."""
    s = summarise(records, now, request_times)
    rows = "\n".join(_row(i, r, now, web) for i, r in enumerate(records))
    script = _SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    where = f' of <a href="{_h(web)}">{_h(web)}</a>' if web else ""
    period = f"{_t(s.first)} to {_t(s.last)} UTC" if s.first and s.last else "no grant yet"
    requesters = sorted({r.requester for r in records if r.requester}, key=str.lower)
    roles = sorted({r.role for r in records if r.role})
    states = sorted({state(r) for r in records}, key=lambda k: state_words(k))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>jitops audit</title>
<style>{_CSS}</style></head><body><main>
<header><h1>Access audit</h1>
<p class="sub">The ledger{where}, rebuilt from git alone on {_h(format_time(now))}
&middot; {len(records)} requests, {_h(period)}</p></header>
{_band(s)}
<section class="cols">
<div><h2>Who has access now</h2>{_now(records, now, web)}</div>
<div><h2>Time granted per role</h2>{_roles(s)}</div>
</section>
{_break_glass(records)}
<section><h2>Timeline</h2>{_timeline(records, now)}</section>
<section><h2>History</h2>
<form class="filters" id="filters" autocomplete="off">
<label>from <input type="date" id="f-from"></label>
<label>to <input type="date" id="f-to"></label>
<label>requester <input id="f-requester" list="requesters" size="14"></label>
<datalist id="requesters">{"".join(f'<option value="{_h(x)}">' for x in requesters)}</datalist>
<label>role <select id="f-role"><option value="">all</option>
{"".join(f'<option value="{_h(x)}">{_h(x)}</option>' for x in roles)}</select></label>
<label>state <select id="f-state"><option value="">all</option>
{"".join(f'<option value="{_h(k)}">{_h(state_words(k))}</option>' for k in states)}</select></label>
<label>text <input id="f-text" size="14"></label>
<button type="reset" id="f-clear">clear</button>
<span id="shown" aria-live="polite"></span>
</form>
<table id="history"><colgroup><col class="c-grant"><col class="c-who"><col class="c-role">
<col class="c-state"><col class="c-when"><col class="c-dur"><col class="c-when">
<col class="c-who"><col class="c-ref"><col class="c-ticket"><col class="c-reason"></colgroup>
<thead><tr><th>grant</th><th>requester</th><th>role</th><th>state</th><th>issued (UTC)</th>
<th>granted</th><th>ends / ended</th><th>approved by</th><th>pull request &middot; commit</th>
<th>ticket</th><th>reason</th></tr></thead><tbody>
{rows}
</tbody></table>
</section>
{extra_section}
<footer>Times are UTC. &ldquo;Granted&rdquo; is issue to end (or to the expiry, when the grant
ran to it). Median time to approval: {_h(APPROVAL_NOTE)}.{_static_footer(records)}</footer>
</main>
<script>{script}</script></body></html>
"""


def _band(s: Summary) -> str:
    tiles: list[tuple[str, str, str]] = [
        ("issued", str(s.issued), f"of {s.total} requests"),
        ("denied", str(s.denied), "refused at merge or by the gate"),
        ("active now", str(s.active), "in grants/ and issued"),
    ]
    for key, n in sorted(s.counts.items()):
        if key not in ("active", "deny", "expire", "revoke", "pending", "removed", "withdrawn"):
            tiles.append((state_words(key), str(n), "recorded by jitops"))
    for key, n in sorted(s.extra.items()):
        tiles.append((key.replace("-", " "), str(n), "grants"))
    total = sum((f.granted for f in s.roles), timedelta(0))
    tiles.append(("time granted", span(total), f"over {len(s.roles)} role(s)"))
    tiles.append(
        (
            "median time to approval",
            span(s.approval) if s.approval is not None else "n/a",
            f"request's last commit to merge ({s.approval_n} requests)",
        )
    )
    tiles.append(
        (
            "median merge to issue",
            span(s.to_issue) if s.to_issue is not None else "n/a",
            "the gate's own delay",
        )
    )
    return (
        '<section class="band" id="band">'
        + "".join(
            f'<div class="tile" data-tile="{_h(label)}"><b>{_h(value)}</b>'
            f"<span>{_h(label)}</span><small>{_h(note)}</small></div>"
            for label, value, note in tiles
        )
        + "</section>"
    )


def _roles(s: Summary) -> str:
    if not s.roles:
        return "<p>No grant was ever issued.</p>"
    peak = max(f.granted.total_seconds() for f in s.roles) or 1.0
    body = "".join(
        f"<tr><td>{_h(f.role)}</td><td class=n>{f.issued}</td><td class=n>{len(f.requesters)}</td>"
        f'<td class=n>{_h(span(f.granted))}</td><td><span class="meter" style="width:'
        f'{f.granted.total_seconds() / peak * 100:.0f}%"></span></td></tr>'
        for f in s.roles[:12]
    )
    more = f"<p class=sub>and {len(s.roles) - 12} more roles</p>" if len(s.roles) > 12 else ""
    top = ", ".join(f"{_h(login)} ({n})" for login, n in s.top_requesters)
    return (
        '<table class="small"><thead><tr><th>role</th><th>issued</th><th>people</th>'
        f"<th>granted</th><th></th></tr></thead><tbody>{body}</tbody></table>{more}"
        f"<p class=sub>Most grants: {top or 'nobody yet'}</p>"
    )


def _now(records: Sequence[Record], now: datetime, web: str | None) -> str:
    active = sorted((r for r in records if r.active), key=lambda r: r.expires_at or now)
    if not active:
        return '<p id="now">Nobody has access right now.</p>'
    items = "".join(
        f"<li><b>{_h(r.requester or '?')}</b> &middot; {_h(r.role or '?')} &middot; "
        f"{_pr_link(r, web)} until {_h(_t(r.expires_at) or '?')} "
        f'<span class="{"late" if r.expires_at and r.expires_at < now else "left"}">'
        f"{_h(_left(r, now))}</span>{_static(r)}</li>"
        for r in active
    )
    return f'<ul id="now">{items}</ul>'


def _static(r: Record) -> str:
    """The note on a grant that handed out a static secret: revoking it does not end that
    secret, it has to be rotated ('' for the others)."""
    note = static_note(r)
    if not note:
        return ""
    why = f"{r.static_secret_path}: {ROTATE}" if r.static_secret_path else UNKNOWN_WHY
    return f'<span class="static" title="{_h(why)}">{_h(note)}</span>'


def _static_footer(records: Sequence[Record]) -> str:
    if not any(r.static_secret_path for r in records):
        return ""
    return (
        f" &ldquo;{_h(STATIC_NOTE)}&rdquo;: the role, as the policy that judged the issue "
        f"defined it, reads a secret with no lease (<code>vault.static</code>): "
        f"{_h(ROTATE)}."
    )


UNKNOWN_WHY = (
    "the policy at the issue commit's parent could not be read: whether this grant handed out "
    "a secret that outlives it is unknown"
)


def _break_glass(records: Sequence[Record]) -> str:
    """Break-glass (emergency grants, docs/time-and-risk.md): those awaiting ratification and
    those never ratified (closed by an admin or not), in the colour of the unratified state.
    Nothing when no grant was an emergency."""
    if not any(r.emergency for r in records):
        return ""

    def items(*states: str) -> str:
        chosen = [r for r in records if r.ratification in states]
        return (
            "".join(
                f"<li><b>{_h(r.grant)}</b> &middot; {_h(r.requester or '?')} &middot; "
                f"{_h(r.role or '?')}"
                + (f", ratify by {_h(_t(r.ratify_by))}" if r.ratify_by else "")
                + (
                    f"; closed by {_h(r.closed_by or '?')}: {_h(r.closed_reason)}"
                    if r.closed_reason
                    else ""
                )
                + "</li>"
                for r in chosen
            )
            or "<li>none</li>"
        )

    colour = state_colour("unratified")
    return (
        f'<section class="cols" style="border-left:6px solid {colour};padding-left:10px">'
        f'<div><h2>Break-glass: awaiting ratification</h2><ul id="awaiting-ratification">'
        f"{items('awaiting')}</ul></div>"
        f'<div><h2>Break-glass: never ratified</h2><ul id="never-ratified">'
        f"{items('unratified', 'closed')}</ul></div></section>"
    )


def _left(r: Record, now: datetime) -> str:
    if r.expires_at is None:
        return "no expiry recorded"
    minutes = int((r.expires_at - now).total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m left" if minutes >= 0 else "overdue"


def _pr_link(r: Record, web: str | None) -> str:
    if r.pull_request is None:
        return ""
    n = int(r.pull_request)
    if web is None:
        return f"#{n}"
    return f'<a class="pr" href="{_h(web)}/pull/{n}">#{n}</a>'


def _commit_link(sha: str | None, web: str | None, title: str) -> str:
    if not sha:
        return ""
    if web is None:
        return f'<code title="{_h(title)}">{_h(sha[:8])}</code>'
    return f'<a class="sha" href="{_h(web)}/commit/{_h(sha)}" title="{_h(title)}">{_h(sha[:8])}</a>'


def _row(i: int, r: Record, now: datetime, web: str | None) -> str:
    key = state(r)
    when = r.issued_at or r.requested_at
    end = r.ended_at if r.ended_at is not None else r.expires_at
    end_text = _t(end)
    if r.ended_at is None and r.expires_at is not None:
        end_text = f"until {end_text}" if r.active else end_text
    dur = span(granted(r, now)) if r.issued_at else ""
    refs = " ".join(
        x
        for x in (
            _pr_link(r, web),
            _commit_link(
                r.issue_sha or r.added_sha, web, "issue commit" if r.issue_sha else "merge"
            ),
            _commit_link(r.end_sha, web, "end commit"),
        )
        if x
    )
    reason = _h(r.reason or "")
    if r.end_reason:
        reason += f'<span class="why">ended: {_h(r.end_reason)}</span>'
    return (
        f'<tr data-i="{i}" data-day="{_h(when.strftime("%Y-%m-%d") if when else "")}" '
        f'data-requester="{_h(r.requester or "")}" data-role="{_h(r.role or "")}" '
        f'data-state="{_h(key)}">'
        f"<td>{_h(r.grant)}</td><td>{_h(r.requester or '')}</td><td>{_h(r.role or '')}"
        f"{_static(r)}</td>"
        f'<td><span class="st" style="--c:{state_colour(key)}">{_h(state_words(key))}</span></td>'
        f"<td>{_h(_t(r.issued_at))}</td><td>{_h(dur)}</td><td>{_h(end_text)}</td>"
        f"<td>{_h(', '.join(r.approved_by))}</td><td>{refs}</td><td>{_h(r.ticket or '')}</td>"
        f"<td>{reason}</td></tr>"
    )


# --- the timeline -----------------------------------------------------------------------------

_STEPS = [
    (timedelta(minutes=10), "%H:%M"),
    (timedelta(minutes=30), "%H:%M"),
    (timedelta(hours=1), "%H:%M"),
    (timedelta(hours=3), "%d %b %H:%M"),
    (timedelta(hours=6), "%d %b %H:%M"),
    (timedelta(hours=12), "%d %b %H:%M"),
    (timedelta(days=1), "%d %b"),
    (timedelta(days=2), "%d %b"),
    (timedelta(days=7), "%d %b"),
    (timedelta(days=14), "%d %b"),
]


def ticks(t0: datetime, t1: datetime, most: int = 10) -> list[tuple[datetime, str]]:
    """Calendar-aligned ticks between ``t0`` and ``t1`` (at most ``most``), with labels."""
    length = t1 - t0
    for step, fmt in _STEPS:
        if length / step <= most:
            epoch = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weeks start on Mondays
            n = -((epoch - t0) // step) if t0 > epoch else 0
            first = epoch + step * n
            if first < t0:
                first += step
            out, t = [], first
            while t <= t1:
                out.append((t, t.strftime(fmt)))
                t += step
            return out
    months = (t1.year - t0.year) * 12 + t1.month - t0.month + 1
    every = next(m for m in (1, 2, 3, 6, 12, 24, 60, 120, 1200) if months / m <= most)
    out = []
    y, m = t0.year, t0.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        t = datetime(y, m, 1, tzinfo=UTC)
        if t > t1:
            return out
        if ((y * 12 + m - 1) % every) == 0:
            out.append((t, t.strftime("%Y" if every >= 12 else "%b %Y")))


def _timeline(records: Sequence[Record], now: datetime) -> str:
    issued = [(i, r) for i, r in enumerate(records) if r.issued_at is not None]
    if not issued:
        return "<p>No grant was ever issued.</p>"
    note = ""
    if len(issued) > TIMELINE_LIMIT:
        issued = sorted(issued, key=lambda p: p[1].issued_at or now)[-TIMELINE_LIMIT:]
        note = f"<p class=sub>The latest {TIMELINE_LIMIT} grants; the table has all of them.</p>"
    t0 = min(r.issued_at for _, r in issued if r.issued_at)
    t1 = max(granted_end(r, now) or now for _, r in issued)
    t1 = max(t1, t0 + timedelta(hours=1))
    pad = (t1 - t0) * 0.02
    t0, t1 = t0 - pad, t1 + pad
    # lanes: grouped by role; in a role, one lane per requester, in order of first grant
    lanes: dict[str, dict[str, int]] = {}
    for _, r in sorted(issued, key=lambda p: (p[1].role or "?", p[1].issued_at or now)):
        lanes.setdefault(r.role or "?", {}).setdefault((r.requester or "?").lower(), 0)
    width, left, row, head, top = 1180, 190, 16, 18, 22
    y = top
    lane_y: dict[tuple[str, str], int] = {}
    labels = []
    for role, people in lanes.items():
        labels.append(f'<text class="role" x="4" y="{y + 13}">{_h(role)}</text>')
        labels.append(f'<line class="sep" x1="0" x2="{width}" y1="{y + 0.5}" y2="{y + 0.5}"/>')
        y += head
        for person in people:
            lane_y[(role, person)] = y
            labels.append(f'<text x="14" y="{y + 11}">{_h(person)}</text>')
            y += row
    height = y + 6
    scale = (width - left - 8) / max((t1 - t0).total_seconds(), 1.0)

    def x_of(t: datetime) -> float:
        return left + (t - t0).total_seconds() * scale

    axis = []
    for t, label in ticks(t0, t1):
        x = x_of(t)
        axis.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height}"/>')
        axis.append(f'<text class="ax" x="{x:.1f}" y="12" text-anchor="middle">{_h(label)}</text>')
    if t0 <= now <= t1:
        x = x_of(now)
        axis.append(f'<line class="now" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height}"/>')
    bars = []
    for i, r in issued:
        assert r.issued_at is not None
        end = granted_end(r, now) or now
        x = x_of(r.issued_at)
        w = max(2.5, (end - r.issued_at).total_seconds() * scale)
        yy = lane_y[(r.role or "?", (r.requester or "?").lower())]
        key = state(r)
        tip = (
            f"{r.grant}\n{r.requester or '?'} · {r.role or '?'} · {state_words(key)}\n"
            f"{_t(r.issued_at)} → {_t(end)} UTC ({span(end - r.issued_at)})"
            + (f"\napproved by {', '.join(r.approved_by)}" if r.approved_by else "")
            + (f"\npull request #{r.pull_request}" if r.pull_request else "")
            + (f"\nticket {r.ticket}" if r.ticket else "")
        )
        bars.append(
            f'<rect data-i="{i}" x="{x:.1f}" y="{yy + 2}" width="{w:.1f}" height="{row - 4}" '
            f'rx="2" fill="{state_colour(key)}"><title>{_h(tip)}</title></rect>'
        )
    kinds = sorted({state(r) for _, r in issued}, key=state_words)
    legend = "".join(
        f'<span class="st" style="--c:{state_colour(k)}">{_h(state_words(k))}</span>' for k in kinds
    )
    return (
        f'{note}<p class="legend">{legend} <span class="sub">hover a bar for details; '
        "the red line is now</span></p>"
        f'<div class="tl"><svg id="timeline" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="grants over time, by role and requester">'
        + "".join(labels)
        + "".join(axis)
        + "".join(bars)
        + "</svg></div>"
    )


_CSS = """
*{box-sizing:border-box}
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
main{max-width:1240px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:22px;margin:0}h2{font-size:15px;margin:22px 0 8px}
.sub{color:#59636e;margin:2px 0}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
.band{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px;
margin-top:14px}
.tile{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:10px 12px}
.tile b{display:block;font-size:22px;line-height:1.2}
.tile span{display:block;font-weight:600}
.tile small{color:#59636e;font-size:11px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:20px;margin-top:14px}
.cols>div,.tl,#history{background:#fff;border:1px solid #d1d9e0;border-radius:8px}
.cols>div{padding:0 14px 10px}
#now{margin:0;padding-left:18px}.left{color:#59636e}.late{color:#cf222e;font-weight:600}
table{border-collapse:collapse;width:100%}
table.small td,table.small th{padding:3px 6px;text-align:left;border-bottom:1px solid #eaeef2}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.meter{display:inline-block;height:8px;background:#1f6feb;border-radius:4px;min-width:2px}
.tl{padding:6px;max-height:460px;overflow-y:auto}
svg text{font:11px system-ui,sans-serif;fill:#1f2328}
svg text.role{font-weight:600}svg text.ax{fill:#59636e}
svg .tick{stroke:#eaeef2}svg .sep{stroke:#d1d9e0}svg .now{stroke:#cf222e;stroke-dasharray:3 2}
svg rect{opacity:.85}svg rect:hover{opacity:1;stroke:#1f2328}
.legend .st{margin-right:6px}
.st{display:inline-block;padding:0 7px;border-radius:10px;font-size:11.5px;color:#fff;
background:var(--c);white-space:nowrap}
.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin-bottom:8px}
.filters input,.filters select{font:inherit;padding:2px 4px}
#shown{color:#59636e}
#history{table-layout:fixed;font-size:12px;overflow:hidden}
#history th{background:#f6f8fa;text-align:left;font-weight:600;position:sticky;top:0}
#history td,#history th{padding:4px 6px;border-bottom:1px solid #eaeef2;vertical-align:top;
overflow-wrap:anywhere}
.c-grant{width:13%}.c-who{width:8%}.c-role{width:10%}.c-state{width:9%}.c-when{width:9.5%}
.c-dur{width:5.5%}.c-ref{width:9%}.c-ticket{width:6%}.c-reason{width:12.5%}
.why{display:block;color:#59636e}
.static{display:block;color:#9a6700;font-weight:600}
a.sha,code{font:11px ui-monospace,monospace}
footer{color:#59636e;margin-top:20px;font-size:12px}
@media (max-width:900px){.cols{grid-template-columns:1fr}}
@media print{body{background:#fff}.filters{display:none}}
"""

_SCRIPT = """
"use strict";
const ids = ["from", "to", "requester", "role", "state", "text"];
const field = k => document.getElementById("f-" + k);
const rows = Array.from(document.querySelectorAll("#history tbody tr"));
const bars = new Map(Array.from(document.querySelectorAll("#timeline rect"))
  .map(b => [b.dataset.i, b]));
function apply() {
  const f = Object.fromEntries(ids.map(k => [k, field(k).value.trim().toLowerCase()]));
  let shown = 0;
  for (const tr of rows) {
    const d = tr.dataset;
    const ok = (!f.from || (d.day && d.day >= f.from))
      && (!f.to || (d.day && d.day <= f.to))
      && d.requester.toLowerCase().includes(f.requester)
      && (!f.role || d.role.toLowerCase() === f.role)
      && (!f.state || d.state === f.state)
      && (!f.text || tr.textContent.toLowerCase().includes(f.text));
    tr.hidden = !ok;
    shown += ok;
    const bar = bars.get(d.i);
    if (bar) bar.style.display = ok ? "" : "none";
  }
  document.getElementById("shown").textContent = shown + " of " + rows.length + " shown";
  const given = new URLSearchParams();
  ids.forEach(k => { if (field(k).value) given.set(k, field(k).value); });
  try {  // keep the filters in the address, to share them
    history.replaceState(null, "", given.toString() ? "#" + given : location.pathname);
  } catch (e) { /* some browsers refuse this on file: pages; the filters still apply */ }
}
// a link can carry filters: report.html#requester=octocat&state=active&from=2026-01-01
const given = new URLSearchParams(location.hash.slice(1));
ids.forEach(k => {
  if (given.has(k)) field(k).value = given.get(k);
  field(k).addEventListener("input", apply);
});
document.getElementById("filters").addEventListener("reset", () => setTimeout(apply));
apply();
"""
