"""Pure lifecycle decisions: status blocks, ledger entries, commit messages, expiry.

No git, no network: everything here takes plain data and ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from jitops.core.commits import PlannedCommit
from jitops.core.grant import Grant, GrantStatus, format_time, grant_path, render_grant
from jitops.core.trailers import LedgerEntry, commit_message

#: Hidden line in the delivery comment: enough to record an issue whose git commit never
#: landed (the accessor can revoke, it cannot read; it is written to git anyway).
_ISSUED_RE = re.compile(
    r"<!-- jitops:issued grant=(?P<grant>[a-z0-9-]+) accessor=(?P<accessor>\S+) "
    r"issued_at=(?P<issued>\S+) expires_at=(?P<expires>\S+) -->"
)


def issued_marker(grant_id: str, accessor: str, issued_at: datetime, expires_at: datetime) -> str:
    return (
        f"<!-- jitops:issued grant={grant_id} accessor={accessor} "
        f"issued_at={format_time(issued_at)} expires_at={format_time(expires_at)} -->"
    )


@dataclass(frozen=True)
class IssuedRecord:
    grant_id: str
    accessor: str
    issued_at: datetime
    expires_at: datetime


def find_issued_record(bodies: Iterable[str], grant_id: str) -> IssuedRecord | None:
    """The latest delivery recorded in PR comments for ``grant_id`` (None when none)."""
    from jitops.core.grant import parse_time

    found = None
    for body in bodies:
        for m in _ISSUED_RE.finditer(body):
            if m.group("grant") == grant_id:
                try:
                    found = IssuedRecord(
                        grant_id,
                        m.group("accessor"),
                        parse_time(m.group("issued")),
                        parse_time(m.group("expires")),
                    )
                except ValueError:
                    continue
    return found


def active_status(
    *,
    pull_request: int | None,
    approved_by: Iterable[str],
    issued_at: datetime,
    expires_at: datetime,
    accessor: str,
) -> GrantStatus:
    return GrantStatus(
        state="active",
        issued_at=issued_at,
        expires_at=expires_at,
        token_accessor=accessor,
        pull_request=pull_request,
        approved_by=tuple(approved_by),
    )


def _entry(grant: Grant, action: str, *, reason: str | None = None) -> LedgerEntry:
    status = grant.status
    return LedgerEntry(
        action=action,
        grant=grant.id,
        requester=grant.requester,
        role=grant.role,
        pull_request=status.pull_request if status else None,
        approved_by=status.approved_by if status else (),
        expires_at=status.expires_at if status else None,
        reason=reason,
    )


#: The issue commit's trailer naming the delivery's wrapping token by its accessor.
DELIVERY_TRAILER = "Jitops-Delivery"
#: The issue commit's trailer of an emergency grant: the end of its ratification window.
RATIFY_BY_TRAILER = "Jitops-Ratify-By"
_ACCESSOR_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def issue_commit(
    grant: Grant,
    status: GrantStatus,
    *,
    delivery: str | None = None,
    ratify_by: datetime | None = None,
) -> PlannedCommit:
    """The ``issue`` commit; ``delivery`` (the wrapping token's accessor, never the token) is
    recorded as ``Jitops-Delivery``: with Vault it tells whether the delivery was claimed."""
    issued = replace(grant, status=status)
    body = (
        f"Access of {grant.requester} to {grant.role} for {grant.duration_text}, approved by "
        f"{', '.join(status.approved_by) or 'policy (no review needed)'}, "
        f"until {format_time(status.expires_at)}."
    )
    message = commit_message(_entry(issued, "issue"), body)
    if delivery and _ACCESSOR_RE.fullmatch(delivery):
        message = message.rstrip("\n") + f"\n{DELIVERY_TRAILER}: {delivery}\n"
    if ratify_by is not None:  # break-glass: ratified by then, or revoked and recorded
        message = message.rstrip("\n") + f"\n{RATIFY_BY_TRAILER}: {format_time(ratify_by)}\n"
    return PlannedCommit({grant_path(grant.id): render_grant(issued).encode()}, message)


def removal_commit(entry: LedgerEntry, reason: str, token_note: str) -> PlannedCommit:
    """Remove a grant file jitops already decided (``entry``: jitops' own record of it): a
    ``deny`` again for a denied id, else a ``revoke`` (an issued grant is never denied)."""
    action = "deny" if entry.action == "deny" else "revoke"
    again = replace(entry, action=action, reason=reason, at=None)
    body = f"Grant file {entry.grant} removed again: {reason}. {token_note}"
    return PlannedCommit({grant_path(entry.grant): None}, commit_message(again, body))


def deny_commit(grant: Grant, pull_request: int | None, reason: str) -> PlannedCommit:
    entry = replace(_entry(grant, "deny", reason=reason), pull_request=pull_request)
    body = f"Request of {grant.requester} for {grant.role} was denied: {reason}"
    return PlannedCommit({grant_path(grant.id): None}, commit_message(entry, body))


def expire_commit(grant: Grant, token_note: str) -> PlannedCommit:
    assert grant.status is not None
    body = (
        f"Access of {grant.requester} to {grant.role} ended at "
        f"{format_time(grant.status.expires_at)}. {token_note}"
    )
    return PlannedCommit(
        {grant_path(grant.id): None}, commit_message(_entry(grant, "expire"), body)
    )


def restore_commit(grant: Grant, recorded: bytes, reason: str) -> PlannedCommit:
    """The ``restore`` commit: ``grant``'s file put back exactly as jitops recorded it (the
    bytes of its own newest issue commit) after a change jitops refused: a deletion without
    the approval it needs, or a merged edit of an issued grant's file (``reason`` says which).
    Its trailers are the grant's own, as in its issue commit."""
    entry = _entry(grant, "restore", reason=reason)
    body = (
        f"Access of {grant.requester} to {grant.role} stays until its expiry, as recorded: "
        f"{reason}; the file is put back as jitops recorded it."
    )
    return PlannedCommit({grant_path(grant.id): recorded}, commit_message(entry, body))


#: Who asked for a revoke (``jitops revoke``, the manual workflow): a GitHub login.
ACTOR_TRAILER = "Jitops-Actor"


def revoke_commit(
    grant: Grant,
    reason: str,
    token_note: str,
    *,
    remove: bool = True,
    actor: str | None = None,
) -> PlannedCommit:
    """The ``revoke`` commit; ``actor`` (a validated login) is recorded as ``Jitops-Actor``."""
    body = f"Access of {grant.requester} to {grant.role} was revoked: {reason}. {token_note}"
    changes: Mapping[str, bytes | None] = {grant_path(grant.id): None} if remove else {}
    message = commit_message(_entry(grant, "revoke", reason=reason), body)
    if actor is not None:
        if not _ACTOR_RE.fullmatch(actor):
            raise ValueError("the actor of a revoke must be a GitHub login")
        # the trailer block is the last paragraph: the new line joins it
        message = message.rstrip("\n") + f"\n{ACTOR_TRAILER}: {actor}\n"
    return PlannedCommit(dict(changes), message)


_ACTOR_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")


def expired(grants: Iterable[Grant], now: datetime) -> list[Grant]:
    """Active grants whose ``expires_at`` is at or before ``now``, soonest first."""
    out = [g for g in grants if g.status is not None and g.status.expires_at <= now]
    return sorted(out, key=lambda g: (g.status.expires_at if g.status else now, g.id))
