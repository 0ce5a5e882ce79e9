"""The HTTP side of the Vault stand-in: ``/v1/...`` on a threaded loopback server."""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jitops.sandbox.vault.core import VaultCore
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Reply, Request
from jitops.sandbox.vault.util import duration_seconds

log = logging.getLogger(__name__)
_MAX_BODY = 32 * 1024 * 1024
_METHODS = {
    "GET": "GET",
    "HEAD": "GET",
    "POST": "POST",
    "PUT": "POST",
    "DELETE": "DELETE",
    "LIST": "LIST",
}


class VaultServer:
    """Serves ``core`` on ``http://host:port``; :attr:`errors` keeps the stand-in's own bugs."""

    def __init__(self, core: VaultCore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.core = core
        self.errors: list[BaseException] = []
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name="vault-sandbox",
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes]:
        try:
            request = _parse(method, target, headers, raw)
            reply = self.core.handle(request)
        except VaultAPIError as exc:
            reply = Reply(exc.status, {"errors": exc.errors})
        except Exception as exc:  # a bug in the stand-in: answer 500 and keep it for the tests
            log.exception("the Vault stand-in failed on %s %s", method, target)
            self.errors.append(exc)
            reply = Reply(500, {"errors": ["1 error occurred:\n\t* internal error\n\n"]})
        if reply.status in (202, 204) or reply.body is None:
            return reply.status, b""
        return reply.status, json.dumps(reply.body).encode()


def _parse(method: str, target: str, headers: dict[str, str], raw: bytes) -> Request:
    split = urllib.parse.urlsplit(target)
    path = urllib.parse.unquote(split.path)
    if not path.startswith("/v1/"):
        raise VaultAPIError(404)
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
    verb = _METHODS.get(method)
    if verb is None:
        raise VaultAPIError(405, "1 error occurred:\n\t* unsupported operation\n\n")
    if verb == "GET" and query.get("list", "").lower() in ("true", "1"):
        verb = "LIST"
    body: dict[str, Any] = {}
    if raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise VaultAPIError(400, f"failed to parse JSON input: {exc}") from None
        if isinstance(parsed, dict):
            body = parsed
        elif parsed is not None:
            raise VaultAPIError(400, "failed to parse JSON input: not a JSON object")
    token = headers.get("x-vault-token") or ""
    auth = headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    wrap_ttl: int | None = None
    if headers.get("x-vault-wrap-ttl"):
        try:
            wrap_ttl = duration_seconds(headers["x-vault-wrap-ttl"], "X-Vault-Wrap-TTL")
        except VaultAPIError:
            raise VaultAPIError(400, "error parsing X-Vault-Wrap-TTL header") from None
    return Request(
        method=verb,
        path=path[4:].strip("/") if verb != "LIST" else path[4:].lstrip("/"),
        query=query,
        body=body,
        client_token=token or None,
        wrap_ttl=wrap_ttl or None,
    )


def _make_handler(server: VaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "Vault"
        sys_version = ""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self.send_error(413)
                return
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data = server.handle(self.command, self.path, headers, raw)
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def __getattr__(name: str) -> Any:
    """``server.VaultSandbox`` is the sandbox (imported lazily: the sandbox imports this module)."""
    if name == "VaultSandbox":
        from jitops.sandbox.vault.sandbox import VaultSandbox

        return VaultSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
