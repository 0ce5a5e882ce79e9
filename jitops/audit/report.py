"""What the auditor's report says, computed once from the records (pure): each grant's state in
words, the summary band, time granted per role, time to approval. The HTML page
(:mod:`jitops.audit.html`), the job summary (:func:`to_markdown`) and the event exports read
these same values.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from jitops.audit.history import Record
from jitops.core.grant import format_time
from jitops.core.inert import one_line

#: state -> (words shown, colour); states not listed (an end action jitops learns later) are
#: shown with their own name in :data:`OTHER_COLOUR`. An emergency grant whose ratification
#: window passed without it is ``unratified`` in a colour of its own, closed by an admin or not.
STATES: dict[str, tuple[str, str]] = {
    "active": ("active now", "#1f6feb"),
    "pending": ("approved, not issued yet", "#8250df"),
    "expire": ("expired", "#1a7f37"),
    "revoke": ("revoked early", "#bc4c00"),
    "deny": ("denied", "#cf222e"),
    "removed": ("file removed, end not recorded", "#6e7781"),
    "withdrawn": ("removed before issue", "#6e7781"),
    "unratified": ("break-glass never ratified", "#b0c"),
}
OTHER_COLOUR = "#9a6700"


def state(r: Record) -> str:
    """One word for where a grant stands (a key of :data:`STATES`, or its end action)."""
    if r.ratification in ("unratified", "closed"):
        return "unratified"
    if r.ended_by is not None:
        return r.ended_by
    if r.active:
        return "active"
    if r.present:
        return "pending"
    return "removed" if r.issued_at is not None else "withdrawn"


def state_words(key: str) -> str:
    return STATES[key][0] if key in STATES else key.replace("-", " ")


def state_colour(key: str) -> str:
    return STATES[key][1] if key in STATES else OTHER_COLOUR


def granted_end(r: Record, now: datetime) -> datetime | None:
    """When a grant's access stops (or stopped): its end, else its expiry, else now."""
    if r.issued_at is None:
        return None
    end = r.ended_at or r.expires_at or now
    if r.expires_at is not None and end > r.expires_at:
        end = r.expires_at  # Vault cut it at the expiry; the sweep's commit came later
    return max(end, r.issued_at)


def granted(r: Record, now: datetime) -> timedelta:
    end = granted_end(r, now)
    return end - r.issued_at if end is not None and r.issued_at is not None else timedelta(0)


def span(d: timedelta | None) -> str:
    """``3d 4h``, ``2h05m``, ``45s``: a duration at a glance."""
    if d is None:
        return ""
    s = int(d.total_seconds())
    if s < 0:
        return "-" + span(-d)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"


@dataclass
class RoleFigures:
    role: str
    issued: int = 0
    granted: timedelta = timedelta(0)
    requesters: set[str] = field(default_factory=set)
    active: int = 0


@dataclass
class Summary:
    total: int
    counts: dict[str, int]  # state -> how many (only states that occur)
    issued: int
    active: int
    denied: int
    roles: list[RoleFigures]  # most time granted first
    top_requesters: list[tuple[str, int]]  # (login, grants issued), most first
    approval: timedelta | None  # median, from the request's last commit to its merge
    approval_n: int
    to_issue: timedelta | None  # median, from merge to issue
    first: datetime | None
    last: datetime | None
    extra: dict[str, int]  # flags some records carry (e.g. break-glass), when any do


def summarise(
    records: Sequence[Record], now: datetime, request_times: Mapping[str, datetime] | None = None
) -> Summary:
    """The summary band. ``request_times``: ``{head sha: time}`` of each request's last
    commit (what git knows of when a request was ready; see :func:`approval_note`)."""
    counts: Counter[str] = Counter(state(r) for r in records)
    roles: dict[str, RoleFigures] = {}
    by_requester: Counter[str] = Counter()
    approvals: list[float] = []
    to_issue: list[float] = []
    extra: Counter[str] = Counter()
    times = request_times or {}
    for r in records:
        if r.emergency:  # records gain such flags; they show when present
            extra["break-glass"] += 1
        if r.head_sha and r.requested_at and r.head_sha in times:
            wait = (r.requested_at - times[r.head_sha]).total_seconds()
            if wait >= 0:
                approvals.append(wait)
        if r.issued_at is None:
            continue
        if r.requested_at is not None and r.issued_at >= r.requested_at:
            to_issue.append((r.issued_at - r.requested_at).total_seconds())
        fig = roles.setdefault(r.role or "?", RoleFigures(r.role or "?"))
        fig.issued += 1
        fig.granted += granted(r, now)
        fig.active += r.active
        if r.requester:
            fig.requesters.add(r.requester.lower())
            by_requester[r.requester] += 1
    whens = [w for r in records if (w := r.issued_at or r.requested_at) is not None]
    return Summary(
        total=len(records),
        counts=dict(counts),
        issued=sum(1 for r in records if r.issued_at is not None),
        active=counts.get("active", 0),
        denied=counts.get("deny", 0),
        roles=sorted(roles.values(), key=lambda f: (-f.granted, f.role)),
        top_requesters=by_requester.most_common(5),
        approval=timedelta(seconds=statistics.median(approvals)) if approvals else None,
        approval_n=len(approvals),
        to_issue=timedelta(seconds=statistics.median(to_issue)) if to_issue else None,
        first=min(whens, default=None),
        last=max(whens, default=None),
        extra=dict(extra),
    )


APPROVAL_NOTE = (
    "from the request's last commit to its merge: git does not know when a pull request was "
    "opened or first reviewed, so this is the time from the request's final version (the pull "
    "request's head commit; for a squash or rebase merge, the commit's author date) to the "
    "merge that approved it"
)


# --- where the repository lives on the web --------------------------------------------------

_SCP = re.compile(r"^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!//)(.+)$")
_PATH = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def web_url(remote: str | None, env: Mapping[str, str], given: str | None = None) -> str | None:
    """The repository's web address (``https://github.com/acme/access``), never with
    credentials: ``given`` (``--web-url``), else the Actions variables ``GITHUB_SERVER_URL``
    and ``GITHUB_REPOSITORY``, else the ``origin`` remote's URL (https, ssh or scp-like).
    None when none of these names a repository."""
    if given:
        return _clean_web(given)
    server, repo = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
    if server and repo and _PATH.match(repo):
        base = _clean_web(server)
        if base:
            return f"{base}/{repo}"
    if not remote:
        return None
    m = _SCP.match(remote)
    if m and "/" not in m.group(1):
        host, path = m.group(1), m.group(2)
        scheme = "https"
    else:
        parts = urlsplit(remote)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
        scheme = "http" if parts.scheme == "http" else "https"
        if parts.scheme in ("https", "http") and parts.port:
            host = f"{host}:{parts.port}"
    path = path.strip("/").removesuffix(".git")
    if not _PATH.match(path) or not _HOST.match(host):
        return None
    return f"{scheme}://{host}/{path}"


def _clean_web(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/")
    if not _HOST.match(host) or not re.fullmatch(r"(/[A-Za-z0-9_.-]+)*", path):
        return None
    return f"{parts.scheme}://{host}{path}"  # user:password@ and query never kept


# --- the job summary -------------------------------------------------------------------------


def to_markdown(records: Sequence[Record], now: datetime, *, limit: int = 20) -> str:
    """A short job summary: counts, who has access now, time granted per role. Only ids,
    logins, roles and times (no reason, no ticket: a job summary is seen by every reader
    of the repository's Actions), every value in a code span."""
    from jitops.audit.render import STATIC_NOTE
    from jitops.core.inert import code_span

    s = summarise(records, now)
    tiles = [("requests", s.total), ("issued", s.issued), ("denied", s.denied)]
    tiles += [("active now", s.active)]
    tiles += [
        (state_words(k), n)
        for k, n in sorted(s.counts.items())
        if k not in ("active", "deny", "expire", "revoke", "pending", "removed", "withdrawn")
    ]
    tiles += sorted(s.extra.items())
    out = [f"### jitops audit — {format_time(now)}", ""]
    out.append(" · ".join(f"**{n}** {label}" for label, n in tiles))
    out.append("")
    active = sorted((r for r in records if r.active), key=lambda r: r.expires_at or now)
    if active:
        out += ["| active grant | requester | role | expires |", "|---|---|---|---|"]
        for r in active[:limit]:
            cells = (r.grant, r.requester or "", r.role or "", format_time(r.expires_at or now))
            row = [code_span(one_line(c, 80)) for c in cells]
            if r.static_secret is not False:  # its secret outlives it (or: unknown)
                row[2] += " " + (STATIC_NOTE if r.static_secret else "static?")
            out.append("| " + " | ".join(row) + " |")
        if len(active) > limit:
            out.append(f"\n…and {len(active) - limit} more (see the report artifact).")
    else:
        out.append("Nobody has access right now.")
    if s.roles:
        out += ["", "| role | issued | time granted |", "|---|---|---|"]
        out += [
            f"| {code_span(one_line(f.role, 80))} | {f.issued} | {span(f.granted)} |"
            for f in s.roles[:limit]
        ]
    return "\n".join(out) + "\n"
