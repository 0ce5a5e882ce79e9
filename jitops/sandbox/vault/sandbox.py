"""The Python API tests and the demo use: a Vault "dev server" stand-in on loopback."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from types import TracebackType
from typing import Any

from jitops.sandbox.vault import routes_leases, routes_sys, routes_token
from jitops.sandbox.vault.approle import AppRoleAuth
from jitops.sandbox.vault.core import Backend, Mount, VaultCore
from jitops.sandbox.vault.dbmount import DatabaseMount, EngineLike
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.jwt_auth import JWTAuth
from jitops.sandbox.vault.kv import Cubbyhole, KVv1, KVv2
from jitops.sandbox.vault.server import VaultServer

log = logging.getLogger(__name__)

EngineFactory = Callable[[], EngineLike]


def _default_engine() -> EngineLike:
    try:
        from jitops.sandbox.vault.database import DatabaseEngine  # needs psycopg: load on use
    except ImportError as exc:
        raise VaultAPIError(
            400,
            f"the stand-in's database engine cannot load ({exc}); "
            "install it with: pip install 'jitops[sandbox]'",
        ) from None
    engine: EngineLike = DatabaseEngine()
    return engine


def build_core(root_token: str, engine_factory: EngineFactory | None = None) -> VaultCore:
    """A core laid out like ``vault server -dev``: kv-v2 at secret/, cubbyhole, token auth."""
    core = VaultCore(root_token)
    make_engine = engine_factory or _default_engine

    def kv(core: VaultCore, options: dict[str, Any]) -> Backend:
        return KVv2() if str(options.get("version", "1")) == "2" else KVv1()

    def database(core: VaultCore, options: dict[str, Any]) -> Backend:
        return DatabaseMount(make_engine())

    mounts = routes_sys.Mounts(
        secret_types={"kv": kv, "database": database},
        auth_types={"jwt": JWTAuth, "oidc": JWTAuth, "approle": AppRoleAuth},
    )
    routes_sys.register(core.sys_router, mounts)
    routes_leases.register(core.sys_router)
    routes_token.register(core.token_router)
    core.mounts["secret/"] = Mount(
        "secret/",
        "kv",
        KVv2(),
        description="key/value secret storage",
        options={"version": "2"},
        accessor=core.new_accessor("kv"),
    )
    core.mounts["cubbyhole/"] = Mount(
        "cubbyhole/",
        "cubbyhole",
        Cubbyhole(),
        description="per-token private secret storage",
        accessor=core.new_accessor("cubbyhole"),
        local=True,
    )
    core.mounts["identity/"] = Mount(
        "identity/", "identity", None, "identity store", accessor=core.new_accessor("identity")
    )
    core.mounts["sys/"] = Mount(
        "sys/",
        "system",
        None,
        "system endpoints used for control, policy and debugging",
        accessor=core.new_accessor("system"),
    )
    core.auth_mounts["token/"] = Mount(
        "token/", "token", None, "token based credentials", accessor=core.new_accessor("auth_token")
    )
    return core


class VaultSandbox:
    """``vault server -dev`` for what jitops uses; unmodified hvac works against :attr:`url`.

    ``engine_factory`` builds the object behind each ``database`` mount (default: the
    PostgreSQL-backed :class:`~jitops.sandbox.vault.database.DatabaseEngine`).
    """

    def __init__(
        self,
        root_token: str | None = "root",  # noqa: S107 - dev mode's well-known root token
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        engine_factory: EngineFactory | None = None,
    ) -> None:
        self.root_token = root_token or "hvs." + secrets.token_urlsafe(18)
        self.core = build_core(self.root_token, engine_factory)
        self._bind = (host, port)
        self._server: VaultServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Vault stand-in is not running; call start() first")
        host, port = self._server.address
        return f"http://{host}:{port}"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the stand-in raised while answering (its own bugs; tests assert none)."""
        return list(self._server.errors) if self._server else []

    def start(self) -> VaultSandbox:
        if self._server is None:
            self._server = VaultServer(self.core, *self._bind)
            self._server.start()
            self.core.start_reaper()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.core.close()

    def __enter__(self) -> VaultSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
