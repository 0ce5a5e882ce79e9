"""The ledger as events, for a SIEM (pure): `jitops audit --format jsonl` (jitops' own
schema, ``jitops schema audit-event``) and ``--format ocsf`` (the same events in OCSF's User
Access Management class).

Each record gives the events git holds for it, in this order: ``requested`` (the request's
final version, when git knows it, else its merge), ``approved`` (the merge that approved it,
with the approvers jitops' issue commit recorded), ``issued``, then how it ended: ``denied``,
``expired``, ``revoked``, ``removed`` (a merged pull request deleted the file and jitops has
not recorded the end yet) or any end action jitops records later (``unratified``...); and
``restored`` when jitops put back a file someone deleted without the approval it needs. An
event's ``id`` is stable (the same event exported twice has the same id), so an export with
an overlapping ``--since`` can be de-duplicated by the receiver.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jitops.audit.history import Record, rfc3339
from jitops.core.leases import ROTATE

SCHEMA_VERSION = "1"
SCHEMA_ID = "https://jitops.dev/schemas/audit-event/v1"

_END_TYPES = {"deny": "denied", "expire": "expired", "revoke": "revoked"}


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    time: datetime
    record: Record
    commit: str | None
    reason: str | None = None


def events(
    records: Iterable[Record],
    *,
    request_times: Mapping[str, datetime] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Event]:
    """Every event of ``records`` whose time is in [since, until], oldest first."""
    out: list[Event] = []
    times = request_times or {}
    for r in records:
        merged = r.requested_at
        if merged is not None:
            asked = times.get(r.head_sha or "", merged)
            out.append(Event("requested", min(asked, merged), r, r.head_sha or r.added_sha))
            if r.approved_by and r.issued_at is not None:
                out.append(Event("approved", merged, r, r.added_sha))
        if r.issued_at is not None:
            out.append(Event("issued", r.issued_at, r, r.issue_sha))
        out.extend(Event("restored", when, r, sha) for sha, when in r.restores)
        if r.ended_at is not None:
            kind = _END_TYPES.get(r.ended_by or "", r.ended_by or "removed")
            out.append(Event(kind, r.ended_at, r, r.end_sha, r.end_reason))
    out = [
        e for e in out if (since is None or e.time >= since) and (until is None or e.time <= until)
    ]
    order = {"requested": 0, "approved": 1, "issued": 2}
    out.sort(key=lambda e: (e.time, e.record.grant, order.get(e.type, 3)))
    return out


def event_id(e: Event) -> str:
    seed = f"{e.record.grant}\0{e.type}\0{e.commit or ''}\0{rfc3339(e.time)}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def to_event(e: Event, repository: str | None) -> dict[str, Any]:
    """One jsonl event (jitops/schemas/audit-event.schema.json)."""
    r = e.record
    return {
        "schema_version": SCHEMA_VERSION,
        "id": event_id(e),
        "type": e.type,
        "time": rfc3339(e.time),
        "grant": r.grant,
        "requester": r.requester,
        "role": r.role,
        "pull_request": r.pull_request,
        "approved_by": list(r.approved_by),
        "issued_at": rfc3339(r.issued_at),
        "expires_at": rfc3339(r.expires_at),
        "duration": r.duration,
        "ticket": r.ticket,
        "reason": e.reason if e.type not in ("requested", "approved", "issued") else r.reason,
        "commit": e.commit,
        "repository": repository,
        "static_secret": r.static_secret,
        "static_secret_path": r.static_secret_path,
    }


def to_jsonl(evs: Sequence[Event], repository: str | None) -> str:
    return "".join(json.dumps(to_event(e, repository), ensure_ascii=True) + "\n" for e in evs)


# --- OCSF -------------------------------------------------------------------------------------

OCSF_VERSION = "1.8.0"
_CLASS = 3005  # Identity & Access Management (3) / User Access Management (5)
_ASSIGN, _REVOKE, _OTHER = 1, 2, 99
_ACTIVITY = {
    "issued": (_ASSIGN, "Assign Privileges", 1),
    "restored": (_ASSIGN, "Assign Privileges", 1),
    "denied": (_ASSIGN, "Assign Privileges", 2),  # an assignment refused
    "expired": (_REVOKE, "Revoke Privileges", 1),
    "revoked": (_REVOKE, "Revoke Privileges", 1),
    "removed": (_REVOKE, "Revoke Privileges", 1),
    "unratified": (_REVOKE, "Revoke Privileges", 1),
}


def to_ocsf(e: Event, repository: str | None, version: str) -> dict[str, Any]:
    """One event of OCSF's User Access Management class (3005): an issue assigns the role's
    privileges to the requester, an end revokes them, a deny is a failed assignment; a request
    and an approval are activity 99 (Other) with their own activity name. jitops' own event
    (its schema) goes under ``unmapped``, nothing is lost."""
    r = e.record
    activity, name, status = _ACTIVITY.get(e.type, (_OTHER, e.type.capitalize(), 1))
    if e.type == "requested":
        name = "Request"
    elif e.type == "approved":
        name = "Approve"
    user = {"name": r.requester or "unknown", "type_id": 1, "type": "User"}
    ms = int(e.time.timestamp() * 1000)
    out: dict[str, Any] = {
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "class_uid": _CLASS,
        "class_name": "User Access Management",
        "activity_id": activity,
        "activity_name": name,
        "type_uid": _CLASS * 100 + activity,
        "type_name": f"User Access Management: {name}",
        "time": ms,
        "severity_id": 1,
        "severity": "Informational",
        "status_id": status,
        "status": "Success" if status == 1 else "Failure",
        "message": f"jitops {e.type}: {r.grant} ({r.role or '?'} for {r.requester or '?'})"
        + (f"; static secret {r.static_secret_path}: {ROTATE}" if r.static_secret_path else ""),
        "user": user,
        "privileges": [r.role] if r.role else [],
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "jitops", "vendor_name": "jitops", "version": version},
            "uid": event_id(e),
            "correlation_uid": r.grant,
            "log_name": repository or "jitops ledger",
        },
        "unmapped": to_event(e, repository),
    }
    if e.type == "approved" and r.approved_by:
        out["actor"] = {"user": {"name": r.approved_by[0], "type_id": 1, "type": "User"}}
    if e.reason and status == 2:
        out["status_detail"] = e.reason
    return out


def to_ocsf_lines(evs: Sequence[Event], repository: str | None, version: str) -> str:
    return "".join(
        json.dumps(to_ocsf(e, repository, version), ensure_ascii=True) + "\n" for e in evs
    )
