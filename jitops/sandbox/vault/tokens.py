"""The token store's data: tokens (with their parent/child tree), accessors and token roles.

Every method runs under the core's lock. Revoking a token revokes its non-orphan children
recursively and hands each dead token's id to ``on_revoke`` (which revokes its leases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jitops.sandbox.vault.util import base62, go_duration, now, rfc3339


@dataclass
class Token:
    id: str
    accessor: str
    policies: list[str]
    path: str
    display_name: str
    creation_time: float
    ttl: int  # the TTL it was created (or last renewed) with; 0 = never expires
    expire_at: float | None
    explicit_max_ttl: int = 0
    max_expire_at: float | None = None  # explicit_max_ttl or the system max, from creation
    meta: dict[str, str] = field(default_factory=dict)
    num_uses: int = 0
    parent: str | None = None
    renewable: bool = True
    role: str | None = None
    period: int = 0
    type: str = "service"
    token_policies: list[str] = field(default_factory=list)
    children: set[str] = field(default_factory=set)
    creation_ttl: int = 0
    entity_id: str = ""
    last_renewal: float | None = None

    def __post_init__(self) -> None:
        self._initial_uses = self.num_uses

    @property
    def limited_uses(self) -> bool:
        """Created with num_uses (it may be on its last use, where num_uses reads 0)."""
        return self._initial_uses > 0

    @property
    def orphan(self) -> bool:
        return self.parent is None

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    def remaining(self, at: float | None = None) -> int:
        if self.expire_at is None:
            return 0
        return max(0, round(self.expire_at - (at or now())))

    def lookup_data(self, *, with_id: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "accessor": self.accessor,
            "creation_time": int(self.creation_time),
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "expire_time": rfc3339(self.expire_at),
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": self.id if with_id else "",
            "issue_time": rfc3339(self.creation_time),
            "meta": dict(self.meta) or None,
            "num_uses": self.num_uses,
            "orphan": self.orphan,
            "path": self.path,
            "policies": list(self.policies),
            "renewable": self.renewable,
            "ttl": self.remaining(),
            "type": self.type,
        }
        if self.role:
            data["role"] = self.role
        if self.period:
            data["period"] = self.period
        if self.last_renewal is not None:
            data["last_renewal_time"] = int(self.last_renewal)
            data["last_renewal"] = rfc3339(self.last_renewal)
        return data

    def auth_block(self) -> dict[str, Any]:
        return {
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": list(self.policies),
            "token_policies": list(self.token_policies),
            "identity_policies": None,
            "metadata": dict(self.meta) or None,
            "lease_duration": self.remaining(),
            "renewable": self.renewable,
            "entity_id": self.entity_id,
            "token_type": self.type,
            "orphan": self.orphan,
            "mfa_requirement": None,
            "num_uses": self.num_uses,
        }


@dataclass
class TokenRole:
    name: str
    allowed_policies: list[str] = field(default_factory=list)
    disallowed_policies: list[str] = field(default_factory=list)
    orphan: bool = False
    renewable: bool = True
    path_suffix: str = ""
    explicit_max_ttl: int = 0
    period: int = 0
    ttl: int = 0
    max_ttl: int = 0
    token_type: str = "default-service"
    num_uses: int = 0
    no_default_policy: bool = False

    def read_data(self) -> dict[str, Any]:
        return {
            "allowed_entity_aliases": None,
            "allowed_policies": list(self.allowed_policies),
            "allowed_policies_glob": [],
            "disallowed_policies": list(self.disallowed_policies),
            "disallowed_policies_glob": [],
            "explicit_max_ttl": self.explicit_max_ttl,
            "name": self.name,
            "orphan": self.orphan,
            "path_suffix": self.path_suffix,
            "period": self.period,
            "renewable": self.renewable,
            "token_bound_cidrs": [],
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "token_no_default_policy": self.no_default_policy,
            "token_num_uses": self.num_uses,
            "token_period": self.period,
            "token_ttl": self.ttl,
            "token_max_ttl": self.max_ttl,
            "token_type": self.token_type,
        }


class TokenStore:
    """Tokens by id and accessor, and token roles."""

    def __init__(self, on_revoke: Callable[[Token], None]) -> None:
        self.tokens: dict[str, Token] = {}
        self.by_accessor: dict[str, str] = {}
        self.roles: dict[str, TokenRole] = {}
        self._on_revoke = on_revoke

    def new_token(self, **fields: Any) -> Token:
        token_id = fields.pop("id", None) or "hvs." + base62(24)
        accessor = base62(24)
        token = Token(id=token_id, accessor=accessor, **fields)
        self.tokens[token.id] = token
        self.by_accessor[accessor] = token.id
        if token.parent is not None and token.parent in self.tokens:
            self.tokens[token.parent].children.add(token.id)
        return token

    def live(self, token_id: str | None, at: float | None = None) -> Token | None:
        """The token if it exists and has not expired (an expired one is revoked here)."""
        if not token_id:
            return None
        token = self.tokens.get(token_id)
        if token is None:
            return None
        if token.expire_at is not None and token.expire_at <= (at or now()):
            self.revoke(token.id)
            return None
        return token

    def by_accessor_live(self, accessor: str) -> Token | None:
        token_id = self.by_accessor.get(accessor)
        return self.live(token_id) if token_id else None

    def revoke(self, token_id: str, *, orphan_children: bool = False) -> bool:
        """Revoke a token, its leases and (unless ``orphan_children``) its children."""
        token = self.tokens.pop(token_id, None)
        if token is None:
            return False
        self.by_accessor.pop(token.accessor, None)
        if token.parent and token.parent in self.tokens:
            self.tokens[token.parent].children.discard(token_id)
        for child_id in sorted(token.children):
            child = self.tokens.get(child_id)
            if child is None:
                continue
            if orphan_children:
                child.parent = None
            else:
                self.revoke(child_id)
        self._on_revoke(token)
        return True

    def expire(self, at: float) -> int:
        """Revoke every token whose TTL has run out; how many were revoked."""
        dead = [t.id for t in self.tokens.values() if t.expire_at is not None and t.expire_at <= at]
        return sum(1 for token_id in dead if self.revoke(token_id))

    def renew(self, token: Token, increment: int) -> list[str]:
        """Extend the token's TTL by ``increment`` (its original TTL when 0), capped."""
        warnings: list[str] = []
        at = now()
        ttl = token.period or increment or token.creation_ttl
        if token.max_expire_at is not None:
            cap = max(0, int(token.max_expire_at - at))
            if ttl > cap:
                limit = token.explicit_max_ttl or cap
                warnings.append(
                    f'TTL of "{go_duration(ttl)}" exceeded the effective max_ttl of '
                    f'"{go_duration(limit)}"; TTL value is capped accordingly'
                )
                ttl = cap
        token.ttl = ttl
        token.last_renewal = at
        token.expire_at = at + ttl if ttl or token.expire_at is not None else None
        return warnings
