"""A small in-memory database engine with the interface the stand-in's database mount calls.

It stands in for the PostgreSQL-backed engine (which has its own tests) so the HTTP wiring,
ACLs and leases can be tested without a database: it records which users were revoked.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jitops.sandbox.vault.errors import VaultAPIError


@dataclass(frozen=True)
class FakeCredentials:
    username: str
    password: str = field(repr=False)
    lease_seconds: int
    warnings: tuple[str, ...]
    revoke: Callable[[], None] = field(repr=False, compare=False)


class FakeEngine:
    def __init__(self) -> None:
        self.configs: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.live_users: set[str] = set()
        self.revoked: list[str] = []
        self.fail_revoke = False
        self.closed = False
        self._lock = threading.Lock()

    def write_config(self, name: str, data: dict[str, Any]) -> None:
        if not data.get("connection_url"):
            raise VaultAPIError(400, "connection_url cannot be empty")
        self.configs[name] = dict(data)

    def read_config(self, name: str) -> dict[str, Any]:
        if name not in self.configs:
            raise VaultAPIError(404)
        return {k: v for k, v in self.configs[name].items() if k != "password"}

    def list_configs(self) -> list[str]:
        return sorted(self.configs)

    def delete_config(self, name: str) -> None:
        self.configs.pop(name, None)

    def write_role(self, name: str, data: dict[str, Any]) -> None:
        if not data.get("db_name"):
            raise VaultAPIError(400, "empty database name attribute")
        self.roles[name] = dict(data)

    def read_role(self, name: str) -> dict[str, Any]:
        if name not in self.roles:
            raise VaultAPIError(404)
        return dict(self.roles[name])

    def list_roles(self) -> list[str]:
        return sorted(self.roles)

    def delete_role(self, name: str) -> None:
        self.roles.pop(name, None)

    def generate_credentials(
        self, role: str, display_name: str, ttl_seconds: int | None, max_ttl_seconds: int
    ) -> FakeCredentials:
        entry = self.roles.get(role)
        if entry is None:
            raise VaultAPIError(400, f"unknown role: {role}")
        ttl = int(entry.get("default_ttl") or ttl_seconds or 768 * 3600)
        max_ttl = min(int(entry.get("max_ttl") or max_ttl_seconds), max_ttl_seconds)
        warnings: tuple[str, ...] = ()
        if ttl > max_ttl:
            ttl, warnings = max_ttl, ("TTL capped",)
        username = f"v-{display_name[:8]}-{role[:8]}-{secrets.token_hex(5)}"
        with self._lock:
            self.live_users.add(username)

        def revoke() -> None:
            if self.fail_revoke:
                raise RuntimeError("database unreachable")
            with self._lock:
                if username in self.live_users:
                    self.live_users.discard(username)
                    self.revoked.append(username)

        return FakeCredentials(username, secrets.token_urlsafe(15), ttl, warnings, revoke)

    def close(self) -> None:
        self.closed = True
