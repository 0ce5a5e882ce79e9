"""``sys/leases/*`` and ``sys/wrapping/*``."""

from __future__ import annotations

import copy

from jitops.sandbox.vault.core import DENIED
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, keys_reply, no_content, response
from jitops.sandbox.vault.util import as_bool, duration_seconds, new_uuid, rfc3339
from jitops.sandbox.vault.wrapping import INVALID

DEFAULT_WRAP_TTL = 300


def _lease_id(call: Call) -> str:
    value = call.field("lease_id") or call.params.get("lease_id") or ""
    return str(value).strip()


def lookup(call: Call) -> Reply:
    lease_id = _lease_id(call)
    if not lease_id:
        raise VaultAPIError(400, "lease_id must be specified")
    lease = call.core.leases.live(lease_id)
    if lease is None:
        raise VaultAPIError(400, "invalid lease")
    return response(lease.lookup_data())


def list_prefix(call: Call) -> Reply:
    if not call.has_sudo(call.request.path.rstrip("/") + "/"):
        raise VaultAPIError(403, DENIED)
    prefix = call.params.get("prefix", "").strip("/")
    prefix = prefix + "/" if prefix else ""
    keys: set[str] = set()
    for lease_id in call.core.leases.leases:
        if lease_id.startswith(prefix):
            rest = lease_id[len(prefix) :]
            head, sep, _ = rest.partition("/")
            keys.add(head + sep)
    return keys_reply(sorted(keys))


def renew(call: Call) -> Reply:
    lease_id = _lease_id(call)
    if not lease_id:
        raise VaultAPIError(400, "lease_id must be specified")
    leases = call.core.leases
    lease = leases.leases.get(lease_id)
    if lease is None:
        raise VaultAPIError(400, "lease not found")
    if leases.live(lease_id) is None:
        raise VaultAPIError(400, "lease expired")
    if not lease.renewable:
        raise VaultAPIError(400, "lease is not renewable")
    increment = duration_seconds(call.field("increment"), "increment")
    ttl, warnings = leases.renew(lease, increment)
    return response(
        None, lease_id=lease.id, renewable=lease.renewable, lease_duration=ttl, warnings=warnings
    )


def revoke(call: Call) -> Reply:
    lease_id = _lease_id(call)
    if not lease_id:
        raise VaultAPIError(400, "lease_id must be specified")
    call.core.leases.revoke(lease_id)
    return _revoked(call)


def _revoked(call: Call) -> Reply:
    if as_bool(call.field("sync", False), "sync"):
        return no_content()
    return Reply(202, None)


def _revoke_prefix(call: Call) -> None:
    """Leases under the prefix, and tokens created under it (tokens are leases in Vault)."""
    prefix = call.params["prefix"].strip("/")
    core = call.core
    core.leases.revoke_prefix(prefix)
    if prefix.startswith("auth/"):
        for token in [t for t in core.tokens.tokens.values() if t.path.startswith(prefix)]:
            core.tokens.revoke(token.id)


def revoke_prefix(call: Call) -> Reply:
    _revoke_prefix(call)
    return _revoked(call)


def revoke_force(call: Call) -> Reply:
    _revoke_prefix(call)
    return no_content()


# -- wrapping ----------------------------------------------------------------------------------


def _wrapping_token(call: Call) -> str:
    token = str(call.body.get("token") or "").strip()
    return token or str(call.request.client_token or "")


def unwrap(call: Call) -> Reply:
    core = call.core
    item = core.wraps.take(_wrapping_token(call))
    body = copy.deepcopy(item.response)
    body["request_id"] = new_uuid()
    return Reply(200, body)


def wrap_lookup(call: Call) -> Reply:
    token = str(call.body.get("token") or "").strip()
    if not token:
        raise VaultAPIError(400, INVALID)
    item = call.core.wraps.get(token)
    return response(
        {
            "creation_path": item.creation_path,
            "creation_time": rfc3339(item.creation_time),
            "creation_ttl": item.ttl,
        }
    )


def rewrap(call: Call) -> Reply:
    core = call.core
    item = core.wraps.take(_wrapping_token(call))
    fresh = core.wraps.wrap(item.response, item.ttl, item.creation_path)
    reply = response(None)
    assert reply.body is not None
    reply.body["wrap_info"] = fresh.wrap_info()
    return reply


def wrap(call: Call) -> Reply:
    if not call.body:
        raise VaultAPIError(400, "empty request body")
    ttl = call.request.wrap_ttl or DEFAULT_WRAP_TTL
    call.request.wrap_ttl = None
    return call.core.wrap(response(dict(call.body)).body or {}, ttl, "sys/wrapping/wrap")


def register(router: Router) -> None:
    router.add(r"leases/lookup", post=lookup, list_=list_prefix)
    router.add(r"leases/lookup/(?P<prefix>.*)", list_=list_prefix)
    router.add(r"leases/renew(?:/(?P<lease_id>.+))?", post=renew)
    router.add(r"renew(?:/(?P<lease_id>.+))?", post=renew)
    router.add(r"leases/revoke(?:/(?P<lease_id>.+))?", post=revoke)
    router.add(r"revoke(?:/(?P<lease_id>.+))?", post=revoke)
    router.add(r"leases/revoke-prefix/(?P<prefix>.+)", post=revoke_prefix, sudo=True)
    router.add(r"leases/revoke-force/(?P<prefix>.+)", post=revoke_force, sudo=True)
    router.add(r"wrapping/unwrap", post=unwrap, unauthenticated=True)
    router.add(r"wrapping/lookup", post=wrap_lookup, unauthenticated=True)
    router.add(r"wrapping/rewrap", post=rewrap)
    router.add(r"wrapping/wrap", post=wrap)
