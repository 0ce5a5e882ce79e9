"""The webhook targets of ``settings.notify``, parsed once (with the policy) into typed values.

Only the *names* of the environment variables holding a URL and an HMAC key are kept: the
values are secrets, read by :mod:`jitops.doors.webhooks` when it sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jitops.core.notify_payload import EVENT_KINDS
from jitops.errors import JitopsError

FORMATS = ("slack", "json")


class NotifyConfigError(JitopsError):
    """A ``settings.notify`` entry that cannot be used."""


@dataclass(frozen=True)
class WebhookTarget:
    """One configured webhook. Holds the *names* of the variables with the URL and key."""

    name: str
    format: str
    url_env: str
    secret_env: str | None = None
    events: frozenset[str] = frozenset(EVENT_KINDS)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> WebhookTarget:
        """Build from one ``settings.notify`` entry (already schema-checked)."""
        name = m.get("name")
        where = f"settings.notify entry {name!r}" if name else "a settings.notify entry"
        if not isinstance(name, str) or not name:
            raise NotifyConfigError(f"{where} has no name; give every webhook a name")
        fmt = m.get("format")
        if fmt not in FORMATS:
            raise NotifyConfigError(f"{where}: format must be slack or json, not {fmt!r}")
        url_env = m.get("url_env")
        if not isinstance(url_env, str) or not url_env:
            raise NotifyConfigError(
                f"{where}: url_env must name the environment variable that holds the URL"
            )
        secret_env = m.get("secret_env")
        if secret_env is not None and (not isinstance(secret_env, str) or not secret_env):
            raise NotifyConfigError(f"{where}: secret_env must name an environment variable")
        if fmt == "json" and secret_env is None:
            raise NotifyConfigError(
                f"{where}: format json needs secret_env, the environment variable holding "
                "the HMAC-SHA256 key receivers check the X-Jitops-Signature-256 header with"
            )
        events = m.get("events", EVENT_KINDS)
        unknown = sorted(set(events) - set(EVENT_KINDS))
        if unknown:
            raise NotifyConfigError(
                f"{where}: unknown event(s) {', '.join(map(str, unknown))}; choose from "
                f"{', '.join(EVENT_KINDS)}"
            )
        return cls(str(name), str(fmt), url_env, secret_env, frozenset(events))


def targets_from_settings(
    entries: Iterable[Mapping[str, Any]],
) -> tuple[list[WebhookTarget], list[str]]:
    """Every usable target, and a message for each entry that is not (for ``validate``)."""
    targets: list[WebhookTarget] = []
    problems: list[str] = []
    for entry in entries:
        try:
            targets.append(WebhookTarget.from_mapping(entry))
        except NotifyConfigError as exc:
            problems.append(str(exc))
    return targets, problems
