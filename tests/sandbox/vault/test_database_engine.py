"""The database secrets engine against a real PostgreSQL: users, grants, expiry, revocation."""

# The SQL built with f-strings only names tables this module generates itself.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from jitops.sandbox.postgres import PostgresServer
from jitops.sandbox.vault.database import Credentials, DatabaseEngine
from jitops.sandbox.vault.errors import VaultAPIError

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MOUNT_MAX = 768 * 3600
CREATE_READER = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
    ' GRANT SELECT ON {table} TO "{{name}}";'
)
USERNAME = re.compile(r"^v-(?P<display>[^-]*)-(?P<role>.{1,8})-[A-Za-z0-9]{20}-(?P<unix>\d{10})$")


class Sandbox:
    """The engine wired to the session's server, with unique table names per test module."""

    def __init__(self, postgres: PostgresServer) -> None:
        self.postgres = postgres
        self.suffix = uuid.uuid4().hex[:8]
        self.orders = f"orders_{self.suffix}"
        self.secrets = f"secrets_{self.suffix}"
        self.engine = DatabaseEngine()

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.postgres.dsn(), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params) if params else conn.execute(query)
            return cursor.fetchall() if cursor.description else []

    def config(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": self.postgres.connection_url_template(),
            "username": self.postgres.superuser,
            "password": self.postgres.superuser_password,
            "allowed_roles": "*",
        }
        data.update(overrides)
        return data

    def reader_role(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "db_name": "main",
            "creation_statements": [CREATE_READER.replace("{table}", self.orders)],
            "default_ttl": "1h",
            "max_ttl": "4h",
        }
        data.update(overrides)
        return data

    def login(self, creds: Credentials) -> psycopg.Connection[Any]:
        dsn = self.postgres.dsn(creds.username, creds.password)
        return psycopg.connect(dsn, autocommit=True, connect_timeout=5)

    def role_exists(self, username: str) -> bool:
        return bool(self.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)))


@pytest.fixture(scope="module")
def box(postgres: PostgresServer) -> Iterator[Sandbox]:
    box = Sandbox(postgres)
    box.sql(
        f"CREATE TABLE {box.orders} (id int); INSERT INTO {box.orders} VALUES (1), (2);"
        f" CREATE TABLE {box.secrets} (card text); INSERT INTO {box.secrets} VALUES ('4111');"
    )
    box.engine.write_config("main", box.config())
    box.engine.write_role("readonly", box.reader_role())
    yield box
    box.engine.close()
    box.sql(f"DROP TABLE {box.orders}, {box.secrets}")


def test_new_user_reads_what_was_granted_and_nothing_else(box: Sandbox) -> None:
    creds = box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX)
    try:
        with box.login(creds) as conn:
            assert conn.execute(f"SELECT count(*) FROM {box.orders}").fetchone() == (2,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {box.secrets}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"INSERT INTO {box.orders} VALUES (3)")
    finally:
        creds.revoke()
    assert creds.lease_seconds == 3600
    assert creds.warnings == ()


def test_username_and_password_follow_vaults_defaults(box: Sandbox) -> None:
    before = int(time.time())
    creds = box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX)
    creds.revoke()
    match = USERNAME.match(creds.username)
    assert match, creds.username
    assert (match["display"], match["role"]) == ("token", "readonly")
    assert before <= int(match["unix"]) <= int(time.time())
    assert len(creds.password) == 20
    assert re.fullmatch(r"[A-Za-z0-9-]{20}", creds.password)
    for kind in (r"[a-z]", r"[A-Z]", r"[0-9]", r"-"):
        assert re.search(kind, creds.password), (kind, "missing from the password")


def test_long_names_are_truncated_like_vault(box: Sandbox) -> None:
    box.engine.write_role("prod-db-readonly-long", box.reader_role())
    creds = box.engine.generate_credentials("prod-db-readonly-long", "approle-ci", None, 600)
    creds.revoke()
    assert creds.username.startswith("v-approle--prod-db--")
    assert len(creds.username) <= 63


def test_expiration_makes_postgresql_refuse_the_login(box: Sandbox) -> None:
    box.engine.write_role("brief", box.reader_role(default_ttl=1, max_ttl=1))
    issued = datetime.now(UTC)
    creds = box.engine.generate_credentials("brief", "token", None, MOUNT_MAX)
    try:
        assert creds.lease_seconds == 1
        ((valid_until,),) = box.sql(
            "SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", (creds.username,)
        )
        # Vault adds 5 s to the lease so the login never expires before the lease does.
        expected = issued + timedelta(seconds=1 + 5)
        assert abs((valid_until - expected).total_seconds()) < 2
        box.login(creds).close()  # valid now
        deadline = time.monotonic() + 15
        while True:
            try:
                box.login(creds).close()
            except psycopg.OperationalError as exc:
                assert "password authentication failed" in str(exc)
                break
            assert time.monotonic() < deadline, "PostgreSQL still accepts the expired login"
            time.sleep(0.25)
        assert datetime.now(UTC) >= valid_until
    finally:
        creds.revoke()


def test_revoke_drops_the_user_and_ends_its_sessions(box: Sandbox) -> None:
    creds = box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX)
    session = box.login(creds)
    session.execute("BEGIN")
    session.execute(f"SELECT * FROM {box.orders}")  # holds a lock, mid-transaction
    creds.revoke()
    assert not box.role_exists(creds.username)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    with pytest.raises(psycopg.OperationalError):
        box.login(creds)
    creds.revoke()  # idempotent


def test_revoke_copes_with_objects_the_user_created(box: Sandbox) -> None:
    creator = (
        CREATE_READER.replace("{table}", box.orders)
        + ' GRANT CREATE ON SCHEMA public TO "{{name}}";'
    )
    box.engine.write_role("creator", box.reader_role(creation_statements=creator))
    creds = box.engine.generate_credentials("creator", "token", None, MOUNT_MAX)
    table = f"scratch_{box.suffix}"
    with box.login(creds) as conn:
        conn.execute(f"CREATE TABLE {table} (x int)")
    creds.revoke()
    assert not box.role_exists(creds.username)
    ((owner,),) = box.sql("SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,))
    assert owner == box.postgres.superuser
    box.sql(f"DROP TABLE {table}")


def test_custom_revocation_statements_are_used(box: Sandbox) -> None:
    log = f"revoked_{box.suffix}"
    box.sql(f"CREATE TABLE {log} (name text)")
    box.engine.write_role(
        "audited",
        box.reader_role(
            revocation_statements=[
                f"INSERT INTO {log} VALUES ('{{{{name}}}}');"
                f' REVOKE ALL ON {box.orders} FROM "{{{{name}}}}"; DROP ROLE "{{{{name}}}}";'
            ]
        ),
    )
    creds = box.engine.generate_credentials("audited", "token", None, MOUNT_MAX)
    session = box.login(creds)
    creds.revoke()
    creds.revoke()
    assert box.sql(f"SELECT name FROM {log}") == [(creds.username,)]
    assert not box.role_exists(creds.username)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    box.sql(f"DROP TABLE {log}")


def test_failed_creation_is_rolled_back(box: Sandbox) -> None:
    log = f"rollback_{box.suffix}"
    box.sql(f"CREATE TABLE {log} (name text)")
    box.engine.write_role(
        "broken",
        box.reader_role(
            creation_statements=[
                CREATE_READER.replace("{table}", box.orders),
                'GRANT SELECT ON no_such_table TO "{{name}}";',
            ],
            rollback_statements=f"INSERT INTO {log} VALUES ('{{{{name}}}}');",
        ),
    )
    with pytest.raises(VaultAPIError) as caught:
        box.engine.generate_credentials("broken", "token", None, MOUNT_MAX)
    assert caught.value.status == 500
    assert 'relation "no_such_table" does not exist' in str(caught.value)
    ((name,),) = box.sql(f"SELECT name FROM {log}")
    assert name.startswith("v-token-broken-")
    assert not box.role_exists(name)  # the CREATE ROLE went with the transaction
    box.sql(f"DROP TABLE {log}")


def test_scram_password_authentication_sends_only_a_verifier(box: Sandbox) -> None:
    box.engine.write_config("hashed", box.config(password_authentication="scram-sha-256"))
    box.engine.write_role("hashed-reader", box.reader_role(db_name="hashed"))
    creds = box.engine.generate_credentials("hashed-reader", "token", None, MOUNT_MAX)
    try:
        with box.login(creds) as conn:
            assert conn.execute(f"SELECT count(*) FROM {box.orders}").fetchone() == (2,)
        ((stored,),) = box.sql(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (creds.username,)
        )
        assert stored.startswith("SCRAM-SHA-256$4096:")
    finally:
        creds.revoke()


def test_renew_moves_the_expiry(box: Sandbox) -> None:
    creds = box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX)
    try:
        creds.renew(7200)
        ((valid_until,),) = box.sql(
            "SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", (creds.username,)
        )
        expected = datetime.now(UTC) + timedelta(seconds=7200)
        assert abs((valid_until - expected).total_seconds()) < 5
    finally:
        creds.revoke()


def test_concurrent_requests_get_distinct_working_users(box: Sandbox) -> None:
    results: list[Credentials] = []
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            results.append(box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert len({creds.username for creds in results}) == 6
        for creds in results:
            box.login(creds).close()
    finally:
        for creds in results:
            creds.revoke()


def test_lease_is_capped_by_the_effective_max_ttl(box: Sandbox) -> None:
    # Like Vault, a default_ttl above max_ttl is accepted and capped when issuing.
    box.engine.write_role("capped", box.reader_role(default_ttl="2h", max_ttl="30m"))
    creds = box.engine.generate_credentials("capped", "token", None, MOUNT_MAX)
    creds.revoke()
    assert creds.lease_seconds == 1800
    assert creds.warnings == (
        'TTL of "2h0m0s" exceeded the effective max_ttl of "30m0s";'
        " TTL value is capped accordingly",
    )
    box.engine.write_role("mount-default", box.reader_role(default_ttl=0, max_ttl=0))
    creds = box.engine.generate_credentials("mount-default", "token", 900, 3600)
    creds.revoke()
    assert (creds.lease_seconds, creds.warnings) == (900, ())
    creds = box.engine.generate_credentials("mount-default", "token", None, 3600)
    creds.revoke()
    assert creds.lease_seconds == 3600  # Vault's 768h default, capped by the mount


def test_password_never_shows_in_repr_str_or_errors(box: Sandbox) -> None:
    creds = box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX)
    creds.revoke()
    for text in (repr(creds), str(creds), f"{creds}"):
        assert creds.password not in text
        assert creds.username in text


def test_config_reads_back_without_the_password(box: Sandbox) -> None:
    secret_url = box.postgres.dsn()  # a URL with the password inline
    box.engine.write_config(
        "inline", box.config(connection_url=secret_url, allowed_roles=["a", "b"])
    )
    shown = box.engine.read_config("inline")
    dumped = json.dumps(shown)
    assert box.postgres.superuser_password not in dumped
    assert shown["connection_details"]["connection_url"].startswith("postgresql://postgres:xxxxx@")
    assert shown["allowed_roles"] == ["a", "b"]
    assert shown["plugin_name"] == "postgresql-database-plugin"
    assert box.engine.read_config("main")["connection_details"]["connection_url"] == (
        box.postgres.connection_url_template()
    )
    # An update without the password keeps the stored one (Vault merges updates).
    box.engine.write_config("inline", {"allowed_roles": "c"})
    assert box.engine.read_config("inline")["allowed_roles"] == ["c"]
    box.engine.delete_config("inline")
    with pytest.raises(VaultAPIError) as caught:
        box.engine.read_config("inline")
    assert caught.value.status == 404


def test_roles_read_list_and_delete(box: Sandbox) -> None:
    box.engine.write_role("zz-temp", box.reader_role(creation_statements="CREATE ROLE x;"))
    role = box.engine.read_role("zz-temp")
    assert role["creation_statements"] == ["CREATE ROLE x;"]
    assert (role["default_ttl"], role["max_ttl"], role["db_name"]) == (3600, 14400, "main")
    assert role["revocation_statements"] == []
    assert "zz-temp" in box.engine.list_roles()
    assert box.engine.list_roles() == sorted(box.engine.list_roles())
    box.engine.delete_role("zz-temp")
    assert "zz-temp" not in box.engine.list_roles()
    with pytest.raises(VaultAPIError, match="unknown role: zz-temp") as caught:
        box.engine.generate_credentials("zz-temp", "token", None, MOUNT_MAX)
    assert caught.value.status == 400


def api_error(call: Any, *args: Any) -> VaultAPIError:
    with pytest.raises(VaultAPIError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"plugin_name": ""}, "empty plugin name"),
        ({"plugin_name": "mysql-database-plugin"}, "error creating database object: plugin"),
        ({"connection_url": ""}, "error creating database object: connection_url cannot be empty"),
        (
            {"password_authentication": "md5"},
            "error creating database object: 'md5' is not a valid password authentication type",
        ),
        ({"verify_connection": "maybe"}, 'for field "verify_connection"'),
    ],
)
def test_bad_config_is_a_400(box: Sandbox, change: dict[str, Any], message: str) -> None:
    error = api_error(box.engine.write_config, "bad", box.config(**change))
    assert error.status == 400
    assert message in error.errors[0]


def test_unreachable_database_is_refused_without_leaking_the_password(box: Sandbox) -> None:
    wrong = "Wrong-Root-Pass-0123"
    error = api_error(box.engine.write_config, "bad", box.config(password=wrong))
    assert error.status == 400
    assert error.errors[0].startswith("error creating database object: error verifying connection:")
    assert "password authentication failed" in error.errors[0]
    assert wrong not in str(error)
    # Without verification the config is stored; the failure shows up when issuing.
    box.engine.write_config("unverified", box.config(password=wrong, verify_connection=False))
    box.engine.write_role("unverified-reader", box.reader_role(db_name="unverified"))
    error = api_error(box.engine.generate_credentials, "unverified-reader", "token", None, 60)
    assert error.status == 500
    assert "password authentication failed" in str(error)
    assert wrong not in str(error)
    box.engine.delete_config("unverified")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"db_name": ""}, "empty database name attribute"),
        ({"creation_statements": []}, "empty creation statements"),
        ({"default_ttl": "5x"}, "error converting input '5x' for field \"default_ttl\""),
    ],
)
def test_bad_role_is_a_400(box: Sandbox, change: dict[str, Any], message: str) -> None:
    error = api_error(box.engine.write_role, "bad-role", box.reader_role(**change))
    assert error.status == 400
    assert message in error.errors[0]


def test_roles_outside_allowed_roles_are_refused(box: Sandbox) -> None:
    box.engine.write_config("narrow", box.config(allowed_roles="app-*, reporting"))
    for name in ("app-reader", "reporting", "other"):
        box.engine.write_role(name, box.reader_role(db_name="narrow"))
    for allowed in ("app-reader", "reporting"):
        box.engine.generate_credentials(allowed, "token", None, MOUNT_MAX).revoke()
    error = api_error(box.engine.generate_credentials, "other", "token", None, MOUNT_MAX)
    assert (error.status, error.errors) == (500, ['"other" is not an allowed role'])
    box.engine.write_role("orphan", box.reader_role(db_name="missing"))
    error = api_error(box.engine.generate_credentials, "orphan", "token", None, MOUNT_MAX)
    assert error.status == 500
    assert "failed to find entry for connection with name" in str(error)
    box.engine.delete_config("narrow")


def test_engine_reconnects_after_its_session_is_killed(box: Sandbox) -> None:
    box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX).revoke()
    killed = box.sql(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE application_name = 'vault-stand-in database main'",
    )
    assert killed == [(True,)]
    creds = box.engine.generate_credentials("readonly", "token", None, MOUNT_MAX)
    try:
        box.login(creds).close()
    finally:
        creds.revoke()
