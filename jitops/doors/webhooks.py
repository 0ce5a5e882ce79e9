"""Optional webhooks told about grants: requested, approved, issued, expired, revoked, denied.

Targets come from the policy's ``settings.notify`` list (parsed once, with the policy, into
:class:`~jitops.core.webhooks.WebhookTarget` values)::

    settings:
      notify:
        - name: security-slack
          format: slack                  # Slack-compatible incoming webhook
          url_env: JITOPS_SLACK_WEBHOOK  # the URL is a secret: it is read from this variable
          events: [issued, expired, revoked, denied]   # default: all six
        - name: siem
          format: json                   # generic JSON, signed
          url_env: JITOPS_SIEM_WEBHOOK
          secret_env: JITOPS_SIEM_HMAC_KEY   # HMAC-SHA256 key, required for json

A JSON delivery carries ``X-Jitops-Event``, ``X-Jitops-Delivery`` (a UUID, the same on the
retry) and ``X-Jitops-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``, like GitHub's
``X-Hub-Signature-256``; receivers check it with :func:`verify_signature`.

A webhook never blocks issuing or revoking: :meth:`Notifier.send` never raises, sends to every
target at once, gives each request ``timeout`` seconds, retries once on a connection error or a
5xx, and returns within ``total_timeout`` whatever the receivers do. Failures are logged as
warnings naming the target, never its URL (which often embeds a token). Payloads hold only the
:class:`Event` fields: no secret ever.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jitops.core.notify_payload import (
    EVENT_KINDS,
    Event,
    json_payload,
    sign,
    slack_payload,
    verify_signature,
)
from jitops.core.webhooks import WebhookTarget

__all__ = [
    "EVENT_KINDS",
    "DeliveryResult",
    "Event",
    "Notifier",
    "json_payload",
    "sign",
    "slack_payload",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Jitops-Signature-256"
EVENT_HEADER = "X-Jitops-Event"
DELIVERY_HEADER = "X-Jitops-Delivery"
USER_AGENT = "jitops-webhook/1"

_log = logging.getLogger("jitops.doors.webhooks")


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one event at one target (never holds the URL)."""

    target: str
    ok: bool
    status: int | None = None
    attempts: int = 0
    error: str | None = None
    seconds: float = 0.0
    delivery_id: str | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is treated as failed: the body is not re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Notifier:
    """Sends events to the configured targets. ``send`` never raises."""

    def __init__(
        self,
        targets: Iterable[WebhookTarget],
        environ: Mapping[str, str],
        *,
        timeout: float = 5.0,
        logger: logging.Logger | None = None,
        total_timeout: float | None = None,
        retry_delay: float = 0.5,
    ) -> None:
        self.targets: tuple[WebhookTarget, ...] = tuple(targets)
        self.environ = environ
        self.timeout = timeout
        self.logger = logger or _log
        # a hung receiver costs one timeout (no retry); a failing one two requests and a pause
        self.total_timeout: float = (
            total_timeout if total_timeout is not None else 2 * timeout + 1.0
        )
        self.retry_delay = retry_delay

    def send(self, event: Event) -> list[DeliveryResult]:
        """Tell every target subscribed to ``event.kind``; one result per such target."""
        try:
            return self._send(event)
        except Exception as exc:  # never let a notification break issuing or revoking
            self.logger.warning(
                "notify: %s event for grant %s not sent: unexpected %s",
                getattr(event, "kind", "?"),
                getattr(event, "grant_id", "?"),
                type(exc).__name__,
            )
            return [DeliveryResult(t.name, False, error=type(exc).__name__) for t in self.targets]

    def _send(self, event: Event) -> list[DeliveryResult]:
        chosen = [t for t in self.targets if event.kind in t.events]
        if not chosen:
            return []
        budget = self.total_timeout
        start = time.monotonic()
        deadline = start + budget
        slots: list[DeliveryResult | None] = [None] * len(chosen)
        threads = []
        for index, target in enumerate(chosen):
            thread = threading.Thread(
                target=self._deliver_into,
                args=(slots, index, target, event, deadline),
                name=f"jitops-notify-{target.name}",
                daemon=True,  # a receiver that drips bytes forever cannot hold the process
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        results = []
        for index, target in enumerate(chosen):
            result = slots[index]
            if result is None:
                result = DeliveryResult(
                    target.name,
                    False,
                    error=f"no answer within {budget:g}s",
                    seconds=time.monotonic() - start,
                )
            self._log_result(event, result)
            results.append(result)
        return results

    def _log_result(self, event: Event, result: DeliveryResult) -> None:
        if result.ok:
            self.logger.info(
                "notify: %s event for grant %s sent to %s (HTTP %s)",
                event.kind,
                event.grant_id,
                result.target,
                result.status,
            )
        else:
            self.logger.warning(
                "notify: %s event for grant %s not delivered to webhook %s: %s "
                "(access is not affected; check the receiver and the webhook settings)",
                event.kind,
                event.grant_id,
                result.target,
                result.error,
            )

    def _deliver_into(
        self,
        slots: list[DeliveryResult | None],
        index: int,
        target: WebhookTarget,
        event: Event,
        deadline: float,
    ) -> None:
        try:
            slots[index] = self._deliver(target, event, deadline)
        except Exception as exc:  # pragma: no cover - _deliver catches what it expects
            slots[index] = DeliveryResult(target.name, False, error=type(exc).__name__)

    def _deliver(self, target: WebhookTarget, event: Event, deadline: float) -> DeliveryResult:
        start = time.monotonic()
        url = self.environ.get(target.url_env, "").strip()
        if not url:
            return DeliveryResult(
                target.name, False, error=f"environment variable {target.url_env} is not set"
            )
        if not url.lower().startswith(("https://", "http://")):
            return DeliveryResult(
                target.name,
                False,
                error=f"{target.url_env} does not hold an http(s) URL",
            )
        delivery_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: event.kind,
            DELIVERY_HEADER: delivery_id,
        }
        if target.format == "json":
            body = json_payload(event)
            key = self.environ.get(target.secret_env or "", "")
            if not key:
                return DeliveryResult(
                    target.name,
                    False,
                    error=f"environment variable {target.secret_env} (the HMAC key) is not set; "
                    "not sending unsigned",
                )
            headers[SIGNATURE_HEADER] = sign(body, key)
        else:
            body = slack_payload(event)

        attempts = 0
        status: int | None = None
        error: str | None = "no time left"
        while attempts < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            attempts += 1
            status, error, retry = self._post(url, body, headers, min(self.timeout, remaining))
            if error is None:
                return DeliveryResult(
                    target.name, True, status, attempts, None, time.monotonic() - start, delivery_id
                )
            if not retry or deadline - time.monotonic() <= self.retry_delay:
                break
            time.sleep(self.retry_delay)
        plural = "s" if attempts != 1 else ""
        return DeliveryResult(
            target.name,
            False,
            status,
            attempts,
            f"{error} after {attempts} attempt{plural}",
            time.monotonic() - start,
            delivery_id,
        )

    @staticmethod
    def _post(
        url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int | None, str | None, bool]:
        """One POST: (status, error or None, worth retrying). No message holds the URL."""
        # the scheme is checked to be http(s) before this point
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=timeout) as response:
                status = int(response.status)
                response.read(65536)
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, f"HTTP {exc.code}", exc.code >= 500
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return None, f"no answer within {timeout:.3g}s", False
            return None, f"connection failed ({_describe(reason)})", True
        except TimeoutError:
            return None, f"no answer within {timeout:.3g}s", False
        except (OSError, ValueError) as exc:  # reset mid-answer, malformed URL
            return None, f"request failed ({type(exc).__name__})", isinstance(exc, OSError)
        if 200 <= status < 300:
            return status, None, False
        return status, f"HTTP {status}", status >= 500


def _describe(reason: object) -> str:
    """A short cause that cannot carry the URL: the OS error text, or the exception type."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__
