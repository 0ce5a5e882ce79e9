"""Requests, replies and path routing shared by every part of the Vault stand-in."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.util import new_uuid

if TYPE_CHECKING:
    from jitops.sandbox.vault.core import VaultCore
    from jitops.sandbox.vault.tokens import Token

METHODS = ("GET", "POST", "DELETE", "LIST")


@dataclass
class Request:
    method: str  # GET, POST (PUT is the same), DELETE or LIST
    path: str  # after /v1/, without a leading slash
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    client_token: str | None = None
    wrap_ttl: int | None = None


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None


@dataclass
class Call:
    """One authorised request as a handler sees it."""

    core: VaultCore
    request: Request
    token: Token | None
    params: dict[str, str]
    mount: str = ""  # the mount path, with a trailing slash ("secret/", "auth/jwt/")

    @property
    def body(self) -> dict[str, Any]:
        return self.request.body

    def field(self, name: str, default: Any = None) -> Any:
        """A request field from the JSON body, or from the query string of a GET."""
        if name in self.request.body:
            return self.request.body[name]
        return self.request.query.get(name, default)

    @property
    def is_root(self) -> bool:
        return self.token is not None and self.token.is_root

    def has_sudo(self, path: str | None = None) -> bool:
        if self.token is None:
            return False
        return self.core.acl_for(self.token).sudo(path or self.request.path)


Handler = Callable[[Call], Reply]
Exists = Callable[[Call], bool]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handlers: Mapping[str, Handler]
    exists: Exists | None = None  # POST is "create" when this says False, else "update"
    sudo: bool = False
    unauthenticated: bool = False


class Router:
    """Regex routes (full matches, named groups become ``params``)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        pattern: str,
        *,
        get: Handler | None = None,
        post: Handler | None = None,
        delete: Handler | None = None,
        list_: Handler | None = None,
        exists: Exists | None = None,
        sudo: bool = False,
        unauthenticated: bool = False,
    ) -> None:
        handlers = {
            m: h
            for m, h in (("GET", get), ("POST", post), ("DELETE", delete), ("LIST", list_))
            if h is not None
        }
        self.routes.append(
            Route(re.compile(pattern, re.DOTALL), handlers, exists, sudo, unauthenticated)
        )

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is not None:
                return route, {k: v for k, v in found.groupdict().items() if v is not None}
        return None


def response(
    data: Mapping[str, Any] | None = None,
    *,
    auth: Mapping[str, Any] | None = None,
    lease_id: str = "",
    lease_duration: int = 0,
    renewable: bool = False,
    warnings: list[str] | None = None,
    mount_type: str = "",
    top: Mapping[str, Any] | None = None,
) -> Reply:
    """Vault's usual 200 envelope (``top``: extra top-level keys, as some sys paths have)."""
    body: dict[str, Any] = dict(top or {})
    body.update(
        {
            "request_id": new_uuid(),
            "lease_id": lease_id,
            "renewable": renewable,
            "lease_duration": lease_duration,
            "data": dict(data) if data is not None else None,
            "wrap_info": None,
            "warnings": list(warnings) if warnings else None,
            "auth": dict(auth) if auth is not None else None,
            "mount_type": mount_type,
        }
    )
    return Reply(200, body)


def no_content() -> Reply:
    return Reply(204, None)


def keys_reply(keys: list[str], mount_type: str = "") -> Reply:
    """A LIST answer; Vault answers an empty list with 404 and no errors."""
    if not keys:
        raise VaultAPIError(404)
    return response({"keys": sorted(keys)}, mount_type=mount_type)


def require(call: Call, name: str, what: str | None = None) -> Any:
    value = call.field(name)
    if value is None or value == "":
        raise VaultAPIError(400, f"missing {what or name}")
    return value
