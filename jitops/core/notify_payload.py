"""What a webhook receives: the :class:`Event` and its Slack and signed-JSON bodies.

Only the fields of :class:`Event` ever leave in a payload; none of them is a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jitops.core.inert import one_line

if TYPE_CHECKING:
    from jitops.core.grant import Grant, GrantStatus

#: ``break_glass``: an emergency grant was issued without prior review (who must ratify, by
#: when, is in ``reason``); ``unratified``: its ratification window passed without it.
EVENT_KINDS = (
    "requested",
    "approved",
    "issued",
    "expired",
    "revoked",
    "denied",
    "break_glass",
    "unratified",
)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to a grant. Only these fields ever leave in a payload."""

    kind: str
    grant_id: str
    requester: str
    role: str
    at: datetime
    pull_request: int | None = None
    approved_by: tuple[str, ...] = ()
    expires_at: datetime | None = None
    reason: str | None = None
    actor: str | None = None
    repository: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "grant": self.grant_id,
            "requester": self.requester,
            "role": self.role,
            "pull_request": self.pull_request,
            "approved_by": list(self.approved_by),
            "expires_at": _rfc3339(self.expires_at) if self.expires_at else None,
            "reason": self.reason,
            "actor": self.actor,
            "repository": self.repository,
            "url": self.url,
            "at": _rfc3339(self.at),
        }


def grant_event(
    kind: str,
    grant: Grant,
    now: datetime,
    *,
    repository: str | None,
    server: str = "https://github.com",
    pull_request: int | None = None,
    status: GrantStatus | None = None,
    reason: str | None = None,
) -> Event:
    """A notification about ``grant`` (no secret: only what git shows too). ``status``: the
    status block to tell (default: the grant's own); its pull request is the one told unless
    ``pull_request`` is given. ``server``: GitHub's web address, for the pull request's link."""
    status = status or grant.status
    if pull_request is None and status is not None:
        pull_request = status.pull_request
    url = f"{server}/{repository}/pull/{pull_request}" if repository and pull_request else None
    return Event(
        kind=kind,
        grant_id=grant.id,
        requester=grant.requester,
        role=grant.role,
        pull_request=pull_request,
        approved_by=status.approved_by if status else (),
        expires_at=status.expires_at if status else None,
        reason=reason,
        at=now,
        repository=repository,
        url=url,
    )


def sign(body: bytes, key: str | bytes) -> str:
    """The ``X-Jitops-Signature-256`` header value for ``body``."""
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    return "sha256=" + hmac.new(raw_key, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, key: str | bytes) -> bool:
    """For receivers: whether ``header`` is the signature of the raw ``body`` under ``key``.

    Compares in constant time; a missing or malformed header is simply False.
    """
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(
        sign(body, key).encode("ascii"), header.strip().encode("ascii", "replace")
    )


def json_payload(event: Event) -> bytes:
    return json.dumps(event.to_json(), separators=(",", ":"), sort_keys=True).encode("utf-8")


def slack_payload(event: Event) -> bytes:
    """A Slack incoming-webhook message: ``text`` for notifications, ``blocks`` for display."""
    text = _summary(event)
    facts = [f"*Grant:* `{_esc(event.grant_id)}`", f"*Role:* {_esc(event.role)}"]
    if event.approved_by:
        facts.append(f"*Approved by:* {_esc(', '.join(event.approved_by))}")
    if event.expires_at and event.kind in ("issued", "approved", "requested"):
        facts.append(f"*Until:* {_rfc3339(event.expires_at)}")
    if event.reason:
        facts.append(f"*Reason:* {_esc(event.reason)}")
    where = []
    if event.repository:
        where.append(_esc(event.repository))
    if event.pull_request is not None:
        pr = f"#{event.pull_request}"
        where.append(f"<{_esc(event.url)}|{pr}>" if event.url else pr)
    context = " · ".join([*where, _rfc3339(event.at)])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    return json.dumps({"text": text, "blocks": blocks}).encode("utf-8")


def _summary(event: Event) -> str:
    who, role = _esc(event.requester), _esc(event.role)
    reason = f": {_esc(event.reason)}" if event.reason else ""
    by = f" by {_esc(event.actor)}" if event.actor else ""
    until = f" until {_rfc3339(event.expires_at)}" if event.expires_at else ""
    approvers = _esc(", ".join(event.approved_by)) if event.approved_by else ""
    return {
        "requested": f":inbox_tray: {who} requested *{role}*",
        "approved": f":white_check_mark: request of {who} for *{role}* approved"
        + (f" by {approvers}" if approvers else by),
        "issued": f":unlock: {who} has *{role}*{until}",
        "expired": f":hourglass: access of {who} to *{role}* expired",
        "revoked": f":no_entry: access of {who} to *{role}* revoked{by}{reason}",
        "denied": f":x: request of {who} for *{role}* denied{reason}",
        "break_glass": f":rotating_light: BREAK-GLASS: {who} has *{role}* without prior "
        f"review{until}{reason}",
        "unratified": f":rotating_light: emergency access of {who} to *{role}* was never "
        f"ratified{reason}",
    }[event.kind]


def _esc(text: str | None) -> str:
    """Slack mrkdwn escaping: user text cannot become a link or a mention (``<!channel>``,
    ``<@U123>``, ``<#C123>`` and links all need ``<``, which Slack's docs say to send as
    ``&lt;``), nor break the message into lines or carry control characters."""
    flat = one_line(text or "", 500)
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
