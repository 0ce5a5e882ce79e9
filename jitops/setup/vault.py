"""`jitops vault setup`: what Vault must hold for jitops, planned from the policy.

:func:`plan_setup` is pure: from the policy and the repository name it returns the list of
:class:`Write` s (the issuer's ACL policy in HCL, the token role, the JWT auth mount, its config
and the JWT role bound to the repository, ``refs/heads/main`` and the jitops workflows).
:func:`apply_setup` reads what Vault holds now through the boundary, compares
(:func:`differs`), and writes only what differs, so re-running changes nothing.

A Vault is often shared with other teams. Every object setup writes carries ``jitops`` in its
name (the ``jitops-jwt/`` mount by default, the ``jitops-issuer`` and ``jitops-grant-self``
policies, the ``jitops-grant`` token role, the ``jitops-issuer`` JWT role), and the mount it
creates says so in its description. A JWT auth config is global to every role of its mount
(https://developer.hashicorp.com/vault/api-docs/auth/jwt#configure): on a mount setup did not
create, setup never replaces a config someone else wrote; it refuses and says what it found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from jitops.core.policy import Policy
from jitops.doors.vault.model import (
    VaultConfigError,
    VaultError,
    VaultSetupError,
    as_seconds,
    seconds,
    self_policy,
)
from jitops.errors import UsageError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEFAULT_WORKFLOWS = ("jitops-issue.yml", "jitops-sweep.yml")
ISSUER_TOKEN_TTL = 600  # the issue/sweep job's own Vault login: ten minutes
ISSUER_TOKEN_MAX_TTL = 1200
REPO_RE = re.compile(r"\A[A-Za-z0-9-]+/[A-Za-z0-9._-]+\Z")
ID_RE = re.compile(r"\A[0-9]{1,20}\Z")
DEFAULT_ENVIRONMENT = "jitops"  # the GitHub Environment the shipped workflows run in
DEFAULT_RUNNER_ENVIRONMENT = "github-hosted"
JWT_SOURCES = ("oidc_discovery_url", "jwks_url", "jwt_validation_pubkeys")
#: the description of the JWT mount setup creates: how setup (and an admin) tells it is jitops'
MOUNT_DESCRIPTION = "jitops: GitHub Actions OIDC login of the jitops issue and sweep workflows"
#: descriptions earlier versions gave their mount (still jitops')
OLD_MOUNT_DESCRIPTIONS = ("GitHub Actions OIDC (jitops)",)
#: the JWT role's user_claim: the entity alias Vault creates per login is named by it
#: (https://developer.hashicorp.com/vault/api-docs/auth/jwt#user_claim). GitHub's numeric
#: repository id is the same for every run, so every login of the issuer is one entity; the
#: person whose merge started the run is kept as alias metadata (claim_mappings), which
#: Vault's audit log shows with the login.
USER_CLAIM = "repository_id"
CLAIM_MAPPINGS = {"actor": "github_actor", "run_id": "github_run_id"}


class Change(StrEnum):
    """What setup did (or, in a dry run, would do) with one write: the words users see."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    KEPT = "kept"  # exists and is only written when missing
    WOULD_CREATE = "would create"
    WOULD_UPDATE = "would update"

    @property
    def made(self) -> bool:
        return self in (Change.CREATED, Change.UPDATED)

    @property
    def pending(self) -> bool:
        return self in (Change.WOULD_CREATE, Change.WOULD_UPDATE)


class VaultBackend(Protocol):
    """The part of :class:`~jitops.doors.vault.client.Vault` setup needs (tests may pass it)."""

    def read(self, path: str, *, action: str | None = None) -> Mapping[str, Any] | None: ...

    def write(
        self, path: str, body: Mapping[str, Any], *, action: str | None = None
    ) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Write:
    """One write to Vault. ``only_if_missing``: never overwrite what an operator configured."""

    path: str
    body: Mapping[str, Any]
    what: str
    kind: Literal["policy", "mount", "jwt-config", "json"] = "json"
    only_if_missing: bool = False

    def render(self) -> str:
        """Exactly what is sent: the HCL for a policy, the JSON body otherwise."""
        if self.kind == "policy":
            return f"# POST /v1/{self.path}\n{self.body['policy']}"
        return f"# POST /v1/{self.path}\n{json.dumps(dict(self.body), indent=2, sort_keys=True)}"


@dataclass(frozen=True)
class SetupOptions:
    """What the JWT role is bound to. ``repository_id`` and ``repository_owner_id`` are
    GitHub's numeric ids (names can be renamed and re-registered by someone else; ids cannot);
    ``environment`` is the GitHub Environment of the issue and sweep jobs and
    ``runner_environment`` ``github-hosted`` or ``self-hosted`` (GitHub's OIDC claims, see
    https://docs.github.com/en/actions/reference/security/oidc). The JWTs are checked against
    ``jwt_validation_pubkeys`` (PEM) when given, else the issuer's ``oidc_discovery_url``
    (GitHub Enterprise Server and ghe.com have their own issuer)."""

    repo_name: str
    repository_id: str = ""
    repository_owner_id: str = ""
    audience: str | None = None
    workflows: tuple[str, ...] = DEFAULT_WORKFLOWS
    branch: str = "main"
    environment: str = DEFAULT_ENVIRONMENT
    runner_environment: str = DEFAULT_RUNNER_ENVIRONMENT
    oidc_discovery_url: str = GITHUB_ISSUER
    bound_issuer: str = GITHUB_ISSUER
    jwt_validation_pubkeys: tuple[str, ...] = field(default=())


def issuer_policy_hcl(token_role: str) -> str:
    """The issuer's least-privilege ACL policy: issue, look up and revoke; read and list
    nothing (no sudo: git records every accessor before delivery, so nothing is listed)."""
    return f"""\
# jitops issuer: the identity of the issue and sweep workflows (written by `jitops vault
# setup`; re-run it rather than editing by hand). It can create grant tokens only through the
# token role, and look up and revoke tokens by the accessors git records. It has no capability
# on any secret path (every credential is read by the grant token itself, under response
# wrapping), no sudo, and cannot list tokens: two access repositories sharing one Vault never
# see each other's tokens.

# Issue: create grant tokens through the token role (orphans, role policies only, capped TTL).
path "auth/token/create/{token_role}" {{
  capabilities = ["create", "update"]
}}

# Sweep and revoke: look up and revoke grant tokens by accessor (never by the token itself).
path "auth/token/lookup-accessor" {{
  capabilities = ["update"]
}}
path "auth/token/revoke-accessor" {{
  capabilities = ["update"]
}}
"""


def grant_self_policy_hcl() -> str:
    """What every grant token may do besides its role's paths: look itself up (``jitops
    claim`` checks a claimed token's ``jitops_grant`` metadata) and give itself back. Grant
    tokens carry no ``default`` policy: its ``sys/wrapping/wrap`` would let any past grantee
    wrap chosen values and pass them off as someone else's delivery."""
    return """\
# jitops grant tokens (written by `jitops vault setup`; re-run it rather than editing by hand).
# Every grant token carries this policy and its role's, and NOT Vault's `default` policy
# (no sys/wrapping/wrap: a grantee must not be able to wrap values of their choosing).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
path "sys/capabilities-self" {
  capabilities = ["update"]
}
"""


def plan_setup(policy: Policy, options: SetupOptions) -> list[Write]:
    """Every write that makes Vault ready for ``policy`` (pure)."""
    if not REPO_RE.match(options.repo_name):
        raise UsageError(
            f"repository name {options.repo_name!r} is not OWNER/REPO; pass --repo-name "
            "or set GITHUB_REPOSITORY"
        )
    for what, value, flag in (
        ("repository id", options.repository_id, "--repository-id"),
        ("repository owner id", options.repository_owner_id, "--repository-owner-id"),
    ):
        if not ID_RE.match(value):
            raise UsageError(
                f"the {what} {value!r} is not GitHub's numeric id; pass {flag} (inside Actions "
                "GITHUB_REPOSITORY_ID / GITHUB_REPOSITORY_OWNER_ID hold them; elsewhere run "
                f"`gh api repos/{options.repo_name} --jq '.id, .owner.id'`)"
            )
    vs = policy.settings.vault
    owner = options.repo_name.split("/")[0]
    audience = options.audience or f"https://github.com/{owner}"
    jwt_config: dict[str, Any] = {"bound_issuer": options.bound_issuer}
    if options.jwt_validation_pubkeys:
        jwt_config["jwt_validation_pubkeys"] = [k.strip() for k in options.jwt_validation_pubkeys]
    else:
        jwt_config["oidc_discovery_url"] = options.oidc_discovery_url
    refs = [
        f"{options.repo_name}/.github/workflows/{w}@refs/heads/{options.branch}"
        for w in options.workflows
    ]
    return [
        Write(
            f"sys/policies/acl/{vs.issuer_policy}",
            {"policy": issuer_policy_hcl(vs.token_role)},
            f"issuer ACL policy {vs.issuer_policy!r}",
            kind="policy",
        ),
        Write(
            f"sys/policies/acl/{self_policy(vs.token_role)}",
            {"policy": grant_self_policy_hcl()},
            f"grant token ACL policy {self_policy(vs.token_role)!r} (lookup, revoke, "
            "capabilities of itself)",
            kind="policy",
        ),
        Write(
            f"auth/token/roles/{vs.token_role}",
            {
                "allowed_policies": [*policy.all_vault_policies(), self_policy(vs.token_role)],
                "token_no_default_policy": True,
                "orphan": True,
                "renewable": False,
                "token_explicit_max_ttl": seconds(policy.longest_max_duration),
                "token_type": "service",
            },
            f"token role {vs.token_role!r}",
        ),
        Write(
            f"sys/auth/{vs.jwt_mount}",
            {"type": "jwt", "description": MOUNT_DESCRIPTION},
            f"JWT auth method at {vs.jwt_mount}/",
            kind="mount",
        ),
        Write(
            f"auth/{vs.jwt_mount}/config",
            jwt_config,
            f"JWT auth config at {vs.jwt_mount}/ (trusts {_trusts(options)})",
            kind="jwt-config",
        ),
        Write(
            f"auth/{vs.jwt_mount}/role/{vs.jwt_role}",
            {
                "role_type": "jwt",
                "user_claim": USER_CLAIM,
                "claim_mappings": dict(CLAIM_MAPPINGS),
                "bound_audiences": [audience],
                "bound_claims_type": "glob",
                "bound_claims": {
                    "repository": options.repo_name,
                    "repository_id": options.repository_id,
                    "repository_owner_id": options.repository_owner_id,
                    "ref": f"refs/heads/{options.branch}",
                    "workflow_ref": refs,
                    "environment": options.environment,
                    "runner_environment": options.runner_environment,
                },
                "token_policies": [vs.issuer_policy],
                "token_ttl": ISSUER_TOKEN_TTL,
                "token_max_ttl": ISSUER_TOKEN_MAX_TTL,
                "token_type": "service",
            },
            f"JWT role {vs.jwt_role!r} bound to {options.repo_name} "
            f"(id {options.repository_id}) @{options.branch}, environment "
            f"{options.environment!r}",
        ),
    ]


def _trusts(options: SetupOptions) -> str:
    if options.jwt_validation_pubkeys:
        n = len(options.jwt_validation_pubkeys)
        return f"{n} PEM public key{'s' if n > 1 else ''}, issuer {options.bound_issuer}"
    return f"{options.oidc_discovery_url}"


# --- comparing with what Vault holds ---------------------------------------------------------


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(want == have)
    if isinstance(want, int):
        return as_seconds(have) == float(want)
    if isinstance(want, Mapping):
        return (
            isinstance(have, Mapping)
            and set(want) == set(have)
            and all(_same(v, have[k]) for k, v in want.items())
        )
    if isinstance(want, list | tuple):
        items = have if isinstance(have, list | tuple) else [have] if have else []
        return sorted(map(str, want)) == sorted(map(str, items))
    if isinstance(have, list | tuple) and len(have) == 1:
        have = have[0]
    return str(want).strip() == str(have).strip()


def differs(write: Write, current: Mapping[str, Any] | None) -> bool:
    """True when Vault's ``current`` state does not already match ``write``."""
    if current is None:
        return True
    if write.kind == "policy":
        return str(current.get("policy", "")).strip() != str(write.body["policy"]).strip()
    if write.kind == "mount":
        return False
    if write.only_if_missing:
        return False
    if write.kind == "jwt-config":
        # A JWT config trusting another source (a discovery URL elsewhere, other keys) is
        # replaced, not kept: the JWT role would otherwise accept tokens of another issuer.
        return any(
            not _same_keys(write.body.get(k), current.get(k))
            for k in (*JWT_SOURCES, "bound_issuer")
        )
    return any(not _same(v, current.get(k)) for k, v in write.body.items())


def _same_keys(want: Any, have: Any) -> bool:
    def norm(value: Any) -> list[str]:
        if not value:
            return []
        items = value if isinstance(value, list | tuple) else [value]
        return sorted(str(v).strip() for v in items)

    return norm(want) == norm(have)


@dataclass(frozen=True)
class Applied:
    write: Write
    outcome: Change


def _current(vault: VaultBackend, write: Write) -> Mapping[str, Any] | None:
    if write.kind != "mount":
        return vault.read(write.path, action=f"read the {write.what}")
    mount = write.path.removeprefix("sys/auth/").strip("/") + "/"
    mounts = vault.read("sys/auth", action="list the auth methods") or {}
    entry = mounts.get(mount)
    if entry is None:
        return None
    if isinstance(entry, Mapping) and entry.get("type") != write.body["type"]:
        raise VaultSetupError(
            f"auth path {mount} is already used by a {entry.get('type')!r} auth method; "
            "set settings.vault.jwt_mount in the policy to another path"
        )
    return entry if isinstance(entry, Mapping) else {}


def is_jitops_mount(entry: Mapping[str, Any] | None) -> bool:
    """Whether an auth mount (an entry of ``sys/auth``) was created by ``jitops vault setup``."""
    description = str((entry or {}).get("description") or "")
    return description == MOUNT_DESCRIPTION or description in OLD_MOUNT_DESCRIPTIONS


def configured(config: Mapping[str, Any] | None) -> bool:
    """Whether a JWT auth config trusts anything yet (an unconfigured mount answers empty
    fields)."""
    return any((config or {}).get(k) for k in (*JWT_SOURCES, "bound_issuer", "default_role"))


def foreign_config_error(write: Write, current: Mapping[str, Any], mount: str) -> VaultSetupError:
    """The refusal to replace a JWT config on a mount jitops did not create: what was found and
    how to proceed."""
    found = []
    for key in ("bound_issuer", "oidc_discovery_url", "jwks_url"):
        if current.get(key):
            found.append(f"{key} {current[key]}")
    keys = current.get("jwt_validation_pubkeys") or []
    if keys:
        found.append(f"{len(keys)} PEM public key{'s' if len(keys) != 1 else ''}")
    if current.get("default_role"):
        found.append(f"default_role {current['default_role']}")
    return VaultSetupError(
        f"auth/{mount}/config was not written by jitops (the {mount}/ mount was not created by "
        f"`jitops vault setup`) and trusts something else: {', '.join(found) or 'other settings'}"
        ". That config is shared by every role of the mount (other teams' logins), so jitops "
        "leaves it alone and wrote nothing. Give jitops a mount of its own: set "
        "settings.vault.jwt_mount in the policy to a path that does not exist yet (the default "
        "is jitops-jwt; `jitops init --upgrade --jwt-mount PATH` records it) and run setup again; "
        f"or, if that mount is meant to trust {_trusts_body(write)}, have its owner make the "
        "config say so"
    )


def _trusts_body(write: Write) -> str:
    body = write.body
    if body.get("jwt_validation_pubkeys"):
        return f"jitops' PEM key(s) with issuer {body.get('bound_issuer')}"
    return f"{body.get('oidc_discovery_url')} (issuer {body.get('bound_issuer')})"


def apply_setup(
    vault: VaultBackend | None, writes: Sequence[Write], *, dry_run: bool
) -> list[Applied]:
    """Write what differs. Without a Vault (dry run offline) every write is reported.

    Everything is read first: a refusal (a JWT config on a mount jitops did not create) comes
    before any write, so a refused setup has changed nothing."""
    currents: list[Mapping[str, Any] | None] = []
    missing: set[str] = set()  # JWT mounts that do not exist yet: nothing to read under them
    foreign: set[str] = set()  # JWT mounts that exist and were not created by jitops
    for write in writes:
        mount = _mount_of(write)
        if vault is None or (write.kind != "mount" and mount in missing):
            current = None
        else:
            current = _current(vault, write)
        if write.kind == "mount":
            if current is None:
                missing.add(mount)
            elif not is_jitops_mount(current):
                foreign.add(mount)
        if (
            write.kind == "jwt-config"
            and current is not None
            and mount in foreign
            and configured(current)
            and differs(write, current)
        ):
            raise foreign_config_error(write, current, mount)
        currents.append(current)
    done: list[Applied] = []
    for write, current in zip(writes, currents, strict=True):
        if current is not None and not differs(write, current):
            done.append(Applied(write, Change.KEPT if write.only_if_missing else Change.UNCHANGED))
            continue
        new = current is None
        if dry_run or vault is None:
            done.append(Applied(write, Change.WOULD_CREATE if new else Change.WOULD_UPDATE))
            continue
        try:
            vault.write(write.path, write.body, action=f"write the {write.what}")
        except VaultError as exc:
            if "oidc_discovery_url" in write.body and "discovery" in str(exc).lower():
                raise VaultSetupError(
                    f"{exc}; Vault fetches the issuer's discovery document when the config is "
                    "written: let Vault reach it, or pass --jwt-validation-pubkey PEM (the "
                    "issuer's public key) instead"
                ) from exc
            raise
        done.append(Applied(write, Change.CREATED if new else Change.UPDATED))
    return done


def _mount_of(write: Write) -> str:
    """The auth mount a write is about ('' for policies and the token role)."""
    if write.kind == "mount":
        return write.path.removeprefix("sys/auth/").strip("/")
    if write.kind == "jwt-config":
        return write.path.removeprefix("auth/").removesuffix("/config")
    if write.path.startswith("auth/") and "/role/" in write.path:
        return write.path.removeprefix("auth/").rpartition("/role/")[0]
    return ""


@dataclass(frozen=True)
class SetupRun:
    applied: list[Applied]
    offline: bool  # no Vault configured (dry run): the whole plan is reported

    @property
    def made(self) -> int:
        return sum(1 for a in self.applied if a.outcome.made)

    @property
    def pending(self) -> int:
        return sum(1 for a in self.applied if a.outcome.pending)


def run_setup(
    policy: Policy,
    options: SetupOptions,
    *,
    vault_addr: str | None,
    environ: Mapping[str, str],
    dry_run: bool,
    offline: Callable[[], None] = lambda: None,
) -> SetupRun:
    """Plan the writes and apply what differs. A dry run without any Vault configured reports
    the whole plan (``offline`` is called first, to say so)."""
    from jitops.doors.vault.client import Vault

    writes = plan_setup(policy, options)
    vault: Vault | None
    try:
        vault = Vault.connect(vault_addr, policy.settings.vault, environ)
    except VaultConfigError:
        if not dry_run:
            raise
        vault = None
        offline()
    try:
        return SetupRun(apply_setup(vault, writes, dry_run=dry_run), offline=vault is None)
    finally:
        if vault is not None:
            vault.close()
