"""The JWT auth method (``type: jwt``), offline: keys come from ``jwt_validation_pubkeys``.

Signatures are really verified (RS256/ES256 and friends, with PyJWT), as are ``exp``/``nbf``/
``iat`` (with Vault's default leeways), the issuer, the audience, the subject and the role's
bound claims. ``oidc_discovery_url`` and ``jwks_url`` are stored but never fetched (the
stand-in has no network): a login against such a config is refused with a message saying so.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization

from jitops.sandbox.vault.core import VaultCore
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, keys_reply, no_content, response
from jitops.sandbox.vault.util import (
    as_bool,
    as_int,
    as_list,
    duration_seconds,
    policy_names,
)

DEFAULT_LEEWAY = 150  # the plugin's claimDefaultLeeway
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]
_KEY_SOURCES = ("jwt_validation_pubkeys", "jwks_url", "oidc_discovery_url")


@dataclass
class JWTRole:
    name: str
    role_type: str = "oidc"
    user_claim: str = ""
    bound_audiences: list[str] = field(default_factory=list)
    bound_subject: str = ""
    bound_claims: dict[str, Any] = field(default_factory=dict)
    bound_claims_type: str = "string"
    claim_mappings: dict[str, str] = field(default_factory=dict)
    policies: list[str] = field(default_factory=list)
    ttl: int = 0
    max_ttl: int = 0
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    no_default_policy: bool = False
    token_type: str = "default"
    clock_skew_leeway: int = 60
    expiration_leeway: int = 0  # 0: the plugin's default of 150 s (used when exp is missing)
    not_before_leeway: int = 0

    def read_data(self) -> dict[str, Any]:
        return {
            "role_type": self.role_type,
            "user_claim": self.user_claim,
            "bound_audiences": list(self.bound_audiences),
            "bound_subject": self.bound_subject,
            "bound_claims": dict(self.bound_claims) or None,
            "bound_claims_type": self.bound_claims_type,
            "claim_mappings": dict(self.claim_mappings) or None,
            "token_policies": list(self.policies),
            "policies": list(self.policies),
            "token_ttl": self.ttl,
            "ttl": self.ttl,
            "token_max_ttl": self.max_ttl,
            "max_ttl": self.max_ttl,
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "token_period": self.period,
            "token_num_uses": self.num_uses,
            "token_no_default_policy": self.no_default_policy,
            "token_type": self.token_type,
            "clock_skew_leeway": self.clock_skew_leeway,
            "expiration_leeway": self.expiration_leeway,
            "not_before_leeway": self.not_before_leeway,
        }


def _load_key(pem: str) -> Any:
    try:
        return serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise VaultAPIError(400, f"error parsing public key: {exc}") from None


class JWTAuth:
    """``auth/<mount>/config``, ``role/:name`` and ``login``."""

    def __init__(self, core: VaultCore, mount: str) -> None:
        self.mount = mount
        self.config: dict[str, Any] | None = None
        self.keys: list[Any] = []
        self.roles: dict[str, JWTRole] = {}
        self.router = Router()
        r = self.router
        r.add(r"config", get=self.read_config, post=self.write_config)
        r.add(r"role", list_=self.list_roles)
        r.add(
            r"role/(?P<name>[^/]+)",
            get=self.read_role,
            post=self.write_role,
            delete=self.delete_role,
            exists=lambda call: call.params["name"].lower() in self.roles,
        )
        r.add(r"login", post=self.login, unauthenticated=True)

    def close(self) -> None:
        return None

    # -- config --------------------------------------------------------------------------------

    def write_config(self, call: Call) -> Reply:
        body = call.body
        pubkeys = as_list(body.get("jwt_validation_pubkeys"), "jwt_validation_pubkeys")
        if isinstance(body.get("jwt_validation_pubkeys"), str):
            pubkeys = [str(body["jwt_validation_pubkeys"])]
        sources = [s for s in _KEY_SOURCES if body.get(s)]
        if len(sources) != 1:
            raise VaultAPIError(
                400,
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' "
                "must be set",
            )
        self.keys = [_load_key(pem) for pem in pubkeys]
        self.config = {
            "bound_issuer": str(body.get("bound_issuer") or ""),
            "default_role": str(body.get("default_role") or ""),
            "jwks_ca_pem": "",
            "jwks_url": str(body.get("jwks_url") or ""),
            "jwt_supported_algs": as_list(body.get("jwt_supported_algs"), "jwt_supported_algs"),
            "jwt_validation_pubkeys": pubkeys,
            "namespace_in_state": True,
            "oidc_client_id": str(body.get("oidc_client_id") or ""),
            "oidc_discovery_ca_pem": "",
            "oidc_discovery_url": str(body.get("oidc_discovery_url") or ""),
            "oidc_response_mode": "",
            "oidc_response_types": [],
            "provider_config": {},
        }
        return no_content()

    def read_config(self, call: Call) -> Reply:
        if self.config is None:
            raise VaultAPIError(404)
        return response(dict(self.config), mount_type="jwt")

    # -- roles ---------------------------------------------------------------------------------

    def write_role(self, call: Call) -> Reply:
        name = call.params["name"].lower()
        role = self.roles.get(name) or JWTRole(name)
        body = call.body
        if "role_type" in body:
            role.role_type = str(body["role_type"] or "oidc")
        if role.role_type not in ("jwt", "oidc"):
            raise VaultAPIError(400, f"invalid 'role_type': {role.role_type}")
        if "user_claim" in body:
            role.user_claim = str(body["user_claim"] or "")
        if "bound_audiences" in body:
            role.bound_audiences = as_list(body["bound_audiences"], "bound_audiences")
        if "bound_subject" in body:
            role.bound_subject = str(body["bound_subject"] or "")
        if "bound_claims" in body:
            claims = body["bound_claims"] or {}
            if not isinstance(claims, dict):
                raise VaultAPIError(400, "bound_claims must be a map")
            role.bound_claims = dict(claims)
        if "bound_claims_type" in body:
            kind = str(body["bound_claims_type"] or "string")
            if kind not in ("string", "glob"):
                raise VaultAPIError(400, f"invalid 'bound_claims_type': {kind}")
            role.bound_claims_type = kind
        if "claim_mappings" in body:
            role.claim_mappings = {
                str(k): str(v) for k, v in (body["claim_mappings"] or {}).items()
            }
        for key in ("token_policies", "policies"):
            if key in body:
                role.policies = policy_names(body[key], key)
        for key, attr in (
            ("token_ttl", "ttl"),
            ("ttl", "ttl"),
            ("token_max_ttl", "max_ttl"),
            ("max_ttl", "max_ttl"),
            ("token_explicit_max_ttl", "explicit_max_ttl"),
            ("token_period", "period"),
            ("clock_skew_leeway", "clock_skew_leeway"),
            ("expiration_leeway", "expiration_leeway"),
            ("not_before_leeway", "not_before_leeway"),
        ):
            if key in body:
                setattr(role, attr, duration_seconds(body[key], key))
        if "token_num_uses" in body:
            role.num_uses = as_int(body["token_num_uses"], "token_num_uses")
        if "token_no_default_policy" in body:
            role.no_default_policy = as_bool(body["token_no_default_policy"], "no_default_policy")
        if "token_type" in body:
            role.token_type = str(body["token_type"] or "default")
        if not role.user_claim:
            raise VaultAPIError(400, "a user claim must be defined on the role")
        if role.max_ttl and role.ttl > role.max_ttl:
            raise VaultAPIError(400, "ttl should not be greater than max ttl")
        bound = role.bound_audiences or role.bound_subject or role.bound_claims
        if role.role_type == "jwt" and not bound:
            raise VaultAPIError(
                400, "must have at least one bound constraint when creating/updating a role"
            )
        self.roles[name] = role
        return no_content()

    def read_role(self, call: Call) -> Reply:
        role = self.roles.get(call.params["name"].lower())
        if role is None:
            raise VaultAPIError(404)
        return response(role.read_data(), mount_type="jwt")

    def delete_role(self, call: Call) -> Reply:
        self.roles.pop(call.params["name"].lower(), None)
        return no_content()

    def list_roles(self, call: Call) -> Reply:
        return keys_reply(list(self.roles), "jwt")

    # -- login ---------------------------------------------------------------------------------

    def login(self, call: Call) -> Reply:
        if self.config is None:
            raise VaultAPIError(400, "could not load configuration")
        name = str(call.body.get("role") or "").lower() or self.config.get("default_role", "")
        if not name:
            raise VaultAPIError(400, "missing role")
        role = self.roles.get(name)
        if role is None:
            raise VaultAPIError(400, f'role "{name}" could not be found')
        if role.role_type == "oidc":
            raise VaultAPIError(400, "role with oidc role_type is not allowed")
        token = str(call.body.get("jwt") or "")
        if not token:
            raise VaultAPIError(400, "missing token")
        claims = self._verify(token, role)
        _check_bound_claims(role, claims)
        user = claims.get(role.user_claim)
        if user is None:
            raise VaultAPIError(400, f'claim "{role.user_claim}" not found in token')
        if not isinstance(user, str | int | float) or isinstance(user, bool):
            raise VaultAPIError(400, f'claim "{role.user_claim}" could not be converted to string')
        meta = {"role": role.name}
        for claim, meta_key in role.claim_mappings.items():
            value = _claim(claims, claim)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                meta[meta_key] = str(value)
        issued = call.core.issue_login_token(
            mount=self.mount,
            role=role.name,
            policies=list(role.policies),
            meta=meta,
            display_name=str(user),
            ttl=role.ttl,
            max_ttl=role.max_ttl,
            explicit_max_ttl=role.explicit_max_ttl,
            period=role.period,
            num_uses=role.num_uses,
            no_default_policy=role.no_default_policy,
        )
        auth = issued.auth_block()
        auth["orphan"] = True
        return response(None, auth=auth, mount_type="jwt")

    def _verify(self, token: str, role: JWTRole) -> dict[str, Any]:
        """The plugin's static-keys path: signature, time claims, issuer, subject, audience."""
        config = self.config or {}
        if not self.keys:
            raise VaultAPIError(
                400,
                "error verifying token: the Vault stand-in does not fetch oidc_discovery_url "
                "or jwks_url; configure jwt_validation_pubkeys instead",
            )
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError as exc:
            raise VaultAPIError(400, f"error parsing token: {exc}") from None
        algs = [a for a in (config.get("jwt_supported_algs") or ALGORITHMS) if a in ALGORITHMS]
        claims: dict[str, Any] | None = None
        if header.get("alg") in algs:
            for key in self.keys:
                try:
                    claims = pyjwt.decode(
                        token,
                        key=key,
                        algorithms=algs,
                        options={
                            "verify_signature": True,
                            "verify_aud": False,
                            "verify_exp": False,
                            "verify_nbf": False,
                            "verify_iat": False,
                            "verify_iss": False,
                        },
                    )
                    break
                except pyjwt.InvalidSignatureError:
                    continue
                except pyjwt.PyJWTError as exc:
                    raise VaultAPIError(400, f"error parsing token: {exc}") from None
        if claims is None:
            raise VaultAPIError(400, "no known key successfully validated the token signature")
        audiences = claims.get("aud")
        aud_list = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if aud_list and not role.bound_audiences:
            raise VaultAPIError(
                400, "audience claim found in JWT but no audiences bound to the role"
            )
        issuer = config.get("bound_issuer") or ""
        if issuer and claims.get("iss") != issuer:
            raise VaultAPIError(400, f"error validating claims: {_JOSE}invalid issuer claim (iss)")
        if role.bound_subject and claims.get("sub") != role.bound_subject:
            raise VaultAPIError(400, f"error validating claims: {_JOSE}invalid subject claim (sub)")
        _check_times(claims, role)
        if role.bound_audiences and not set(aud_list) & set(role.bound_audiences):
            raise VaultAPIError(
                400, "error validating claims: aud claim does not match any bound audience"
            )
        return claims


_JOSE = "go-jose/go-jose/jwt: validation failed, "


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        return 0.0
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise VaultAPIError(400, f"error parsing token: malformed {name!r} claim")
    return float(value)


def _check_times(claims: dict[str, Any], role: JWTRole) -> None:
    """As the plugin: a missing exp/nbf is derived with the role's leeways, then go-jose
    validates exp, nbf and iat with the clock-skew leeway (60 s by default)."""
    iat, exp, nbf = _number(claims, "iat"), _number(claims, "exp"), _number(claims, "nbf")
    if not (iat or exp or nbf):
        raise VaultAPIError(400, "no issue time, notbefore, or expiration time encoded in token")
    if not exp:
        exp = max(iat, nbf) + (role.expiration_leeway or DEFAULT_LEEWAY)
    if not nbf:
        nbf = iat or exp - (role.not_before_leeway or DEFAULT_LEEWAY)
    skew = role.clock_skew_leeway
    at = time.time()
    if at + skew < nbf:
        raise VaultAPIError(400, f"error validating claims: {_JOSE}token not valid yet (nbf)")
    if at - skew > exp:
        raise VaultAPIError(400, f"error validating claims: {_JOSE}token is expired (exp)")
    if iat and at + skew < iat:
        raise VaultAPIError(
            400, f"error validating claims: {_JOSE}token issued in the future (iat)"
        )


def _claim(claims: dict[str, Any], key: str) -> Any:
    if not key.startswith("/"):
        return claims.get(key)
    node: Any = claims
    for part in key.strip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check_bound_claims(role: JWTRole, claims: dict[str, Any]) -> None:
    for key, expected in role.bound_claims.items():
        value = _claim(claims, key)
        if value is None:
            raise VaultAPIError(400, f'error validating claims: claim "{key}" is missing')
        actual = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        wanted = [str(v) for v in expected] if isinstance(expected, list) else [str(expected)]
        if role.bound_claims_type == "glob":
            ok = any(_glob(w, a) for w in wanted for a in actual)
        else:
            ok = bool(set(wanted) & set(actual))
        if not ok:
            raise VaultAPIError(
                400,
                f'error validating claims: claim "{key}" does not match any associated bound '
                "claim values",
            )


def _glob(pattern: str, value: str) -> bool:
    """Vault's glob: ``*`` matches any run of characters, ``/`` included; nothing else."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.DOTALL) is not None
