"""``sys/*`` of the stand-in: health, mounts, auth methods, ACL policies and capabilities."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jitops.sandbox.vault.acl import parse_policy
from jitops.sandbox.vault.core import Backend, Mount, VaultCore
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, no_content, response
from jitops.sandbox.vault.util import as_str_map, duration_seconds, new_uuid

VERSION = "1.15.0"
CLUSTER_NAME = "vault-cluster-sandbox"
CLUSTER_ID = new_uuid()

SecretFactory = Callable[[VaultCore, dict[str, Any]], Backend | None]
AuthFactory = Callable[[VaultCore, str], Backend]


def health(call: Call) -> Reply:
    body = {
        "initialized": True,
        "sealed": False,
        "standby": False,
        "performance_standby": False,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": int(time.time()),
        "version": VERSION,
        "enterprise": False,
        "cluster_name": CLUSTER_NAME,
        "cluster_id": CLUSTER_ID,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
    }
    return Reply(200, body)


def seal_status(call: Call) -> Reply:
    return Reply(
        200,
        {
            "type": "shamir",
            "initialized": True,
            "sealed": False,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "version": VERSION,
            "build_date": "2023-09-22T20:53:58Z",
            "migration": False,
            "cluster_name": CLUSTER_NAME,
            "cluster_id": CLUSTER_ID,
            "recovery_seal": False,
            "storage_type": "inmem",
        },
    )


def init_status(call: Call) -> Reply:
    return Reply(200, {"initialized": True})


# -- secret engines ----------------------------------------------------------------------------


class Mounts:
    """``sys/mounts`` and ``sys/auth`` with the engines the stand-in knows how to build."""

    def __init__(
        self, secret_types: dict[str, SecretFactory], auth_types: dict[str, AuthFactory]
    ) -> None:
        self.secret_types = secret_types
        self.auth_types = auth_types

    def list_mounts(self, call: Call) -> Reply:
        table = {path: m.describe() for path, m in sorted(call.core.mounts.items())}
        return response(table, top=table)

    def read_mount(self, call: Call) -> Reply:
        mount = call.core.mounts.get(call.params["path"].strip("/") + "/")
        if mount is None:
            raise VaultAPIError(400, f"No secret engine mount at {call.params['path']}/")
        return response(mount.describe(), top=mount.describe())

    def enable_mount(self, call: Call) -> Reply:
        core = call.core
        path = call.params["path"].strip("/") + "/"
        kind = str(call.body.get("type") or "")
        options = as_str_map(call.body.get("options"), "options")
        if kind in ("kv-v2",):
            kind, options = "kv", {**options, "version": "2"}
        if any(path.startswith(m) or m.startswith(path) for m in core.mounts):
            raise VaultAPIError(400, f"path is already in use at {path}")
        factory = self.secret_types.get(kind)
        if factory is None:
            raise VaultAPIError(400, f"plugin not found in the catalog: {kind}")
        config = call.body.get("config") or {}
        core.mounts[path] = Mount(
            path,
            kind,
            factory(core, options),
            description=str(call.body.get("description") or ""),
            options=options,
            default_lease_ttl=duration_seconds(
                config.get("default_lease_ttl"), "default_lease_ttl"
            ),
            max_lease_ttl=duration_seconds(config.get("max_lease_ttl"), "max_lease_ttl"),
            accessor=core.new_accessor(kind),
        )
        return no_content()

    def disable_mount(self, call: Call) -> Reply:
        core = call.core
        path = call.params["path"].strip("/") + "/"
        if path in ("sys/", "cubbyhole/", "identity/"):
            raise VaultAPIError(400, f"cannot unmount {path!r}")
        mount = core.mounts.pop(path, None)
        if mount is not None:
            core.leases.revoke_prefix(path)
            if mount.backend is not None:
                core.defer(mount.backend.close)
        return no_content()

    # -- auth methods --------------------------------------------------------------------------

    def list_auth(self, call: Call) -> Reply:
        table = {path: m.describe() for path, m in sorted(call.core.auth_mounts.items())}
        return response(table, top=table)

    def enable_auth(self, call: Call) -> Reply:
        core = call.core
        path = call.params["path"].strip("/") + "/"
        kind = str(call.body.get("type") or "")
        if path in core.auth_mounts:
            raise VaultAPIError(400, f"path is already in use at auth/{path}")
        factory = self.auth_types.get(kind)
        if factory is None:
            raise VaultAPIError(400, f"plugin not found in the catalog: {kind}")
        config = call.body.get("config") or {}
        core.auth_mounts[path] = Mount(
            path,
            kind,
            factory(core, path),
            description=str(call.body.get("description") or ""),
            default_lease_ttl=duration_seconds(
                config.get("default_lease_ttl"), "default_lease_ttl"
            ),
            max_lease_ttl=duration_seconds(config.get("max_lease_ttl"), "max_lease_ttl"),
            accessor=core.new_accessor(f"auth_{kind}"),
        )
        return no_content()

    def disable_auth(self, call: Call) -> Reply:
        core = call.core
        path = call.params["path"].strip("/") + "/"
        if path == "token/":
            raise VaultAPIError(400, "token credential backend cannot be disabled")
        if core.auth_mounts.pop(path, None) is not None:
            prefix = f"auth/{path}"
            for token in [t for t in core.tokens.tokens.values() if t.path.startswith(prefix)]:
                core.tokens.revoke(token.id)
        return no_content()


# -- ACL policies ------------------------------------------------------------------------------


def _policy_name(call: Call) -> str:
    return call.params["name"].strip().lower()


def _policy_text(call: Call) -> str:
    text = call.body.get("policy", call.body.get("rules"))
    if not isinstance(text, str) or not text.strip():
        raise VaultAPIError(400, "'policy' parameter not supplied or empty")
    return text


def write_policy(call: Call) -> Reply:
    name = _policy_name(call)
    if name == "root":
        raise VaultAPIError(400, 'cannot update "root" policy')
    text = _policy_text(call)
    parse_policy(name, text)
    call.core.set_policy(name, text)
    return no_content()


def _stored_policy(call: Call) -> tuple[str, str]:
    name = _policy_name(call)
    if name == "root":
        return name, ""
    found = call.core.policies.get(name)
    if found is None:
        raise VaultAPIError(404)
    return name, found[0]


def read_policy(call: Call) -> Reply:
    name, text = _stored_policy(call)
    return response({"name": name, "policy": text})


def read_policy_legacy(call: Call) -> Reply:
    name, text = _stored_policy(call)
    return response({"name": name, "rules": text}, top={"name": name, "rules": text})


def delete_policy(call: Call) -> Reply:
    name = _policy_name(call)
    if name in ("root", "default"):
        raise VaultAPIError(400, f'cannot delete "{name}" policy')
    call.core.policies.pop(name, None)
    return no_content()


def _policy_keys(call: Call) -> list[str]:
    return sorted([*call.core.policies, "root"])


def list_policies(call: Call) -> Reply:
    return response({"keys": _policy_keys(call)})


def list_policies_legacy(call: Call) -> Reply:
    keys = _policy_keys(call)
    return response({"keys": keys, "policies": keys}, top={"keys": keys, "policies": keys})


def _policy_exists(call: Call) -> bool:
    return _policy_name(call) in call.core.policies


# -- capabilities ------------------------------------------------------------------------------


def _capabilities(call: Call, token_acl: Any) -> Reply:
    raw = call.body.get("paths", call.body.get("path"))
    paths = [raw] if isinstance(raw, str) else list(raw or [])
    if not paths:
        raise VaultAPIError(400, "missing paths")
    data: dict[str, Any] = {}
    for path in paths:
        caps = sorted(token_acl.capabilities(str(path).strip("/"))) or ["deny"]
        data[str(path)] = caps
    if len(paths) == 1:
        data["capabilities"] = data[str(paths[0])]
    return response(data, top=data)


def capabilities_self(call: Call) -> Reply:
    assert call.token is not None
    return _capabilities(call, call.core.acl_for(call.token))


def capabilities_token(call: Call) -> Reply:
    token = call.core.tokens.live(str(call.body.get("token") or ""))
    if token is None:
        raise VaultAPIError(400, "invalid token")
    return _capabilities(call, call.core.acl_for(token))


def capabilities_accessor(call: Call) -> Reply:
    token = call.core.tokens.by_accessor_live(str(call.body.get("accessor") or ""))
    if token is None:
        raise VaultAPIError(400, "invalid accessor")
    return _capabilities(call, call.core.acl_for(token))


def register(router: Router, mounts: Mounts) -> None:
    router.add(r"health", get=health, unauthenticated=True)
    router.add(r"seal-status", get=seal_status, unauthenticated=True)
    router.add(r"init", get=init_status, unauthenticated=True)
    router.add(r"mounts", get=mounts.list_mounts)
    router.add(
        r"mounts/(?P<path>.+)",
        get=mounts.read_mount,
        post=mounts.enable_mount,
        delete=mounts.disable_mount,
    )
    router.add(r"auth", get=mounts.list_auth)
    router.add(r"auth/(?P<path>.+)", post=mounts.enable_auth, delete=mounts.disable_auth, sudo=True)
    router.add(r"policies/acl", list_=list_policies)
    router.add(
        r"policies/acl/(?P<name>[^/]+)",
        get=read_policy,
        post=write_policy,
        delete=delete_policy,
        exists=_policy_exists,
    )
    router.add(r"policy", get=list_policies_legacy)
    router.add(
        r"policy/(?P<name>[^/]+)",
        get=read_policy_legacy,
        post=write_policy,
        delete=delete_policy,
        exists=_policy_exists,
    )
    router.add(r"capabilities-self", post=capabilities_self)
    router.add(r"capabilities", post=capabilities_token)
    router.add(r"capabilities-accessor", post=capabilities_accessor)
