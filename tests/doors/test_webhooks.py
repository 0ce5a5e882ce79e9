"""Webhooks: real HTTP to a loopback receiver; a failing receiver never breaks a send."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jitops.core.webhooks import NotifyConfigError, WebhookTarget, targets_from_settings
from jitops.doors.webhooks import EVENT_KINDS, Event, Notifier, verify_signature

pytestmark = pytest.mark.integration  # a real HTTP receiver on loopback

FAKE_TOKEN = "T0FAKE/B0FAKE/xoxb-not-a-real-token-42"
HMAC_KEY = "siem-shared-key"

EVENT = Event(
    kind="issued",
    grant_id="prod-db-ro-octocat-1123",
    requester="octocat",
    role="prod-db-readonly",
    pull_request=42,
    approved_by=("alice", "bob"),
    expires_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
    reason=None,
    actor=None,
    at=datetime(2026, 11, 23, 10, 0, 0, 500, tzinfo=UTC),
    repository="acme/access",
    url="https://github.com/acme/access/pull/42",
)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A stdlib HTTP server on 127.0.0.1 that records POSTs and misbehaves on demand."""

    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("/", 2)[1] if self.path.count("/") >= 1 else self.path
            state.hits.append(Hit(self.path, dict(self.headers.items()), body))
            if path == "hang":
                state.stop.wait(5)  # bounded: the fixture releases it at teardown
                return
            status = 200
            if path == "fail":
                status = 500
            elif path == "flaky" and state.fail_first.get("flaky", 0) > 0:
                state.fail_first["flaky"] -= 1
                status = 503
            elif path == "redirect":
                status = 302
            elif path == "forbidden":
                status = 403
            self.send_response(status)
            if status == 302:
                self.send_header("Location", state.url("/ok"))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _targets(*entries: dict[str, Any]) -> list[WebhookTarget]:
    return [WebhookTarget.from_mapping(e) for e in entries]


SLACK = {"name": "security-slack", "format": "slack", "url_env": "SLACK_URL"}
SIEM = {"name": "siem", "format": "json", "url_env": "SIEM_URL", "secret_env": "SIEM_KEY"}


def test_slack_and_json_payloads_arrive_with_the_right_shape(receiver: Receiver) -> None:
    env = {
        "SLACK_URL": receiver.url(f"/ok/slack/{FAKE_TOKEN}"),
        "SIEM_URL": receiver.url("/ok/siem"),
        "SIEM_KEY": HMAC_KEY,
    }
    results = Notifier(_targets(SLACK, SIEM), env, timeout=2).send(EVENT)
    assert [(r.target, r.ok, r.status, r.attempts) for r in results] == [
        ("security-slack", True, 200, 1),
        ("siem", True, 200, 1),
    ]
    by_path = {hit.path.split("/")[2]: hit for hit in receiver.hits}

    slack = by_path["slack"]
    message = json.loads(slack.body)
    assert set(message) == {"text", "blocks"}
    assert message["text"] == ":unlock: octocat has *prod-db-readonly* until 2026-11-23T12:00:00Z"
    assert [b["type"] for b in message["blocks"]] == ["section", "section", "context"]
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert "*Approved by:* alice, bob" in fields
    context = message["blocks"][2]["elements"][0]["text"]
    assert "<https://github.com/acme/access/pull/42|#42>" in context
    assert slack.headers["Content-Type"] == "application/json"

    siem = by_path["siem"]
    doc = json.loads(siem.body)
    assert doc == {
        "event": "issued",
        "grant": "prod-db-ro-octocat-1123",
        "requester": "octocat",
        "role": "prod-db-readonly",
        "pull_request": 42,
        "approved_by": ["alice", "bob"],
        "expires_at": "2026-11-23T12:00:00Z",
        "reason": None,
        "actor": None,
        "repository": "acme/access",
        "url": "https://github.com/acme/access/pull/42",
        "at": "2026-11-23T10:00:00Z",
    }
    assert siem.headers["X-Jitops-Event"] == "issued"
    assert siem.headers["X-Jitops-Delivery"] == results[1].delivery_id
    assert siem.headers["Content-Type"] == "application/json"
    signature = siem.headers["X-Jitops-Signature-256"]
    assert signature.startswith("sha256=")
    assert verify_signature(siem.body, signature, HMAC_KEY)
    assert verify_signature(siem.body, signature, HMAC_KEY.encode())


def test_verify_signature_rejects_tampering_and_junk(receiver: Receiver) -> None:
    env = {"SIEM_URL": receiver.url("/ok"), "SIEM_KEY": HMAC_KEY}
    Notifier(_targets(SIEM), env, timeout=2).send(EVENT)
    hit = receiver.hits[0]
    signature = hit.headers["X-Jitops-Signature-256"]
    tampered = hit.body.replace(b"octocat", b"mallory")
    assert not verify_signature(tampered, signature, HMAC_KEY)
    assert not verify_signature(hit.body, signature, "another-key")
    assert not verify_signature(hit.body, None, HMAC_KEY)
    assert not verify_signature(hit.body, "", HMAC_KEY)
    assert not verify_signature(hit.body, signature.replace("sha256=", "sha1="), HMAC_KEY)
    assert not verify_signature(hit.body, "sha256=ünïcode", HMAC_KEY)


def test_events_are_filtered_per_target(receiver: Receiver) -> None:
    only_revocations = {**SLACK, "events": ["revoked", "denied"]}
    notifier = Notifier(_targets(only_revocations), {"SLACK_URL": receiver.url("/ok")}, timeout=2)
    assert notifier.send(EVENT) == []
    assert receiver.hits == []
    revoked = replace(EVENT, kind="revoked", actor="alice", reason="left the <!channel> team")
    [result] = notifier.send(revoked)
    assert result.ok
    text = json.loads(receiver.hits[0].body)["text"]
    # user text is escaped: it cannot ping the channel or become a link
    assert text == (
        ":no_entry: access of octocat to *prod-db-readonly* revoked by alice: "
        "left the &lt;!channel&gt; team"
    )


def test_every_event_kind_renders(receiver: Receiver) -> None:
    env = {"SLACK_URL": receiver.url("/ok"), "SIEM_URL": receiver.url("/ok"), "SIEM_KEY": "k"}
    notifier = Notifier(_targets(SLACK, SIEM), env, timeout=2)
    for kind in EVENT_KINDS:
        assert all(r.ok for r in notifier.send(replace(EVENT, kind=kind)))
    kinds = [hit.headers["X-Jitops-Event"] for hit in receiver.hits]
    assert sorted(kinds) == sorted(EVENT_KINDS * 2)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_broken_receivers_fail_softly_within_the_bound(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    names = ["hangs", "errors", "closed", "unset", "redirects", "nokey", "dns"]
    targets = [
        {"name": n, "format": "slack", "url_env": f"URL_{n.upper()}"} for n in names if n != "nokey"
    ]
    targets.append({"name": "nokey", "format": "json", "url_env": "URL_OK", "secret_env": "NOPE"})
    env = {
        "URL_HANGS": receiver.url(f"/hang/{FAKE_TOKEN}"),
        "URL_ERRORS": receiver.url(f"/fail/{FAKE_TOKEN}"),
        "URL_CLOSED": f"http://127.0.0.1:{_closed_port()}/{FAKE_TOKEN}",
        "URL_REDIRECTS": receiver.url(f"/redirect/{FAKE_TOKEN}"),
        "URL_OK": receiver.url(f"/ok/{FAKE_TOKEN}"),
        "URL_DNS": f"https://hooks.jitops-test.invalid/{FAKE_TOKEN}",
    }
    notifier = Notifier(_targets(*targets), env, timeout=0.5, total_timeout=1.5, retry_delay=0.05)
    caplog.set_level(logging.INFO, logger="jitops.doors.webhooks")
    started = time.monotonic()
    results = notifier.send(EVENT)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"send took {elapsed:.2f}s"
    by_name = {r.target: r for r in results}
    assert set(by_name) == set(names)
    assert not any(r.ok for r in results)
    assert by_name["hangs"].error is not None
    assert "no answer within" in by_name["hangs"].error
    assert by_name["hangs"].attempts == 1  # a timeout is not retried
    assert by_name["errors"].status == 500
    assert by_name["errors"].attempts == 2  # one retry on 5xx
    assert by_name["closed"].attempts == 2  # one retry on a connection error
    assert "Connection refused" in (by_name["closed"].error or "")
    assert by_name["unset"].error == "environment variable URL_UNSET is not set"
    assert by_name["unset"].attempts == 0
    assert by_name["redirects"].status == 302
    assert by_name["redirects"].attempts == 1
    assert "not sending unsigned" in (by_name["nokey"].error or "")
    assert by_name["dns"].error is not None
    assert [h.path.split("/")[1] for h in receiver.hits].count("ok") == 0  # no redirect follow
    # every failure is logged as a warning naming the target, never the URL
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    for name in names:
        assert any(f"webhook {name}:" in r.getMessage() for r in warnings), name
    assert FAKE_TOKEN not in caplog.text
    assert "127.0.0.1" not in caplog.text
    assert all(FAKE_TOKEN not in repr(r) for r in results)


def test_a_5xx_then_success_is_retried_once(receiver: Receiver) -> None:
    receiver.fail_first["flaky"] = 1
    env = {"SLACK_URL": receiver.url("/flaky")}
    [result] = Notifier(_targets(SLACK), env, timeout=2, retry_delay=0.05).send(EVENT)
    assert (result.ok, result.status, result.attempts) == (True, 200, 2)
    ids = {hit.headers["X-Jitops-Delivery"] for hit in receiver.hits}
    assert len(receiver.hits) == 2
    assert len(ids) == 1  # the retry is the same delivery, so receivers can deduplicate


def test_a_4xx_is_not_retried(receiver: Receiver) -> None:
    env = {"SLACK_URL": receiver.url("/forbidden")}
    [result] = Notifier(_targets(SLACK), env, timeout=2, retry_delay=0.05).send(EVENT)
    assert (result.ok, result.status, result.attempts) == (False, 403, 1)
    assert result.error == "HTTP 403 after 1 attempt"


def test_send_never_raises_even_on_a_broken_environment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Exploding(dict[str, str]):
        def get(self, *_args: Any, **_kwargs: Any) -> str:
            raise RuntimeError("boom")

    [result] = Notifier(_targets(SLACK), Exploding(), timeout=0.5).send(EVENT)
    assert not result.ok
    assert "RuntimeError" in (result.error or "")
    assert "not delivered to webhook security-slack" in caplog.text


def test_non_http_urls_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    env = {"SLACK_URL": "file:///etc/passwd"}
    [result] = Notifier(_targets(SLACK), env, timeout=0.5).send(EVENT)
    assert result.error == "SLACK_URL does not hold an http(s) URL"
    assert "passwd" not in caplog.text


def test_target_configuration_errors_say_what_to_fix(caplog: pytest.LogCaptureFixture) -> None:
    target = WebhookTarget.from_mapping(SLACK)
    assert target.events == frozenset(EVENT_KINDS)
    assert target.secret_env is None
    with pytest.raises(NotifyConfigError, match="format json needs secret_env"):
        WebhookTarget.from_mapping({"name": "siem", "format": "json", "url_env": "X"})
    with pytest.raises(NotifyConfigError, match="unknown event"):
        WebhookTarget.from_mapping({**SLACK, "events": ["issued", "exploded"]})
    with pytest.raises(NotifyConfigError, match="slack or json"):
        WebhookTarget.from_mapping({**SLACK, "format": "xml"})
    targets, problems = targets_from_settings([SLACK, {"format": "slack"}])
    assert [t.name for t in targets] == ["security-slack"]
    assert problems == ["a settings.notify entry has no name; give every webhook a name"]
    [result] = Notifier(targets, {}).send(EVENT)
    assert result.error == "environment variable SLACK_URL is not set"
    with pytest.raises(ValueError, match="unknown event kind"):
        replace(EVENT, kind="exploded")
