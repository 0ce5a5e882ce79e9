"""Fixtures for the Vault stand-in's contract suite.

``vault`` is parametrised over backends: the stand-in always, and a real ``vault server -dev``
when a ``vault`` binary is on PATH (the same assertions must hold on both; without the binary
that parameter is skipped with the reason). The stand-in is fresh per test; the real server is
shared per session, so tests use unique names (``unique``) for what they create.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests

from jitops.sandbox.vault import VaultSandbox
from tests.sandbox.vault.fakes import FakeEngine


@dataclass
class Backend:
    kind: str  # "standin" | "vault"
    url: str
    root_token: str
    sandbox: VaultSandbox | None = None
    engines: list[FakeEngine] = field(default_factory=list)  # database mounts (stand-in)

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, timeout=10)

    @property
    def root(self) -> hvac.Client:
        return self.client(self.root_token)

    def raw(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["X-Vault-Token"] = token
        return requests.request(method, f"{self.url}/v1/{path}", headers=headers, timeout=10, **kw)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if requests.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"vault server -dev at {url} did not become healthy in {deadline}s")


@pytest.fixture(scope="session")
def real_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    binary = shutil.which("vault")
    if binary is None:
        pytest.skip(
            "no vault binary on PATH: the contract run against vault server -dev is skipped"
        )
    root = "root-" + secrets.token_hex(8)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    home = tmp_path_factory.mktemp("vault-home")
    proc = subprocess.Popen(
        [
            binary,
            "server",
            "-dev",
            f"-dev-root-token-id={root}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(home), "VAULT_ADDR": url},
    )
    try:
        _wait_healthy(url)
        yield Backend("vault", url, root)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def standin() -> Iterator[Backend]:
    root = "root-" + secrets.token_hex(8)
    engines: list[FakeEngine] = []

    def factory() -> FakeEngine:
        engines.append(FakeEngine())
        return engines[-1]

    with VaultSandbox(root, engine_factory=factory) as box:
        yield Backend("standin", box.url, root, box, engines)
        assert box.errors == [], "the stand-in raised while answering (a stand-in bug)"


@pytest.fixture(params=["standin", "vault"])
def vault(request: pytest.FixtureRequest) -> Backend:
    """Every test using this runs against the stand-in and, when installed, real Vault."""
    backend: Backend = request.getfixturevalue(
        "standin" if request.param == "standin" else "real_vault"
    )
    return backend


@pytest.fixture
def unique() -> Callable[[str], str]:
    def make(prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    return make


def wait_until(check: Callable[[], bool], timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll ``check`` until true or ``timeout`` seconds; returns the last result."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()


def token_alive(backend: Backend, token: str) -> bool:
    return backend.raw("GET", "auth/token/lookup-self", token).status_code == 200


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    return tmp_path
