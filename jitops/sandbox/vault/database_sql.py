"""What Vault's PostgreSQL plugin runs on the database: create, renew and revoke a user.

Every function takes the superuser connection (autocommit, used under its lock); the conninfo
holds the root password and so never appears in an error or a repr.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from jitops.sandbox.vault.database_values import render, split_statements

DEFAULT_RENEW_STATEMENTS = ("ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';",)
TERMINATE_WAIT_MILLISECONDS = 5000
CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "vault-stand-in database"  # + the config name, in pg_stat_activity
SESSION_SETTINGS = "SET statement_timeout = '30s'; SET lock_timeout = '10s'"


class SuperuserConnection:
    """One superuser connection per config, used under a lock and reopened when broken."""

    def __init__(self, name: str, conninfo: str) -> None:
        self.name = name
        self._conninfo = conninfo
        self.lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def open(self) -> psycopg.Connection[Any]:
        """The live connection (call with ``lock`` held); raises psycopg.Error."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name=f"{APPLICATION_NAME} {self.name}"[:63],
            )
            conn.execute(SESSION_SETTINGS)
            self._conn = conn
        return self._conn

    def run(self, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``work`` (call with ``lock`` held), once more on a fresh connection when the
        old one turns out to be dead (server restart, terminated backend)."""
        reused = self._conn is not None and not self._conn.closed and not self._conn.broken
        try:
            work(self.open())
        except psycopg.OperationalError:
            if not (reused and self._conn is not None and self._conn.broken):
                raise
            self.close()
            work(self.open())

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def run_in_transaction(
    conn: psycopg.Connection[Any], statements: tuple[str, ...], values: dict[str, str]
) -> None:
    """Render and run ``statements`` (split as the plugin splits them) in one transaction."""
    with conn.transaction():
        for statement in split_statements(statements):
            conn.execute(render(statement, values))


def create_user(
    conn: psycopg.Connection[Any],
    creation: tuple[str, ...],
    rollback: tuple[str, ...],
    values: dict[str, str],
) -> None:
    """Run the creation statements in one transaction; on failure, the rollback statements."""
    try:
        run_in_transaction(conn, creation, values)
    except psycopg.Error:
        for statement in split_statements(rollback):  # best effort, like Vault
            with contextlib.suppress(psycopg.Error):
                conn.execute(render(statement, values))
        raise


def terminate_sessions(conn: psycopg.Connection[Any], username: str) -> None:
    """End every session of ``username``, waiting (bounded) for each to be gone."""
    conn.execute(
        "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity"
        " WHERE usename = %s AND pid <> pg_backend_pid()",
        (TERMINATE_WAIT_MILLISECONDS, username),
    )


def revoke_user(conn: psycopg.Connection[Any], username: str, statements: tuple[str, ...]) -> None:
    """Run the role's revocation statements, or the plugin's default revocation.

    Either way the user's open sessions are ended too, so no connection outlives the lease
    (Vault itself leaves them open).
    """
    if statements:
        terminate_sessions(conn, username)
        run_in_transaction(conn, statements, {"name": username, "username": username})
        terminate_sessions(conn, username)
        return
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
    if exists is None:
        return
    ident = sql.Identifier(username)
    # No new logins first, then end the open sessions.
    conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident))
    terminate_sessions(conn, username)
    schemas = conn.execute(
        "SELECT DISTINCT table_schema FROM information_schema.role_column_grants"
        " WHERE grantee = %s",
        (username,),
    ).fetchall()
    database = conn.execute("SELECT current_database()").fetchone()
    revokes: list[sql.Composed] = []
    for (schema,) in schemas:
        revokes.append(
            sql.SQL("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA {} FROM {}").format(
                sql.Identifier(schema), ident
            )
        )
        revokes.append(
            sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(sql.Identifier(schema), ident)
        )
    for text in (
        "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM {}",
        "REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM {}",
        "REVOKE USAGE ON SCHEMA public FROM {}",
    ):
        revokes.append(sql.SQL(text).format(ident))
    if database is not None:
        revokes.append(
            sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
                sql.Identifier(database[0]), ident
            )
        )
    # Like Vault, go on after a failed REVOKE to remove as much access as possible.
    for statement in revokes:
        with contextlib.suppress(psycopg.Error):
            conn.execute(statement)
    # What the user owns goes to the superuser and its remaining grants are dropped, so that
    # DROP ROLE cannot fail on dependent objects in this database.
    conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
    conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def renew_user(
    conn: psycopg.Connection[Any], username: str, statements: tuple[str, ...], expiration: str
) -> None:
    """Move the user's expiry (the role's renew statements or ``ALTER ROLE ... VALID UNTIL``)."""
    values = {"name": username, "username": username, "expiration": expiration}
    run_in_transaction(conn, statements or DEFAULT_RENEW_STATEMENTS, values)
