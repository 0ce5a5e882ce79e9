"""A small loopback HTTP proxy that injects faults in front of a real server (OpenBao).

Faults are queued with :meth:`FaultProxy.inject` and consumed by the next matching requests:

- ``"500"``/``"502"``/``"503"`` (any status): answered by the proxy, the server never sees it;
- ``"429"``: answered with ``Retry-After`` (seconds, ``retry_after``) like a Vault rate limit;
- ``"reset"``: the connection is reset before the request reaches the server;
- ``"timeout"``: the proxy holds the request ``delay`` seconds, then resets it;
- ``"lost"``: the server *does* handle the request, but its answer is replaced by a reset
  (the worst case for a client: it cannot tell whether the write happened).

Every request is logged (method, path, status or fault) and every Vault token the proxy sees
(``X-Vault-Token`` headers, ``client_token`` and ``wrap_info.token`` in answers) is collected in
``tokens_seen``, so a test can check that none of them reached an output.

Used by the tests (``tests/fixtures/faultproxy.py`` makes it a fixture) and by the soak
benchmark (``benchmarks/soak.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "content-length"}


@dataclass
class Fault:
    kind: str
    path: str = ""  # only requests whose path contains this
    retry_after: int = 1
    delay: float = 2.0


@dataclass
class FaultProxy:
    upstream: str  # http://127.0.0.1:PORT
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    tokens_seen: set[str] = field(default_factory=set)
    served: dict[str, int] = field(default_factory=dict)  # fault kind -> requests it hit
    url: str = ""
    down: bool = False  # True: every connection is reset (the server looks dead)
    _server: http.server.ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, kind: str, *, times: int = 1, path: str = "", **kw: Any) -> None:
        with self._lock:
            self.faults += [Fault(kind, path, **kw) for _ in range(times)]

    def _count(self, kind: str) -> None:
        with self._lock:
            self.served[kind] = self.served.get(kind, 0) + 1

    def requests_to(self, fragment: str) -> int:
        return sum(1 for _m, p, _s in self.log if fragment in p)

    def _take(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.path in path:
                    return self.faults.pop(i)
        return None

    def start(self) -> FaultProxy:
        proxy = self
        host, _, port = self.upstream.removeprefix("http://").partition(":")

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reset(self) -> None:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                token = self.headers.get("X-Vault-Token")
                if token:
                    proxy.tokens_seen.add(token)
                if proxy.down:
                    proxy.log.append((self.command, self.path, "down"))
                    proxy._count("down")
                    self._reset()
                    return
                fault = proxy._take(self.path)
                if fault is not None and fault.kind != "lost":
                    proxy.log.append((self.command, self.path, fault.kind))
                    proxy._count(fault.kind)
                    if fault.kind == "reset":
                        self._reset()
                    elif fault.kind == "timeout":
                        time.sleep(fault.delay)
                        self._reset()
                    elif fault.kind == "429":
                        msg = json.dumps({"errors": ["request path: rate limit quota exceeded"]})
                        self._answer(
                            429,
                            msg.encode(),
                            {
                                "Content-Type": "application/json",
                                "Retry-After": str(fault.retry_after),
                            },
                        )
                    else:
                        msg = json.dumps({"errors": [f"injected {fault.kind}"]})
                        self._answer(
                            int(fault.kind), msg.encode(), {"Content-Type": "application/json"}
                        )
                    return
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP}
                except OSError:  # the server itself is down: so is the answer
                    proxy.log.append((self.command, self.path, "upstream down"))
                    self._reset()
                    return
                finally:
                    conn.close()
                proxy._collect(data)
                if fault is not None:  # "lost": the server did it, the client never hears
                    proxy.log.append((self.command, self.path, "lost"))
                    proxy._count("lost")
                    self._reset()
                    return
                proxy.log.append((self.command, self.path, str(resp.status)))
                self._answer(resp.status, data, out)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _handle

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def _collect(self, data: bytes) -> None:
        try:
            doc = json.loads(data or b"null")
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        auth = doc.get("auth") or {}
        wrap = doc.get("wrap_info") or {}
        for value in (auth.get("client_token"), wrap.get("token")):
            if isinstance(value, str) and value:
                self.tokens_seen.add(value)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
