"""A whole jitops installation on loopback (the GitHub stand-in, real OpenBao, real git).

Every ``world`` shares the session's OpenBao server, in a namespace of its own."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jitops_sandbox.demo.world import World
from jitops_sandbox.openbao import OpenBaoServer
from tests.fixtures.vault_backend import namespace_name, shares_namespaces


@pytest.fixture
def world(tmp_path: Path, openbao_server: OpenBaoServer) -> Iterator[World]:
    if shares_namespaces(openbao_server):
        namespace = namespace_name()  # World.create makes it
        shared: OpenBaoServer | None = openbao_server
    else:
        namespace, shared = "", None
    with World.create(tmp_path, use_postgres=False, vault=shared, namespace=namespace or None) as w:
        yield w
        assert w.gh.errors == [], "the GitHub stand-in itself failed"


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback webhook receiver: (url, bodies received)."""
    got: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()
