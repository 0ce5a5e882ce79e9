"""Response wrapping: a single-use token that holds one response until it is unwrapped."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.util import base62, now, rfc3339

INVALID = "wrapping token is not valid or does not exist"


@dataclass
class Wrapped:
    token: str
    accessor: str
    ttl: int
    creation_time: float
    creation_path: str
    response: dict[str, Any]
    wrapped_accessor: str = ""

    @property
    def expire_at(self) -> float:
        return self.creation_time + self.ttl

    def wrap_info(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "accessor": self.accessor,
            "ttl": self.ttl,
            "creation_time": rfc3339(self.creation_time),
            "creation_path": self.creation_path,
            "wrapped_accessor": self.wrapped_accessor,
        }


class WrapStore:
    """Wrapping tokens by id; each is consumed by one unwrap (or rewrap)."""

    def __init__(self) -> None:
        self.items: dict[str, Wrapped] = {}

    def wrap(self, response: dict[str, Any], ttl: int, path: str) -> Wrapped:
        auth = response.get("auth")
        item = Wrapped(
            token="hvs." + base62(24),
            accessor=base62(24),
            ttl=ttl,
            creation_time=now(),
            creation_path=path,
            response=copy.deepcopy(response),
            wrapped_accessor=str(auth.get("accessor", "")) if isinstance(auth, dict) else "",
        )
        self.items[item.token] = item
        return item

    def get(self, token: str | None) -> Wrapped:
        item = self.items.get(token or "")
        if item is None or item.expire_at <= now():
            if item is not None:
                del self.items[item.token]
            raise VaultAPIError(400, INVALID)
        return item

    def take(self, token: str | None) -> Wrapped:
        item = self.get(token)
        del self.items[item.token]
        return item

    def is_wrapping_token(self, token: str | None) -> bool:
        return bool(token) and token in self.items

    def expire(self, at: float) -> int:
        dead = [k for k, item in self.items.items() if item.expire_at <= at]
        for key in dead:
            del self.items[key]
        return len(dead)
