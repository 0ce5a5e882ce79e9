"""The SQL side of Vault's database secrets engine, with the PostgreSQL plugin.

The HTTP layer of the Vault stand-in calls :class:`DatabaseEngine` for ``database/config/*``,
``database/roles/*`` and ``database/creds/*``. It behaves as Vault's builtin
``postgresql-database-plugin`` does: templated connection URLs, Vault's default username
template and password policy, ``{{name}}``/``{{password}}``/``{{expiration}}`` substitution,
creation statements run in one transaction, and Vault's default revocation when a role has no
revocation statements. Errors are raised as :class:`VaultAPIError` with Vault's messages.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

from jitops.sandbox.vault.database_sql import (
    SuperuserConnection,
    create_user,
    renew_user,
    revoke_user,
)
from jitops.sandbox.vault.database_values import (
    PASSWORD_AUTHENTICATIONS,
    comma_list,
    expiration_text,
    format_go_duration,
    generate_password,
    generate_username,
    glob_match,
    parse_bool,
    parse_duration,
    scram_sha256_verifier,
    string_list,
    with_credentials,
)
from jitops.sandbox.vault.errors import VaultAPIError

PLUGIN_NAME = "postgresql-database-plugin"
DEFAULT_LEASE_TTL_SECONDS = 768 * 3600  # Vault's system default lease TTL (32 days)
EXPIRATION_BUFFER_SECONDS = 5  # Vault adds it so the database login outlives the lease
_CONFIG_KEYS = frozenset({"plugin_name", "verify_connection", "allowed_roles", "name"})


@dataclass(frozen=True)
class Credentials:
    """A new database user; ``revoke()`` runs the revocation statements (idempotent)."""

    username: str
    password: str = field(repr=False)
    lease_seconds: int
    warnings: tuple[str, ...]
    revoke: Callable[[], None] = field(repr=False, compare=False)
    renew: Callable[[int], None] = field(repr=False, compare=False, default=lambda _ttl: None)

    def __str__(self) -> str:
        return f"database user {self.username} (lease {self.lease_seconds}s)"


@dataclass(frozen=True)
class _Config:
    plugin_name: str
    connection_url: str
    username: str
    password: str = field(repr=False)
    allowed_roles: tuple[str, ...]
    verify_connection: bool
    password_authentication: str
    extra: tuple[tuple[str, Any], ...] = ()

    def conninfo(self) -> str:
        return with_credentials(self.connection_url, self.username, self.password)

    def scrub(self, text: str) -> str:
        """``text`` with the root password (raw or URL-quoted) replaced by ``*****``."""
        return _scrub(text, self.password)


@dataclass(frozen=True)
class _Role:
    db_name: str
    creation_statements: tuple[str, ...]
    revocation_statements: tuple[str, ...] = ()
    rollback_statements: tuple[str, ...] = ()
    renew_statements: tuple[str, ...] = ()
    default_ttl: int = 0
    max_ttl: int = 0


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "*****").replace(quote(secret, safe=""), "*****")
    return text


def _redact_url(url: str) -> str:
    """The URL with any password in its user part shown as ``xxxxx`` (Go's URL.Redacted)."""
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        userinfo, at, host = parts.netloc.rpartition("@")
        if parts.scheme and at and ":" in userinfo and "{{" not in userinfo:
            user = userinfo.split(":", 1)[0]
            return urlunsplit(parts._replace(netloc=f"{user}:xxxxx@{host}"))
    return url


class DatabaseEngine:
    """Database configurations, roles and dynamic credentials of one ``database/`` mount."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._configs: dict[str, _Config] = {}
        self._connections: dict[str, SuperuserConnection] = {}
        self._roles: dict[str, _Role] = {}

    # -- database/config/:name ---------------------------------------------------------------

    def write_config(self, name: str, data: dict[str, Any]) -> None:
        if not name:
            raise VaultAPIError(400, "empty name attribute given")
        with self._lock:
            old = self._configs.get(name)
        config = self._build_config(data, old)
        connection = SuperuserConnection(name, config.conninfo())
        if config.verify_connection:
            with connection.lock:
                try:
                    connection.open().execute("SELECT 1")
                except psycopg.Error as exc:
                    connection.close()
                    detail = config.scrub(str(exc).strip())
                    raise VaultAPIError(
                        400, f"error creating database object: error verifying connection: {detail}"
                    ) from None
        with self._lock:
            self._configs[name] = config
            previous = self._connections.pop(name, None)
            self._connections[name] = connection
        if previous is not None:
            with previous.lock:
                previous.close()

    def _build_config(self, data: Mapping[str, Any], old: _Config | None) -> _Config:
        given = dict(data)
        plugin_name = str(given.get("plugin_name", old.plugin_name if old else "") or "")
        if not plugin_name:
            raise VaultAPIError(400, "empty plugin name")
        if plugin_name != PLUGIN_NAME:
            raise VaultAPIError(
                400,
                f"error creating database object: plugin {plugin_name!r} is not in the catalog "
                f"of this stand-in (it runs {PLUGIN_NAME} only)",
            )
        details: dict[str, Any] = dict(old.extra) if old else {}
        if old:
            details.update(
                connection_url=old.connection_url,
                username=old.username,
                password=old.password,
                password_authentication=old.password_authentication,
            )
        details.update({k: v for k, v in given.items() if k not in _CONFIG_KEYS})
        url = str(details.pop("connection_url", "") or "")
        if not url:
            raise VaultAPIError(
                400, "error creating database object: connection_url cannot be empty"
            )
        auth = str(details.pop("password_authentication", "") or "password")
        if auth not in PASSWORD_AUTHENTICATIONS:
            raise VaultAPIError(
                400,
                f"error creating database object: '{auth}' is not a valid password "
                "authentication type",
            )
        try:
            verify = parse_bool(given.get("verify_connection", True), "verify_connection")
            if "allowed_roles" in given:
                allowed = comma_list(given["allowed_roles"], "allowed_roles")
            else:
                allowed = old.allowed_roles if old else ()
        except ValueError as exc:
            raise VaultAPIError(400, str(exc)) from None
        return _Config(
            plugin_name=plugin_name,
            connection_url=url,
            username=str(details.pop("username", "") or ""),
            password=str(details.pop("password", "") or ""),
            allowed_roles=allowed,
            verify_connection=verify,
            password_authentication=auth,
            extra=tuple(sorted(details.items())),
        )

    def read_config(self, name: str) -> dict[str, Any]:
        """The config as Vault reads it back: no password, the URL's password redacted."""
        with self._lock:
            config = self._configs.get(name)
        if config is None:
            raise VaultAPIError(404)
        details: dict[str, Any] = dict(config.extra)
        details.update(
            connection_url=_scrub(_redact_url(config.connection_url), config.password),
            username=config.username,
            password_authentication=config.password_authentication,
        )
        return {
            "plugin_name": config.plugin_name,
            "plugin_version": "",
            "connection_details": details,
            "allowed_roles": list(config.allowed_roles),
            "root_credentials_rotate_statements": [],
            "password_policy": "",
            "verify_connection": config.verify_connection,
        }

    def list_configs(self) -> list[str]:
        with self._lock:
            return sorted(self._configs)

    def delete_config(self, name: str) -> None:
        with self._lock:
            self._configs.pop(name, None)
            connection = self._connections.pop(name, None)
        if connection is not None:
            with connection.lock:
                connection.close()

    # -- database/roles/:name ----------------------------------------------------------------

    def write_role(self, name: str, data: dict[str, Any]) -> None:
        if not name:
            raise VaultAPIError(400, "empty role name attribute given")
        with self._lock:
            old = self._roles.get(name)
        role = old or _Role(db_name="", creation_statements=())
        try:
            changes: dict[str, Any] = {}
            if "db_name" in data:
                changes["db_name"] = str(data["db_name"] or "")
            for key in (
                "creation_statements",
                "revocation_statements",
                "rollback_statements",
                "renew_statements",
            ):
                if key in data:
                    changes[key] = string_list(data[key], key)
            for key in ("default_ttl", "max_ttl"):
                if key in data:
                    changes[key] = parse_duration(data[key], key)
        except ValueError as exc:
            raise VaultAPIError(400, str(exc)) from None
        role = replace(role, **changes)
        if not role.db_name:
            raise VaultAPIError(400, "empty database name attribute")
        if not role.creation_statements:
            raise VaultAPIError(400, "empty creation statements")
        with self._lock:
            self._roles[name] = role

    def read_role(self, name: str) -> dict[str, Any]:
        with self._lock:
            role = self._roles.get(name)
        if role is None:
            raise VaultAPIError(404)
        return {
            "db_name": role.db_name,
            "creation_statements": list(role.creation_statements),
            "revocation_statements": list(role.revocation_statements),
            "rollback_statements": list(role.rollback_statements),
            "renew_statements": list(role.renew_statements),
            "rotation_statements": [],
            "default_ttl": role.default_ttl,
            "max_ttl": role.max_ttl,
            "credential_type": "password",
        }

    def list_roles(self) -> list[str]:
        with self._lock:
            return sorted(self._roles)

    def delete_role(self, name: str) -> None:
        with self._lock:
            self._roles.pop(name, None)

    # -- database/creds/:name ----------------------------------------------------------------

    def generate_credentials(
        self, role: str, display_name: str, ttl_seconds: int | None, max_ttl_seconds: int
    ) -> Credentials:
        """Create a database user for ``role``, as ``GET database/creds/:role`` does.

        ``ttl_seconds`` is the mount's default lease TTL (None: Vault's 768h), used when the
        role sets no ``default_ttl``; ``max_ttl_seconds`` is the mount's maximum, which the
        role's ``max_ttl`` may only lower. The lease is capped at the effective maximum, with
        Vault's warning.
        """
        with self._lock:
            entry = self._roles.get(role)
            config = self._configs.get(entry.db_name) if entry else None
            connection = self._connections.get(entry.db_name) if entry else None
        if entry is None:
            raise VaultAPIError(400, f"unknown role: {role}")
        if config is None or connection is None:
            raise VaultAPIError(
                500, f"failed to find entry for connection with name: {entry.db_name!r}"
            )
        if "*" not in config.allowed_roles and not any(
            glob_match(pattern, role) for pattern in config.allowed_roles
        ):
            # Vault answers this with a plain error, hence 500 rather than 400.
            raise VaultAPIError(500, f'"{role}" is not an allowed role')
        ttl, warnings = _lease_ttl(entry, ttl_seconds, max_ttl_seconds)
        expiration = datetime.now(UTC) + timedelta(seconds=ttl + EXPIRATION_BUFFER_SECONDS)
        password = generate_password()
        username = generate_username(display_name, role, int(time.time()))
        stored = password
        if config.password_authentication == "scram-sha-256":
            stored = scram_sha256_verifier(password)
        values = {
            "name": username,
            "username": username,
            "password": stored,
            "expiration": expiration_text(expiration),
        }
        with connection.lock:
            try:
                connection.run(
                    lambda conn: create_user(
                        conn, entry.creation_statements, entry.rollback_statements, values
                    )
                )
            except psycopg.Error as exc:
                detail = _scrub(config.scrub(str(exc).strip()), password, stored)
                raise VaultAPIError(500, detail) from None
        action = _LeaseAction(self, entry.db_name, username, entry)
        return Credentials(username, password, ttl, tuple(warnings), action.revoke, action.renew)

    def _run_for_lease(self, db_name: str, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``work`` on ``db_name``'s connection; failures are 500s, as in Vault."""
        with self._lock:
            config = self._configs.get(db_name)
            connection = self._connections.get(db_name)
        if config is None or connection is None:
            raise VaultAPIError(500, f"failed to find entry for connection with name: {db_name!r}")
        with connection.lock:
            try:
                connection.run(work)
            except psycopg.Error as exc:
                raise VaultAPIError(500, config.scrub(str(exc).strip())) from None

    def close(self) -> None:
        """Close every superuser connection (configs and roles stay)."""
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            with connection.lock:
                connection.close()


def _lease_ttl(role: _Role, default_ttl: int | None, mount_max: int) -> tuple[int, list[str]]:
    """Vault's framework.CalculateTTL for a new lease (no increment, no period)."""
    max_ttl = mount_max
    if 0 < role.max_ttl < max_ttl:
        max_ttl = role.max_ttl
    if max_ttl <= 0:
        raise VaultAPIError(500, "max TTL must be greater than zero")
    ttl = role.default_ttl or default_ttl or DEFAULT_LEASE_TTL_SECONDS
    warnings: list[str] = []
    if ttl > max_ttl:
        warnings.append(
            f'TTL of "{format_go_duration(ttl)}" exceeded the effective max_ttl of '
            f'"{format_go_duration(max_ttl)}"; TTL value is capped accordingly'
        )
        ttl = max_ttl
    return ttl, warnings


class _LeaseAction:
    """A callable bound to one dynamic user; the revoke flavour runs at most once successfully."""

    def __init__(self, engine: DatabaseEngine, db_name: str, username: str, role: _Role) -> None:
        self._engine, self._db_name, self._username, self._role = engine, db_name, username, role
        self._lock = threading.Lock()
        self._revoked = False

    def __repr__(self) -> str:
        return f"<lease action for {self._username}>"

    def revoke(self) -> None:
        with self._lock:
            if self._revoked:
                return
            statements = self._role.revocation_statements
            self._engine._run_for_lease(
                self._db_name, lambda conn: revoke_user(conn, self._username, statements)
            )
            self._revoked = True

    def renew(self, ttl_seconds: int) -> None:
        expiration = expiration_text(datetime.now(UTC) + timedelta(seconds=ttl_seconds))
        statements = self._role.renew_statements
        self._engine._run_for_lease(
            self._db_name, lambda conn: renew_user(conn, self._username, statements, expiration)
        )
