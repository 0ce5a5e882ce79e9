"""The stand-in's state and request pipeline: authenticate, authorise, route, wrap, reap.

One re-entrant lock guards all state; handlers run under it. Backend revocations (database
users) are queued while the lock is held and run right after it is released.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jitops.sandbox.vault.acl import ACL, DEFAULT_POLICY, Rule, parse_policy
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.leases import LeaseStore
from jitops.sandbox.vault.routing import Call, Reply, Request, Route, Router, response
from jitops.sandbox.vault.tokens import Token, TokenStore
from jitops.sandbox.vault.util import SYSTEM_MAX_TTL, base62, new_uuid, now
from jitops.sandbox.vault.wrapping import WrapStore

log = logging.getLogger(__name__)

DENIED = "1 error occurred:\n\t* permission denied\n\n"
INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
REAP_INTERVAL = 0.2
_CAPABILITY = {"GET": "read", "LIST": "list", "DELETE": "delete", "POST": "update"}


class Backend(Protocol):
    router: Router

    def close(self) -> None: ...


@dataclass
class Mount:
    path: str  # with a trailing slash, without "auth/" for auth methods
    type: str
    backend: Backend | None
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0
    accessor: str = ""
    uuid: str = field(default_factory=new_uuid)
    local: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": self.default_lease_ttl,
                "force_no_cache": False,
                "max_lease_ttl": self.max_lease_ttl,
            },
            "description": self.description,
            "external_entropy_access": False,
            "local": self.local,
            "options": dict(self.options) or None,
            "plugin_version": "",
            "running_plugin_version": "",
            "running_sha256": "",
            "seal_wrap": False,
            "type": self.type,
            "uuid": self.uuid,
        }

    @property
    def max_ttl(self) -> int:
        return self.max_lease_ttl or SYSTEM_MAX_TTL

    @property
    def default_ttl(self) -> int:
        return self.default_lease_ttl or SYSTEM_MAX_TTL


class VaultCore:
    """Everything the stand-in holds, and :meth:`handle` for one request."""

    def __init__(self, root_token: str) -> None:
        self.lock = threading.RLock()
        self._deferred: list[Callable[[], None]] = []
        self.leases = LeaseStore(self.defer)
        self.tokens = TokenStore(self._token_revoked)
        self.wraps = WrapStore()
        self.policies: dict[str, tuple[str, list[Rule]]] = {}
        self.set_policy("default", DEFAULT_POLICY)
        self.mounts: dict[str, Mount] = {}
        self.auth_mounts: dict[str, Mount] = {}
        self.sys_router = Router()
        self.token_router = Router()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.root_token = self.tokens.new_token(
            id=root_token,
            policies=["root"],
            token_policies=["root"],
            path="auth/token/root",
            display_name="root",
            creation_time=now(),
            ttl=0,
            expire_at=None,
        )

    # -- policies -------------------------------------------------------------------------------

    def set_policy(self, name: str, text: str) -> None:
        self.policies[name] = (text, parse_policy(name, text))

    def acl_for(self, token: Token) -> ACL:
        rules = [self.policies[p][1] for p in token.policies if p in self.policies]
        return ACL(rules, root=token.is_root)

    # -- deferred backend work ----------------------------------------------------------------

    def defer(self, action: Callable[[], None]) -> None:
        self._deferred.append(action)

    def run_deferred(self) -> None:
        with self.lock:
            actions, self._deferred = self._deferred, []
        for action in actions:
            action()

    def _token_revoked(self, token: Token) -> None:
        self.leases.revoke_for_token(token.id)

    # -- the reaper ---------------------------------------------------------------------------

    def start_reaper(self) -> None:
        if self._reaper is None:
            self._stop.clear()
            self._reaper = threading.Thread(target=self._reap_loop, daemon=True, name="reaper")
            self._reaper.start()

    def stop_reaper(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None

    def reap(self) -> None:
        with self.lock:
            at = now()
            self.tokens.expire(at)
            self.leases.expire(at)
            self.wraps.expire(at)
        self.run_deferred()

    def _reap_loop(self) -> None:
        while not self._stop.wait(REAP_INTERVAL):
            try:
                self.reap()
            except Exception:  # keep reaping whatever one backend does
                log.exception("the Vault stand-in's reaper failed once")

    def close(self) -> None:
        self.stop_reaper()
        with self.lock:
            self.leases.revoke_prefix("")
            backends = [m.backend for m in [*self.mounts.values(), *self.auth_mounts.values()]]
        self.run_deferred()
        for backend in backends:
            if backend is not None:
                backend.close()

    # -- one request --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        try:
            with self.lock:
                return self._handle(request)
        finally:
            self.run_deferred()

    def _target(self, path: str) -> tuple[Router | None, str, str]:
        """(router, mount path, path inside the mount) for a request path."""
        if path == "sys" or path.startswith("sys/"):
            return self.sys_router, "sys/", path[4:]
        if path.startswith("auth/"):
            rest = path[5:]
            best = max(
                (m for m in self.auth_mounts if (rest + "/").startswith(m)),
                key=len,
                default=None,
            )
            if best is None:
                return None, "", path
            backend = self.auth_mounts[best].backend
            router = self.token_router if best == "token/" else backend.router if backend else None
            return router, "auth/" + best, rest[len(best) :]
        best = max((m for m in self.mounts if (path + "/").startswith(m)), key=len, default=None)
        if best is None:
            return None, "", path
        backend = self.mounts[best].backend
        return (backend.router if backend else None), best, path[len(best) :]

    def _handle(self, request: Request) -> Reply:
        router, mount, rel = self._target(request.path)
        inner = rel.rstrip("/") if request.method == "LIST" else rel.strip("/")
        found = router.match(inner) if router is not None else None
        route, params = found if found is not None else (None, {})
        token: Token | None = None
        last_use = False
        if route is None or not route.unauthenticated:
            token = self._authenticate(request)
            if token.num_uses > 0:
                token.num_uses -= 1
                last_use = token.num_uses == 0
        try:
            reply = self._authorised(
                request, router, route, Call(self, request, token, params, mount)
            )
        finally:
            if token is not None and last_use:
                self.tokens.revoke(token.id)
        body = reply.body
        wrappable = body is not None and (body.get("data") is not None or body.get("auth"))
        if request.wrap_ttl and reply.status == 200 and body is not None and wrappable:
            reply = self.wrap(body, request.wrap_ttl, request.path)
        return reply

    def _authorised(
        self, request: Request, router: Router | None, route: Route | None, call: Call
    ) -> Reply:
        token = call.token
        capability = _CAPABILITY.get(request.method, "update")
        if request.method == "POST" and route is not None and route.exists is not None:
            capability = "update" if route.exists(call) else "create"
        if token is not None and not token.is_root:
            acl = self.acl_for(token)
            listing = request.method == "LIST"
            path = request.path.rstrip("/") + ("/" if listing else "")
            if not acl.allows(path, capability, listing=listing):
                raise VaultAPIError(403, DENIED)
            if route is not None and route.sudo and not acl.sudo(request.path.rstrip("/")):
                raise VaultAPIError(403, DENIED)
        if route is None:
            if router is None:
                raise VaultAPIError(
                    404, f'no handler for route "{request.path}". route entry not found.'
                )
            raise VaultAPIError(404, "1 error occurred:\n\t* unsupported path\n\n")
        handler = route.handlers.get(request.method)
        if handler is None:
            raise VaultAPIError(405, "1 error occurred:\n\t* unsupported operation\n\n")
        return handler(call)

    def _authenticate(self, request: Request) -> Token:
        if not request.client_token:
            raise VaultAPIError(403, DENIED)
        token = self.tokens.live(request.client_token)
        if token is None:
            raise VaultAPIError(403, INVALID_TOKEN)
        return token

    def wrap(self, body: dict[str, Any], ttl: int, path: str) -> Reply:
        item = self.wraps.wrap(body, ttl, path)
        reply = response(None)
        assert reply.body is not None
        reply.body["wrap_info"] = item.wrap_info()
        reply.body["mount_type"] = ""
        return reply

    # -- tokens issued by auth methods ------------------------------------------------------

    def issue_login_token(
        self,
        *,
        mount: str,
        role: str,
        policies: list[str],
        meta: dict[str, str],
        display_name: str,
        ttl: int,
        max_ttl: int,
        explicit_max_ttl: int,
        period: int = 0,
        num_uses: int = 0,
        no_default_policy: bool = False,
    ) -> Token:
        """An orphan service token for a login through ``auth/<mount>`` (as Vault's core)."""
        token_policies = sorted(set(policies) | (set() if no_default_policy else {"default"}))
        mount_entry = self.auth_mounts.get(mount)
        system_max = mount_entry.max_ttl if mount_entry else SYSTEM_MAX_TTL
        limit = min(x for x in (max_ttl, explicit_max_ttl, system_max) if x > 0)
        use = period or ttl or (mount_entry.default_ttl if mount_entry else SYSTEM_MAX_TTL)
        use = min(use, limit)
        at = now()
        cap = explicit_max_ttl or system_max
        return self.tokens.new_token(
            policies=token_policies,
            token_policies=token_policies,
            path=f"auth/{mount}login",
            display_name=f"{mount.rstrip('/')}-{display_name}" if display_name else mount[:-1],
            creation_time=at,
            ttl=use,
            creation_ttl=use,
            expire_at=at + use,
            explicit_max_ttl=explicit_max_ttl,
            max_expire_at=at + min(cap, max_ttl or cap),
            meta=meta,
            num_uses=num_uses,
            period=period,
            role=None,
        )

    def new_accessor(self, prefix: str) -> str:
        return f"{prefix}_{base62(8).lower()}"
