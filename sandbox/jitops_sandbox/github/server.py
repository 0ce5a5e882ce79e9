"""The HTTP side: a threaded loopback server, token auth, injected faults and a request log."""

from __future__ import annotations

import json
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jitops_sandbox.github import (
    routes_accounts,
    routes_actions,
    routes_git,
    routes_issues,
    routes_pulls,
    routes_rules,
)
from jitops_sandbox.github.errors import APIError, SandboxError
from jitops_sandbox.github.model import Fault, RequestRecord, User
from jitops_sandbox.github.render_accounts import Links
from jitops_sandbox.github.routing import Ctx, Reply
from jitops_sandbox.github.store import Store

_ROUTERS = (
    routes_accounts.router,
    routes_pulls.router,
    routes_issues.router,
    routes_git.router,
    routes_rules.router,
    routes_actions.router,
)
_MAX_BODY = 10 * 1024 * 1024
_DOCS = "https://docs.github.com/rest"

# Called with every RequestRecord any stand-in in this process answers (a test session
# registers one to check every response against GitHub's OpenAPI description).
OBSERVERS: list[Callable[[RequestRecord], None]] = []


class GitHubServer:
    """Serves the store's repository on ``http://host:port{prefix}``."""

    def __init__(
        self, store: Store, host: str = "127.0.0.1", port: int = 0, prefix: str = "/api/v3"
    ):
        self.store = store
        self.prefix = prefix.rstrip("/")
        self.faults: list[Fault] = []
        self.log: list[RequestRecord] = []
        self.errors: list[BaseException] = []  # unexpected exceptions (stand-in bugs)
        self._meta = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def add_fault(self, fault: Fault) -> None:
        with self._meta:
            self.faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._meta:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _record(self, record: RequestRecord) -> None:
        with self._meta:
            self.log.append(record)
        for observe in list(OBSERVERS):
            observe(record)

    # -- one request ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urllib.parse.urlsplit(target)
        path = split.path
        host = headers.get("host") or "{}:{}".format(*self.address)
        links = Links(api=f"http://{host}{self.prefix}", web=f"http://{host}")
        user: User | None = None
        inner = path[len(self.prefix) :] if path.startswith(self.prefix + "/") else None
        logged = inner if inner is not None else path
        route: list[str] = []
        fault = None
        try:
            fault = self._take_fault(method, logged)
            if fault is not None:
                reply = Reply(fault.status, fault.body, dict(fault.headers))
            elif inner is None:
                raise APIError(404, "Not Found")
            else:
                user = self._authenticate(headers)
                reply = self._dispatch(method, inner, split.query, body, user, links, route)
        except APIError as exc:
            reply = Reply(exc.status, exc.body(), dict(exc.headers))
        except SandboxError as exc:
            reply = Reply(422, {"message": str(exc), "documentation_url": _DOCS})
        except Exception as exc:  # a bug in the stand-in: answer 500 and keep it for the test
            with self._meta:
                self.errors.append(exc)
            traceback.print_exc()
            reply = Reply(500, {"message": "Server Error", "documentation_url": _DOCS})
        encoded = self._encode(reply)
        self._record(
            RequestRecord(
                method,
                logged,
                split.query,
                reply.status,
                user.login if user else None,
                route=route[0] if route else None,
                # what went over the wire, decoded again: a copy no later change can touch
                body=json.loads(encoded[2]) if encoded[2] else None,
                fault=fault is not None,
            )
        )
        return encoded

    def _authenticate(self, headers: dict[str, str]) -> User:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            raise APIError(401, "Requires authentication")
        if scheme.lower() not in ("token", "bearer") or not token.strip():
            raise APIError(401, "Bad credentials")
        user = self.store.user_by_token(token.strip())
        if user is None:
            raise APIError(401, "Bad credentials")
        return user

    def _dispatch(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        user: User,
        links: Links,
        route: list[str],
    ) -> Reply:
        lookup = "GET" if method == "HEAD" else method
        by_id = f"/repositories/{self.store.repo_id}"
        if path == by_id or path.startswith(by_id + "/"):
            path = f"/repos/{self.store.owner}/{self.store.name}{path[len(by_id) :]}"
        for router in _ROUTERS:
            found = router.match(lookup, path.rstrip("/") or "/")
            if found is not None:
                handler, params, pattern = found
                route.append(pattern)
                ctx = Ctx(
                    method=method,
                    path=path,
                    query=urllib.parse.parse_qs(query, keep_blank_values=True),
                    raw_body=body,
                    user=user,
                    store=self.store,
                    links=links,
                    params=params,
                )
                with self.store.lock:
                    return handler(ctx)
        raise APIError(404, "Not Found")

    def _encode(self, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": f"SANDBOX:{time.monotonic_ns():x}",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
        }
        headers.update(reply.headers)
        data = b""
        if reply.body is not None and reply.status != 204:
            data = json.dumps(reply.body, indent=None).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        return reply.status, headers, data


def _make_handler(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "GitHub.com"
        sys_version = ""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, data = server.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
