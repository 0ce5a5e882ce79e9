"""The AppRole auth method: roles, their role_id, secret_ids and ``login``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jitops.sandbox.vault.core import VaultCore
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, keys_reply, no_content, response
from jitops.sandbox.vault.util import (
    as_bool,
    as_int,
    as_str_map,
    duration_seconds,
    new_uuid,
    now,
    policy_names,
    rfc3339,
)


@dataclass
class SecretID:
    value: str
    accessor: str
    created: float
    ttl: int
    num_uses: int
    metadata: dict[str, str]

    def expired(self) -> bool:
        return bool(self.ttl) and self.created + self.ttl <= now()


@dataclass
class AppRole:
    name: str
    role_id: str = field(default_factory=new_uuid)
    bind_secret_id: bool = True
    policies: list[str] = field(default_factory=list)
    secret_id_ttl: int = 0
    secret_id_num_uses: int = 0
    ttl: int = 0
    max_ttl: int = 0
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    no_default_policy: bool = False
    secret_ids: dict[str, SecretID] = field(default_factory=dict)

    def read_data(self) -> dict[str, Any]:
        return {
            "bind_secret_id": self.bind_secret_id,
            "local_secret_ids": False,
            "secret_id_bound_cidrs": None,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "token_bound_cidrs": [],
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "token_max_ttl": self.max_ttl,
            "token_no_default_policy": self.no_default_policy,
            "token_num_uses": self.num_uses,
            "token_period": self.period,
            "token_policies": list(self.policies),
            "policies": list(self.policies),
            "token_ttl": self.ttl,
            "token_type": "default",
        }


class AppRoleAuth:
    def __init__(self, core: VaultCore, mount: str) -> None:
        self.mount = mount
        self.roles: dict[str, AppRole] = {}
        self.router = Router()
        r = self.router
        r.add(r"role", list_=self.list_roles)
        r.add(
            r"role/(?P<name>[^/]+)",
            get=self.read_role,
            post=self.write_role,
            delete=self.delete_role,
            exists=lambda call: call.params["name"].lower() in self.roles,
        )
        r.add(r"role/(?P<name>[^/]+)/role-id", get=self.read_role_id, post=self.write_role_id)
        r.add(
            r"role/(?P<name>[^/]+)/secret-id",
            post=self.new_secret_id,
            list_=self.list_secret_ids,
        )
        r.add(r"login", post=self.login, unauthenticated=True)

    def close(self) -> None:
        return None

    def _role(self, call: Call) -> AppRole:
        role = self.roles.get(call.params["name"].lower())
        if role is None:
            raise VaultAPIError(400, f'role "{call.params["name"]}" does not exist')
        return role

    def write_role(self, call: Call) -> Reply:
        name = call.params["name"].lower()
        role = self.roles.get(name) or AppRole(name)
        body = call.body
        if "bind_secret_id" in body:
            role.bind_secret_id = as_bool(body["bind_secret_id"], "bind_secret_id")
        for key in ("token_policies", "policies"):
            if key in body:
                role.policies = policy_names(body[key], key)
        for key, attr in (
            ("secret_id_ttl", "secret_id_ttl"),
            ("token_ttl", "ttl"),
            ("token_max_ttl", "max_ttl"),
            ("token_explicit_max_ttl", "explicit_max_ttl"),
            ("token_period", "period"),
        ):
            if key in body:
                setattr(role, attr, duration_seconds(body[key], key))
        if "secret_id_num_uses" in body:
            role.secret_id_num_uses = as_int(body["secret_id_num_uses"], "secret_id_num_uses")
        if "token_num_uses" in body:
            role.num_uses = as_int(body["token_num_uses"], "token_num_uses")
        if "token_no_default_policy" in body:
            role.no_default_policy = as_bool(body["token_no_default_policy"], "no_default_policy")
        self.roles[name] = role
        return no_content()

    def read_role(self, call: Call) -> Reply:
        role = self.roles.get(call.params["name"].lower())
        if role is None:
            raise VaultAPIError(404)
        return response(role.read_data(), mount_type="approle")

    def delete_role(self, call: Call) -> Reply:
        self.roles.pop(call.params["name"].lower(), None)
        return no_content()

    def list_roles(self, call: Call) -> Reply:
        return keys_reply(list(self.roles), "approle")

    def read_role_id(self, call: Call) -> Reply:
        return response({"role_id": self._role(call).role_id}, mount_type="approle")

    def write_role_id(self, call: Call) -> Reply:
        role = self._role(call)
        role.role_id = str(call.body.get("role_id") or new_uuid())
        return no_content()

    def new_secret_id(self, call: Call) -> Reply:
        role = self._role(call)
        secret = SecretID(
            value=new_uuid(),
            accessor=new_uuid(),
            created=now(),
            ttl=role.secret_id_ttl,
            num_uses=role.secret_id_num_uses,
            metadata=as_str_map(call.body.get("metadata"), "metadata"),
        )
        role.secret_ids[secret.value] = secret
        expiration = rfc3339(secret.created + secret.ttl) if secret.ttl else None
        return response(
            {
                "secret_id": secret.value,
                "secret_id_accessor": secret.accessor,
                "secret_id_ttl": secret.ttl,
                "secret_id_num_uses": secret.num_uses,
                "expiration_time": expiration,
            },
            mount_type="approle",
        )

    def list_secret_ids(self, call: Call) -> Reply:
        role = self._role(call)
        return keys_reply([s.accessor for s in role.secret_ids.values() if not s.expired()])

    def login(self, call: Call) -> Reply:
        role_id = str(call.body.get("role_id") or "")
        if not role_id:
            raise VaultAPIError(400, "missing role_id")
        role = next((r for r in self.roles.values() if r.role_id == role_id), None)
        if role is None:
            raise VaultAPIError(400, "invalid role or secret ID")
        meta: dict[str, str] = {"role_name": role.name}
        if role.bind_secret_id:
            value = str(call.body.get("secret_id") or "")
            if not value:
                raise VaultAPIError(400, "missing secret_id")
            secret = role.secret_ids.get(value)
            if secret is None or secret.expired():
                role.secret_ids.pop(value, None)
                raise VaultAPIError(400, "invalid role or secret ID")
            if secret.num_uses:
                secret.num_uses -= 1
                if secret.num_uses == 0:
                    del role.secret_ids[value]
            meta.update(secret.metadata)
        token = call.core.issue_login_token(
            mount=self.mount,
            role=role.name,
            policies=list(role.policies),
            meta=meta,
            display_name="",
            ttl=role.ttl,
            max_ttl=role.max_ttl,
            explicit_max_ttl=role.explicit_max_ttl,
            period=role.period,
            num_uses=role.num_uses,
            no_default_policy=role.no_default_policy,
        )
        return response(None, auth=token.auth_block(), mount_type="approle")
