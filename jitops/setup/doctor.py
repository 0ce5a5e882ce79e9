"""`jitops doctor`: is everything jitops depends on set up as the policy needs it?

Each check yields a :class:`Finding` saying what was checked, whether it is fine, and how to fix
it when it is not. This module holds the Vault part (:func:`vault_findings`); other parts
(GitHub: branch protection, CODEOWNERS, environments) add their own functions returning
findings, and the CLI prints them all. The Vault checks never read a secret: readability is
asked of ``sys/capabilities-self`` with a short-lived token created through the token role.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Protocol

from jitops.core.duration import format_duration
from jitops.core.leases import engine_leases, static_note, unleased_message
from jitops.core.policy import Policy
from jitops.doors.vault.model import VaultError, as_seconds, self_policy
from jitops.setup.vault import (
    GITHUB_ISSUER,
    JWT_SOURCES,
    configured,
    is_jitops_mount,
    issuer_policy_hcl,
)

SETUP_FIX = "run `jitops vault setup` with an admin token"


@dataclass(frozen=True)
class Finding:
    """One checked fact. ``fix`` is empty when ``ok``. A ``warning`` is not ok but does not
    fail the doctor: jitops works, and a person should know."""

    check: str
    ok: bool
    message: str
    fix: str = ""
    warning: bool = False


class DoctorVault(Protocol):
    """The part of :class:`jitops.doors.vault.client.Vault` the doctor uses."""

    addr: str
    login_method: str

    def read(self, path: str, *, action: str | None = None) -> Mapping[str, Any] | None: ...

    def probe_capabilities(
        self, *, token_role: str, policies: Sequence[str], paths: Sequence[str]
    ) -> dict[str, tuple[str, ...]]: ...


def failed(findings: Iterable[Finding]) -> bool:
    return any(not f.ok and not f.warning for f in findings)


def vault_findings(policy: Policy, connect: Callable[[], DoctorVault]) -> list[Finding]:
    """Check Vault against ``policy``: policies, token role, JWT role, readable secrets."""
    try:
        vault = connect()
    except VaultError as exc:
        return [Finding("vault.login", False, str(exc), "set the variables named above")]
    out = [Finding("vault.login", True, f"logged in to {vault.addr} ({vault.login_method})")]
    vs = policy.settings.vault
    missing_policies = _policy_findings(vault, policy, out)
    role_ok = _token_role_findings(vault, policy, out)
    _token_mount_finding(vault, policy, out)
    _lease_findings(vault, policy, out)
    out += secret_engine_findings(vault, policy)
    _jwt_role_finding(vault, policy, out)
    out += jwt_config_findings(vault, policy)
    out.append(vault_addr_pin_finding(policy, vault.addr))
    for role in policy.roles.values():
        if not role.vault_secret:
            continue
        check = f"vault.secret.{role.name}"
        blocked = [p for p in role.vault_policies if p in missing_policies]
        if blocked or not role_ok:
            why = f"policies {', '.join(blocked)} missing" if blocked else "token role not usable"
            out.append(Finding(check, False, f"not checked: {why}", "fix the findings above"))
            continue
        path = role.vault_secret.strip("/")
        try:
            caps = vault.probe_capabilities(
                token_role=vs.token_role, policies=role.vault_policies, paths=[path]
            ).get(path, ())
        except VaultError as exc:
            out.append(Finding(check, False, f"could not probe {path}: {exc}", SETUP_FIX))
            continue
        if "read" in caps or "root" in caps:
            out.append(Finding(check, True, f"a {role.name} grant token can read {path}"))
        else:
            first = role.vault_policies[0]
            out.append(
                Finding(
                    check,
                    False,
                    f"a {role.name} grant token (policies {', '.join(role.vault_policies)}) "
                    f"cannot read {path} (capabilities: {', '.join(caps) or 'none'})",
                    f'add `path "{path}" {{ capabilities = ["read"] }}` to Vault policy '
                    f"{first!r}, or fix vault.secret of role {role.name} in {role.source}",
                )
            )
    return out


def _policy_findings(vault: DoctorVault, policy: Policy, out: list[Finding]) -> set[str]:
    vs = policy.settings.vault
    users: dict[str, list[str]] = {}
    secrets: dict[str, list[str]] = {}
    for role in policy.roles.values():
        for name in role.vault_policies:
            users.setdefault(name, []).append(role.name)
            if role.vault_secret:
                secrets.setdefault(name, []).append(role.vault_secret.strip("/"))
    missing: set[str] = set()
    expected_issuer = issuer_policy_hcl(vs.token_role)
    for name in [*sorted(users), vs.issuer_policy]:
        check = f"vault.policy.{name}"
        try:
            found = vault.read(f"sys/policies/acl/{name}", action=f"read Vault policy {name}")
        except VaultError as exc:
            missing.add(name)
            out.append(
                Finding(
                    check,
                    False,
                    f"cannot check: {exc}",
                    "run doctor with a token that may read sys/policies/acl/*",
                )
            )
            continue
        is_issuer = name == vs.issuer_policy and name not in users
        who = "the issuer" if is_issuer else "role " + ", ".join(users[name])
        if found is None:
            missing.add(name)
            fix = SETUP_FIX if is_issuer else _policy_fix(name, secrets.get(name, []))
            out.append(Finding(check, False, f"Vault has no policy {name!r} (used by {who})", fix))
        elif is_issuer and str(found.get("policy", "")).strip() != expected_issuer.strip():
            out.append(
                Finding(
                    check,
                    False,
                    f"the issuer policy {name!r} differs from what `jitops vault setup` writes "
                    "(it may grant the issuer more than it needs)",
                    "run `jitops vault setup --dry-run` to see the difference, then "
                    "`jitops vault setup`",
                )
            )
        else:
            out.append(Finding(check, True, f"Vault policy {name!r} exists (used by {who})"))
    return missing


def _policy_fix(name: str, paths: list[str]) -> str:
    if not paths:
        return (
            f"write it: `vault policy write {name} {name}.hcl` with the paths the role's "
            "grant token may use"
        )
    rules = " ".join(f'path "{p}" {{ capabilities = ["read"] }}' for p in sorted(set(paths)))
    return f"write it: `vault policy write {name} {name}.hcl` with at least: {rules}"


def _token_role_findings(vault: DoctorVault, policy: Policy, out: list[Finding]) -> bool:
    name = policy.settings.vault.token_role
    check = "vault.token-role"
    try:
        role = vault.read(f"auth/token/roles/{name}", action=f"read token role {name}")
    except VaultError as exc:
        out.append(Finding(check, False, f"cannot check: {exc}", SETUP_FIX))
        return False
    if role is None:
        out.append(Finding(check, False, f"Vault has no token role {name!r}", SETUP_FIX))
        return False
    problems = []
    if not role.get("orphan"):
        problems.append(
            "does not create orphan tokens (a grant would die with the issuer's short login token)"
        )
    if role.get("renewable", True):
        problems.append("allows renewable tokens (a grant could be extended past its duration)")
    longest = policy.longest_max_duration
    cap = _seconds(role.get("token_explicit_max_ttl", role.get("explicit_max_ttl", 0)))
    if not cap:
        problems.append("sets no explicit max TTL")
    elif cap < longest.total_seconds():
        problems.append(
            f"caps tokens at {format_duration(timedelta(seconds=cap))}, shorter than the "
            f"longest max_duration {format_duration(longest)}"
        )
    allowed = {str(p) for p in role.get("allowed_policies") or ()}
    if not role.get("token_no_default_policy"):
        problems.append(
            "gives tokens Vault's default policy (a grantee could wrap values of their choosing "
            "and pass them off as someone's delivery)"
        )
    if self_policy(name) not in allowed:
        problems.append(f"does not allow {self_policy(name)!r} (every grant token carries it)")
    uncovered = {
        r.name: [p for p in r.vault_policies if p not in allowed]
        for r in policy.roles.values()
        if any(p not in allowed for p in r.vault_policies)
    }
    for role_name, pols in sorted(uncovered.items()):
        out.append(
            Finding(
                f"vault.token-role.{role_name}",
                False,
                f"token role {name!r} does not allow {', '.join(pols)} (role {role_name}): "
                "its grants cannot be issued",
                SETUP_FIX,
            )
        )
    if problems:
        out.append(Finding(check, False, f"token role {name!r} " + "; ".join(problems), SETUP_FIX))
        return False
    out.append(
        Finding(
            check,
            True,
            f"token role {name!r}: orphan, not renewable, max "
            f"{format_duration(timedelta(seconds=cap))}",
        )
    )
    return not uncovered


def _token_mount_finding(vault: DoctorVault, policy: Policy, out: list[Finding]) -> None:
    """Vault caps every token at the token auth mount's max_lease_ttl: a longer grant would
    end early (jitops records the capped expiry, but the requester asked for more)."""
    check = "vault.token-mount-ttl"
    longest = policy.longest_max_duration
    try:
        tune = vault.read("sys/auth/token/tune", action="read the token auth mount's TTLs")
    except VaultError as exc:
        out.append(_warn(check, f"cannot check the token mount's max TTL: {exc}", SETUP_FIX))
        return
    cap = _seconds((tune or {}).get("max_lease_ttl"))
    if cap and cap < longest.total_seconds():
        out.append(
            _warn(
                check,
                f"the token auth mount caps tokens at {_fmt(cap)}, shorter than the longest "
                f"max_duration {format_duration(longest)}: longer grants end at {_fmt(cap)} "
                "(recorded as capped)",
                f"`vault auth tune -max-lease-ttl={int(longest.total_seconds())}s token/`, or "
                f"lower max_duration to {_fmt(cap)} or less",
            )
        )
        return
    out.append(Finding(check, True, f"token auth mount max TTL {_fmt(cap) if cap else 'unset'}"))


def _lease_findings(vault: DoctorVault, policy: Policy, out: list[Finding]) -> None:
    """A database credential lives for its role's default_ttl (at most max_ttl), however long
    the grant token lives: shorter than max_duration means a password that stops early."""
    for role in policy.roles.values():
        secret = (role.vault_secret or "").strip("/")
        mount, sep, name = secret.rpartition("/creds/")
        if not sep or not mount or not name or "/" in name:
            continue
        check = f"vault.lease.{role.name}"
        try:
            db_role = vault.read(f"{mount}/roles/{name}", action=f"read {mount}/roles/{name}")
        except VaultError as exc:
            out.append(_warn(check, f"cannot check the lease of {secret}: {exc}", SETUP_FIX))
            continue
        if db_role is None:
            continue
        want = role.max_duration.total_seconds()
        ttls = {k: _seconds(db_role.get(k)) for k in ("default_ttl", "max_ttl")}
        short = {k: v for k, v in ttls.items() if v and v < want}
        if short:
            said = ", ".join(f"{k} {_fmt(v)}" for k, v in short.items())
            out.append(
                _warn(
                    check,
                    f"{mount}/roles/{name} gives credentials a lease of {said}, shorter than "
                    f"role {role.name}'s max_duration {format_duration(role.max_duration)}: a "
                    "long grant's password stops working before the grant ends",
                    f"`vault write {mount}/roles/{name} default_ttl={int(want)}s "
                    f"max_ttl={int(want)}s ...` (keep its other fields), or lower max_duration",
                )
            )
        else:
            out.append(Finding(check, True, f"{secret} leases outlast max_duration of {role.name}"))


def _mount_type(mounts: Mapping[str, Any], path: str) -> tuple[str, str] | None:
    """(mount path, engine type) of the longest mount ``path`` lies under, from sys/mounts."""
    best: tuple[str, str] | None = None
    for mount, entry in mounts.items():
        if not isinstance(entry, Mapping) or "type" not in entry:
            continue
        if path.startswith(str(mount)) and (best is None or len(str(mount)) > len(best[0])):
            best = (str(mount), str(entry["type"]))
    return best


def secret_engine_findings(vault: DoctorVault, policy: Policy) -> list[Finding]:
    """Each role's secret must be leased (a dynamic credential that dies with the grant):
    Vault says which engine is mounted at its path (validate, offline, can only judge the
    path's shape). A role marked ``static: true`` is a warning saying it must be rotated."""
    roles = [r for r in policy.roles.values() if r.vault_secret]
    if not roles:
        return []
    try:
        mounts = vault.read("sys/mounts", action="list the secret engines") or {}
    except VaultError as exc:
        return [
            _warn(
                "vault.secret-engines",
                f"cannot tell which secret engines hold the roles' secrets: {exc}",
                "run doctor with a token that may read sys/mounts",
            )
        ]
    out = []
    for role in roles:
        path = (role.vault_secret or "").strip("/")
        check = f"vault.lease.{role.name}.engine"
        if role.vault_static:
            out.append(
                _warn(
                    check,
                    f"role {role.name} is marked static: {static_note(path)}",
                    "prefer a dynamic secret (e.g. database/creds/NAME) or a token-only role; "
                    "until then rotate it after every grant",
                )
            )
            continue
        found = _mount_type(mounts, path)
        if found is None:
            out.append(
                Finding(
                    check,
                    False,
                    f"no secret engine is mounted at {path} (role {role.name})",
                    f"mount the engine, or fix vault.secret of role {role.name} in {role.source}",
                )
            )
        elif not engine_leases(found[1], path):
            out.append(
                Finding(
                    check,
                    False,
                    f"{found[0]} is a {found[1]!r} engine: " + unleased_message(role.name, path),
                    f"point vault.secret of role {role.name} ({role.source}) at a leased "
                    "engine, drop it (a token-only role), or add `static: true`",
                )
            )
        else:
            out.append(
                Finding(
                    check,
                    True,
                    f"{path} is a dynamic credential of the {found[1]!r} engine at "
                    f"{found[0]}: revoking the grant ends it",
                )
            )
    return out


def jwt_config_findings(vault: DoctorVault, policy: Policy) -> list[Finding]:
    """The JWT mount's config trusts GitHub's issuer (by discovery or by keys), and the mount
    is jitops' own (a config is shared by every role of its mount)."""
    mount = policy.settings.vault.jwt_mount
    check = "vault.jwt-config"
    try:
        config = vault.read(f"auth/{mount}/config", action=f"read the JWT config at {mount}/")
        mounts = vault.read("sys/auth", action="list the auth methods") or {}
    except VaultError as exc:
        return [Finding(check, False, f"cannot check: {exc}", SETUP_FIX)]
    entry = mounts.get(f"{mount}/")
    if not isinstance(entry, Mapping):
        return [Finding(check, False, f"Vault has no auth method at {mount}/", SETUP_FIX)]
    if not configured(config):
        return [
            Finding(check, False, f"the JWT auth method at {mount}/ is not configured", SETUP_FIX)
        ]
    assert config is not None
    out = []
    issuer = str(config.get("bound_issuer") or "")
    sources = [k for k in JWT_SOURCES if config.get(k)]
    problems = []
    if not issuer:
        problems.append("sets no bound_issuer (any issuer the keys sign for is accepted)")
    if sources == ["oidc_discovery_url"] and config["oidc_discovery_url"] != issuer:
        problems.append(
            f"discovers keys at {config['oidc_discovery_url']} but expects issuer {issuer!r}"
        )
    if config.get("default_role"):
        problems.append(f"has a default_role ({config['default_role']})")
    if problems:
        out.append(
            Finding(
                check,
                False,
                f"the JWT config at {mount}/ " + "; ".join(problems),
                SETUP_FIX + " (on a mount of jitops' own)",
            )
        )
    else:
        trusts = (
            f"{len(config.get('jwt_validation_pubkeys') or [])} pinned key(s)"
            if "jwt_validation_pubkeys" in sources
            else ", ".join(str(config[k]) for k in sources)
        )
        note = "" if issuer == GITHUB_ISSUER else " (not github.com's issuer: GHES or ghe.com)"
        out.append(Finding(check, True, f"{mount}/ trusts issuer {issuer}{note} via {trusts}"))
    if not is_jitops_mount(entry):
        out.append(
            _warn(
                "vault.jwt-mount",
                f"{mount}/ was not created by `jitops vault setup`: its config is shared with "
                "every other role on it, and whoever owns it can change what jitops trusts",
                "give jitops a mount of its own: settings.vault.jwt_mount: jitops-jwt, then "
                "`jitops vault setup`",
            )
        )
    return out


def vault_addr_pin_finding(policy: Policy, addr: str) -> Finding:
    """``settings.vault.addr`` pins where ``claim`` unwraps: without it, an edited delivery
    comment could send a requester's wrapping token to another server."""
    pinned = policy.settings.vault.addr
    check = "vault.addr-pin"
    if not pinned:
        return _warn(
            check,
            "settings.vault.addr is not set: claim unwraps at whatever Vault address the "
            "delivery names",
            f"set settings.vault.addr: {addr} in the policy",
        )
    if pinned.rstrip("/") != addr.rstrip("/"):
        return _warn(
            check,
            f"settings.vault.addr is {pinned}, but doctor reached Vault at {addr}: claims "
            "refuse deliveries naming another address than the pin",
            "make settings.vault.addr the address the workflows' VAULT_ADDR secret holds",
        )
    return Finding(check, True, f"claim unwraps only at {pinned} (settings.vault.addr)")


def _warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, False, message, fix, warning=True)


def _fmt(secs: int) -> str:
    return format_duration(timedelta(seconds=secs))


def _jwt_role_finding(vault: DoctorVault, policy: Policy, out: list[Finding]) -> None:
    vs = policy.settings.vault
    path = f"auth/{vs.jwt_mount}/role/{vs.jwt_role}"
    try:
        role = vault.read(path, action=f"read JWT role {vs.jwt_role}")
    except VaultError as exc:
        out.append(Finding("vault.jwt-role", False, f"cannot check: {exc}", SETUP_FIX))
        return
    if role is None:
        out.append(
            Finding(
                "vault.jwt-role",
                False,
                f"Vault has no JWT role at {path}; CI cannot log in",
                SETUP_FIX,
            )
        )
        return
    claims = role.get("bound_claims") or {}
    if not claims.get("repository") or not claims.get("ref"):
        out.append(
            Finding(
                "vault.jwt-role",
                False,
                f"JWT role {path} is not bound to a repository and ref: any workflow could log in",
                SETUP_FIX,
            )
        )
        return
    unbound = [
        c
        for c in ("repository_id", "repository_owner_id", "environment", "runner_environment")
        if not claims.get(c)
    ]
    if unbound:
        out.append(
            Finding(
                "vault.jwt-role",
                False,
                f"JWT role {path} is not bound to {', '.join(unbound)}: a re-created repository "
                "of the same name, or a job outside the jitops environment, could log in",
                SETUP_FIX + " (with --repository-id and --repository-owner-id)",
            )
        )
        return
    out.append(
        Finding(
            "vault.jwt-role",
            True,
            f"JWT role {path} is bound to {claims.get('repository')} {claims.get('ref')}",
        )
    )


def _seconds(value: Any) -> int:
    return int(as_seconds(value) or 0)


def render_text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        mark = "ok  " if f.ok else "WARN" if f.warning else "FAIL"
        lines.append(f"{mark}  {f.check}: {f.message}")
        if not f.ok and f.fix:
            lines.append(f"      fix: {f.fix}")
    bad = sum(1 for f in findings if not f.ok and not f.warning)
    warned = sum(1 for f in findings if f.warning)
    tail = f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""
    lines.append(
        f"{len(findings)} checks, {bad} failed{tail}"
        if bad
        else f"{len(findings)} checks, all ok{tail}"
    )
    return "\n".join(lines)


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps(
        {"ok": not failed(findings), "findings": [asdict(f) for f in findings]}, indent=2
    )
