"""The HTTP side of the database secrets engine: routes, ACL'd paths and the leases.

The SQL side is the engine object (``DatabaseEngine`` in :mod:`database`); this module only
routes to it and ties every credential to a lease owned by the token that read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, keys_reply, no_content, response
from jitops.sandbox.vault.util import SYSTEM_MAX_TTL, duration_seconds


class CredentialsLike(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def lease_seconds(self) -> int: ...
    @property
    def warnings(self) -> Any: ...
    @property
    def revoke(self) -> Callable[[], None]: ...


class EngineLike(Protocol):
    def write_config(self, name: str, data: dict[str, Any]) -> None: ...
    def read_config(self, name: str) -> dict[str, Any]: ...
    def delete_config(self, name: str) -> None: ...
    def write_role(self, name: str, data: dict[str, Any]) -> None: ...
    def read_role(self, name: str) -> dict[str, Any]: ...
    def list_roles(self) -> list[str]: ...
    def delete_role(self, name: str) -> None: ...
    def generate_credentials(
        self, role: str, display_name: str, ttl_seconds: int | None, max_ttl_seconds: int
    ) -> CredentialsLike: ...
    def close(self) -> None: ...


class DatabaseMount:
    """``<mount>/config/:name``, ``<mount>/roles/:name``, ``<mount>/creds/:name``."""

    def __init__(self, engine: EngineLike) -> None:
        self.engine = engine
        self.router = Router()
        r = self.router
        r.add(r"config", list_=self.list_configs)
        r.add(
            r"config/(?P<name>[^/]+)",
            get=self.read_config,
            post=self.write_config,
            delete=self.delete_config,
            exists=self._config_exists,
        )
        r.add(r"roles", list_=self.list_roles)
        r.add(
            r"roles/(?P<name>[^/]+)",
            get=self.read_role,
            post=self.write_role,
            delete=self.delete_role,
            exists=self._role_exists,
        )
        r.add(r"creds/(?P<name>[^/]+)", get=self.creds)

    def close(self) -> None:
        self.engine.close()

    def _config_exists(self, call: Call) -> bool:
        try:
            self.engine.read_config(call.params["name"])
        except VaultAPIError:
            return False
        return True

    def _role_exists(self, call: Call) -> bool:
        return call.params["name"] in self.engine.list_roles()

    def list_configs(self, call: Call) -> Reply:
        lister = getattr(self.engine, "list_configs", None)
        return keys_reply(list(lister()) if lister else [], "database")

    def read_config(self, call: Call) -> Reply:
        return response(self.engine.read_config(call.params["name"]), mount_type="database")

    def write_config(self, call: Call) -> Reply:
        self.engine.write_config(call.params["name"], dict(call.body))
        return no_content()

    def delete_config(self, call: Call) -> Reply:
        self.engine.delete_config(call.params["name"])
        return no_content()

    def list_roles(self, call: Call) -> Reply:
        return keys_reply(self.engine.list_roles(), "database")

    def read_role(self, call: Call) -> Reply:
        return response(self.engine.read_role(call.params["name"]), mount_type="database")

    def write_role(self, call: Call) -> Reply:
        self.engine.write_role(call.params["name"], dict(call.body))
        return no_content()

    def delete_role(self, call: Call) -> Reply:
        self.engine.delete_role(call.params["name"])
        return no_content()

    def creds(self, call: Call) -> Reply:
        role = call.params["name"]
        mount = call.core.mounts.get(call.mount)
        mount_default = mount.default_lease_ttl if mount else 0
        mount_max = mount.max_ttl if mount else SYSTEM_MAX_TTL
        assert call.token is not None
        creds = self.engine.generate_credentials(
            role, call.token.display_name, mount_default or None, mount_max
        )
        lease_max = mount_max
        try:
            role_max = duration_seconds(self.engine.read_role(role).get("max_ttl"), "max_ttl")
        except VaultAPIError:
            role_max = 0
        if 0 < role_max < lease_max:
            lease_max = role_max
        lease = call.core.leases.register(
            f"{call.mount}creds/{role}",
            call.token.id,
            creds.lease_seconds,
            lease_max,
            creds.revoke,
            getattr(creds, "renew", None),
        )
        return response(
            {"username": creds.username, "password": creds.password},
            lease_id=lease.id,
            lease_duration=creds.lease_seconds,
            renewable=True,
            warnings=list(creds.warnings) or None,
            mount_type="database",
        )
