"""A whole jitops installation on loopback (GitHub and Vault stand-ins, real git)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jitops.demo.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    pytest.importorskip("jitops.sandbox.vault.server", reason="no Vault stand-in")
    with World.create(tmp_path, use_postgres=False) as w:
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
