"""``auth/token/*``: create (plain, orphan, through a role), look up, renew, revoke, roles."""

from __future__ import annotations

import re
from typing import Any

from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, keys_reply, no_content, response
from jitops.sandbox.vault.tokens import Token, TokenRole
from jitops.sandbox.vault.util import (
    SYSTEM_MAX_TTL,
    as_bool,
    as_int,
    as_str_map,
    duration_seconds,
    go_duration,
    now,
    policy_names,
)

_SANITIZE = re.compile(r"[^a-zA-Z0-9-]")


def _token_reply(token: Token, warnings: list[str] | None = None) -> Reply:
    return response(None, auth=token.auth_block(), warnings=warnings, mount_type="token")


def _me(call: Call) -> Token:
    assert call.token is not None
    return call.token


def create(call: Call) -> Reply:
    role_name = call.params.get("role")
    orphan_endpoint = call.request.path.rstrip("/").endswith("create-orphan")
    return _create(call, orphan_endpoint=orphan_endpoint, role_name=role_name)


def _create(call: Call, *, orphan_endpoint: bool, role_name: str | None) -> Reply:
    parent = _me(call)
    store = call.core.tokens
    body = call.body
    role: TokenRole | None = None
    if role_name is not None:
        role = store.roles.get(role_name.lower())
        if role is None:
            raise VaultAPIError(400, f"unknown role {role_name}")
    sudo = parent.is_root or call.has_sudo()
    warnings: list[str] = []
    if parent.limited_uses:
        raise VaultAPIError(400, "restricted use token cannot generate child tokens")

    orphan = orphan_endpoint
    if role is not None:
        orphan = role.orphan
    elif as_bool(body.get("no_parent", False), "no_parent"):
        if not sudo:
            raise VaultAPIError(400, "root or sudo privileges required to create orphan token")
        orphan = True

    requested = policy_names(body.get("policies"))
    no_default = as_bool(body.get("no_default_policy", False), "no_default_policy")
    policies = _policies(role, requested, parent, sudo=sudo, no_default=no_default)
    if "root" in policies and not parent.is_root:
        raise VaultAPIError(400, "root tokens may not be created without parent token being root")
    for name in policies:
        if name not in ("root",) and name not in call.core.policies:
            warnings.append(f'Policy "{name}" does not exist')

    ttl = duration_seconds(body.get("ttl"), "ttl")
    explicit = duration_seconds(body.get("explicit_max_ttl"), "explicit_max_ttl")
    period = duration_seconds(body.get("period"), "period")
    if period and not sudo:
        raise VaultAPIError(400, "root or sudo privileges required to create periodic token")
    if role is not None:
        if role.explicit_max_ttl:
            if explicit:
                explicit = min(explicit, role.explicit_max_ttl)
                warnings.append(
                    "Explicit max TTL specified both during creation call and in role; "
                    f"using the lesser value of {explicit} seconds"
                )
            else:
                explicit = role.explicit_max_ttl
        if role.period:
            if period:
                period = min(period, role.period)
                warnings.append(
                    "Period specified both during creation call and in role; "
                    f"using the lesser value of {period} seconds"
                )
            else:
                period = role.period
        ttl = ttl or role.ttl
    max_ttl = min(x for x in (explicit, role.max_ttl if role else 0, SYSTEM_MAX_TTL) if x > 0)
    never = "root" in policies and not ttl and not explicit and not period
    if period:
        ttl = min(period, explicit) if explicit else period
    elif not never:
        wanted = ttl or SYSTEM_MAX_TTL
        ttl = min(wanted, max_ttl)
        if wanted > max_ttl:  # framework.CalculateTTL's warning
            warnings.append(
                f'TTL of "{go_duration(wanted)}" exceeded the effective max_ttl of '
                f'"{go_duration(max_ttl)}"; TTL value is capped accordingly'
            )

    renewable = as_bool(body.get("renewable", True), "renewable")
    if role is not None and not role.renewable:
        renewable = False
    num_uses = as_int(body.get("num_uses", 0), "num_uses")
    if num_uses < 0:
        raise VaultAPIError(400, "number of uses cannot be negative")
    if role is not None and role.num_uses and (num_uses == 0 or num_uses > role.num_uses):
        num_uses = role.num_uses
    display = "token"
    if body.get("display_name"):
        display = _SANITIZE.sub("-", "token-" + str(body["display_name"])).rstrip("-")
    token_id = str(body.get("id") or "") or None
    if token_id and not sudo:
        raise VaultAPIError(400, "root or sudo privileges required to specify token id")
    if token_id and token_id in store.tokens:
        raise VaultAPIError(400, "cannot create a token with a duplicate ID")
    path = "auth/token/create" + ("-orphan" if orphan_endpoint else "")
    if role is not None:
        path = f"auth/token/create/{role.name}"
        if role.path_suffix:
            path = f"{path}/{role.path_suffix}"
    at = now()
    token = store.new_token(
        id=token_id,
        policies=policies,
        token_policies=list(policies),
        path=path,
        display_name=display,
        creation_time=at,
        ttl=ttl,
        creation_ttl=ttl,
        expire_at=None if never else at + ttl,
        renewable=renewable and not never,
        explicit_max_ttl=explicit,
        max_expire_at=None if never else at + (explicit or max_ttl),
        meta=as_str_map(body.get("meta"), "meta"),
        num_uses=num_uses,
        parent=None if orphan else parent.id,
        role=role.name if role else None,
        period=period,
    )
    return _token_reply(token, warnings)


def _sanitize(names: list[str], add_default: bool) -> list[str]:
    """Vault's policyutil.SanitizePolicies: de-duplicated, sorted; root stands alone."""
    out = set(names) | ({"default"} if add_default else set())
    if "root" in out:
        return ["root"]
    return sorted(out)


def _policies(
    role: TokenRole | None, requested: list[str], parent: Token, *, sudo: bool, no_default: bool
) -> list[str]:
    """The new token's policies, following Vault's handleCreateCommon case by case."""
    add_default = False
    if role is not None and (role.allowed_policies or role.disallowed_policies):
        local_default = (
            not no_default
            and not role.no_default_policy
            and "default" not in role.disallowed_policies
        )
        final = _sanitize(requested, local_default) if requested else []
        if role.allowed_policies:
            allowed = _sanitize(role.allowed_policies, local_default)
            if not final:
                final = allowed
            elif any(p not in allowed for p in final):
                raise VaultAPIError(
                    400,
                    f"token policies ({_go_list(final)}) must be subset of the role's allowed "
                    f"policies ({_go_list(allowed)}) or glob policies ([])",
                )
        elif not final:
            final = _sanitize(parent.policies, local_default)
        for name in final:
            if name in role.disallowed_policies:
                raise VaultAPIError(400, f'token policy "{name}" is disallowed by this role')
        chosen = final
    elif not requested:
        chosen = list(parent.policies)
    elif not sudo:
        mine = set(_sanitize(requested, False)) - {"default"}
        theirs = set(_sanitize(parent.policies, False)) - {"default"}
        if not mine <= theirs:
            raise VaultAPIError(400, "child policies must be subset of parent")
        add_default = not no_default and "default" in parent.policies
        chosen = requested
    else:
        add_default = not no_default
        chosen = requested
    policies = _sanitize(chosen, add_default)
    if no_default and "default" in policies:
        policies.remove("default")
    return policies


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(f'"{i}"' for i in items) + "]"


# -- lookup ------------------------------------------------------------------------------------


def _field(call: Call, name: str) -> str:
    value = call.field(name) or call.params.get(name)
    return str(value or "").strip()


def lookup(call: Call) -> Reply:
    token_id = _field(call, "token") or (call.token.id if call.token else "")
    if not token_id:
        raise VaultAPIError(400, "missing token ID")
    token = call.core.tokens.live(token_id)
    if token is None:
        raise VaultAPIError(403, "bad token")
    return response(token.lookup_data(), mount_type="token")


def lookup_self(call: Call) -> Reply:
    return response(_me(call).lookup_data(), mount_type="token")


def _by_accessor(call: Call) -> Token:
    accessor = _field(call, "accessor")
    if not accessor:
        raise VaultAPIError(400, "missing accessor")
    token = call.core.tokens.by_accessor_live(accessor)
    if token is None:
        raise VaultAPIError(400, "invalid accessor")
    return token


def lookup_accessor(call: Call) -> Reply:
    return response(_by_accessor(call).lookup_data(with_id=False), mount_type="token")


# -- revoke ------------------------------------------------------------------------------------


def revoke(call: Call) -> Reply:
    token_id = _field(call, "token")
    if not token_id:
        raise VaultAPIError(400, "missing token ID")
    call.core.tokens.revoke(token_id)
    return no_content()


def revoke_self(call: Call) -> Reply:
    call.core.tokens.revoke(_me(call).id)
    return no_content()


def revoke_accessor(call: Call) -> Reply:
    accessor = _field(call, "accessor")
    if not accessor:
        raise VaultAPIError(400, "missing accessor")
    token = call.core.tokens.by_accessor_live(accessor)
    if token is None:
        return response(None, warnings=["No token found with this accessor"], mount_type="token")
    call.core.tokens.revoke(token.id)
    return no_content()


def revoke_orphan(call: Call) -> Reply:
    token_id = _field(call, "token")
    if not token_id:
        raise VaultAPIError(400, "missing token ID")
    if not (call.is_root or call.has_sudo()):
        raise VaultAPIError(400, "root or sudo privileges required to revoke and orphan")
    if call.core.tokens.live(token_id) is None:
        raise VaultAPIError(400, "token to revoke not found")
    call.core.tokens.revoke(token_id, orphan_children=True)
    return no_content()


# -- renew -------------------------------------------------------------------------------------


def _renew(call: Call, token: Token) -> Reply:
    if not token.renewable:
        raise VaultAPIError(400, "lease is not renewable")
    if token.expire_at is None:
        return _token_reply(token)
    increment = duration_seconds(call.field("increment"), "increment")
    warnings = call.core.tokens.renew(token, increment)
    return _token_reply(token, warnings)


def renew(call: Call) -> Reply:
    token_id = _field(call, "token")
    if not token_id:
        raise VaultAPIError(400, "missing token ID")
    token = call.core.tokens.live(token_id)
    if token is None:
        raise VaultAPIError(400, "token not found")
    return _renew(call, token)


def renew_self(call: Call) -> Reply:
    return _renew(call, _me(call))


def renew_accessor(call: Call) -> Reply:
    reply = _renew(call, _by_accessor(call))
    if reply.body is not None and reply.body.get("auth"):
        reply.body["auth"]["client_token"] = ""  # an accessor never reveals its token
    return reply


# -- roles and accessors -------------------------------------------------------------------


def _role_exists(call: Call) -> bool:
    return call.params.get("name", "").lower() in call.core.tokens.roles


def write_role(call: Call) -> Reply:
    name = call.params["name"].lower()
    roles = call.core.tokens.roles
    role = roles.get(name) or TokenRole(name)
    body: dict[str, Any] = call.body
    if "allowed_policies" in body:
        role.allowed_policies = policy_names(body["allowed_policies"], "allowed_policies")
    if "disallowed_policies" in body:
        role.disallowed_policies = policy_names(body["disallowed_policies"], "disallowed_policies")
    if "orphan" in body:
        role.orphan = as_bool(body["orphan"], "orphan")
    if "renewable" in body:
        role.renewable = as_bool(body["renewable"], "renewable")
    if "path_suffix" in body:
        role.path_suffix = str(body["path_suffix"] or "")
    for key in ("token_explicit_max_ttl", "explicit_max_ttl"):
        if key in body:
            role.explicit_max_ttl = duration_seconds(body[key], key)
    for key in ("token_period", "period"):
        if key in body:
            role.period = duration_seconds(body[key], key)
    if "token_ttl" in body:
        role.ttl = duration_seconds(body["token_ttl"], "token_ttl")
    if "token_max_ttl" in body:
        role.max_ttl = duration_seconds(body["token_max_ttl"], "token_max_ttl")
    if "token_num_uses" in body:
        role.num_uses = as_int(body["token_num_uses"], "token_num_uses")
    if "token_no_default_policy" in body:
        role.no_default_policy = as_bool(body["token_no_default_policy"], "no_default_policy")
    if "token_type" in body:
        kind = str(body["token_type"] or "default-service")
        if kind not in ("service", "batch", "default-service", "default-batch", "default"):
            raise VaultAPIError(400, f"invalid 'token_type' value {kind!r}")
        role.token_type = kind
    roles[name] = role
    return no_content()


def read_role(call: Call) -> Reply:
    role = call.core.tokens.roles.get(call.params["name"].lower())
    if role is None:
        raise VaultAPIError(404)
    return response(role.read_data(), mount_type="token")


def delete_role(call: Call) -> Reply:
    call.core.tokens.roles.pop(call.params["name"].lower(), None)
    return no_content()


def list_roles(call: Call) -> Reply:
    return keys_reply(list(call.core.tokens.roles), "token")


def list_accessors(call: Call) -> Reply:
    store = call.core.tokens
    at = now()
    keys = [t.accessor for t in store.tokens.values() if t.expire_at is None or t.expire_at > at]
    return keys_reply(keys, "token")


def register(router: Router) -> None:
    router.add(r"create|create-orphan|create/(?P<role>[^/]+)", post=create)
    router.add(r"lookup(?:/(?P<token>.+))?", post=lookup, get=lookup)
    router.add(r"lookup-self", get=lookup_self, post=lookup_self)
    router.add(r"lookup-accessor(?:/(?P<accessor>[^/]+))?", post=lookup_accessor)
    router.add(r"revoke(?:/(?P<token>.+))?", post=revoke)
    router.add(r"revoke-self", post=revoke_self)
    router.add(r"revoke-accessor(?:/(?P<accessor>[^/]+))?", post=revoke_accessor)
    router.add(r"revoke-orphan", post=revoke_orphan)
    router.add(r"revoke-orphan/(?P<token>.+)", post=revoke_orphan, sudo=True)
    router.add(r"renew(?:/(?P<token>.+))?", post=renew)
    router.add(r"renew-self", post=renew_self)
    router.add(r"renew-accessor", post=renew_accessor)
    router.add(r"roles", list_=list_roles)
    router.add(
        r"roles/(?P<name>[^/]+)",
        get=read_role,
        post=write_role,
        delete=delete_role,
        exists=_role_exists,
    )
    router.add(r"accessors", list_=list_accessors, sudo=True)
