"""Policies: which roles exist, who may request them, whose approval they need.

Every ``policies/*.yaml`` file is loaded and merged; a role defined in two files is an error
naming both. Loading takes the file contents as plain data (``{path: bytes}``) so the same code
reads the working tree or any git commit (the pull-request mode reads the *base* branch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jitops.core import leases, schema, yamlsafe
from jitops.core.duration import DurationError, parse_duration
from jitops.core.principals import Principal
from jitops.core.webhooks import WebhookTarget, targets_from_settings
from jitops.errors import Problem, ProblemsError

POLICY_DIR = "policies"
DEFAULT_WRAP_TTL = timedelta(hours=1)
ACTIONS_BOT = "github-actions[bot]"  # who the workflow's GITHUB_TOKEN comments as


class PolicyError(ProblemsError):
    """The policy itself is invalid: nothing can be judged against it."""


@dataclass(frozen=True)
class ApprovalRule:
    principals: tuple[Principal, ...]
    count: int

    def describe(self) -> str:
        who = ", ".join(str(p) for p in self.principals)
        return f"{self.count} approval{'s' if self.count > 1 else ''} from {who}"


@dataclass(frozen=True)
class Role:
    name: str
    max_duration: timedelta
    requesters: tuple[Principal, ...]
    approvals: tuple[ApprovalRule, ...]
    vault_policies: tuple[str, ...]
    vault_secret: str | None = None
    # ``vault.static: true``: the secret has no lease (KV, a static role): revoking the grant
    # does not end it, and every output says it must be rotated (jitops.core.leases)
    vault_static: bool = False
    require_ticket: bool = False
    description: str = ""
    source: str = ""
    line: int = 0

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any], source: str, line: int) -> Role:
        """Build from schema-valid data (the schema has already checked shapes)."""
        vault = data["vault"]
        return cls(
            name=name,
            max_duration=parse_duration(data["max_duration"]),
            requesters=tuple(Principal.parse(p) for p in data["requesters"]),
            approvals=tuple(
                ApprovalRule(tuple(Principal.parse(p) for p in r["from"]), int(r["count"]))
                for r in data["approvals"]
            ),
            vault_policies=tuple(vault["policies"]),
            vault_secret=vault.get("secret"),
            vault_static=bool(vault.get("static", False)),
            require_ticket=bool(data.get("require_ticket", False)),
            description=str(data.get("description", "")),
            source=source,
            line=line,
        )


@dataclass(frozen=True)
class VaultSettings:
    token_role: str = "jitops-grant"
    jwt_role: str = "jitops-issuer"
    jwt_mount: str = "jitops-jwt"  # a mount of jitops' own (a JWT config is per mount)
    issuer_policy: str = "jitops-issuer"
    addr: str | None = None  # pinned: claim refuses a delivery naming another Vault
    namespace: str | None = None  # pinned: claim refuses a delivery naming another namespace


@dataclass(frozen=True)
class FreeTextSettings:
    """``settings.free_text``: the kinds of the free-text lint this policy accepts in
    ``reason`` and ``ticket`` (names in :data:`jitops.core.freetext.KINDS`)."""

    allow: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Settings:
    ticket_pattern: str | None = None
    wrap_ttl: timedelta = DEFAULT_WRAP_TTL
    vault: VaultSettings = field(default_factory=VaultSettings)
    notify: tuple[WebhookTarget, ...] = ()
    bot: str | None = None  # the login jitops comments as; None: not set (github-actions[bot])
    # who may end anyone's grant early (`jitops revoke`, an approval of an early-revoke pull
    # request): '@org/team' or '@login', never '*'; empty: only requesters and role approvers
    admins: tuple[Principal, ...] = ()
    free_text: FreeTextSettings = field(default_factory=FreeTextSettings)


@dataclass(frozen=True)
class Policy:
    roles: Mapping[str, Role]
    settings: Settings = field(default_factory=Settings)
    sources: tuple[str, ...] = ()

    @property
    def longest_max_duration(self) -> timedelta:
        return max((r.max_duration for r in self.roles.values()), default=timedelta(0))

    def all_vault_policies(self) -> list[str]:
        return sorted({p for r in self.roles.values() for p in r.vault_policies})


def load_policy(files: Mapping[str, bytes]) -> Policy:
    """Load and merge policy files given as ``{repo-relative path: content}``.

    Raises :class:`PolicyError` listing every problem found in every file.
    """
    problems: list[Problem] = []
    roles: dict[str, Role] = {}
    settings: Settings | None = None
    settings_source = ""
    if not files:
        raise PolicyError(
            [
                Problem(
                    POLICY_DIR,
                    0,
                    "no policy files found; add policies/policy.yaml defining at least one role",
                )
            ]
        )
    for path in sorted(files):
        try:
            doc = yamlsafe.load(files[path], path, max_bytes=yamlsafe.POLICY_MAX_BYTES)
        except yamlsafe.YamlError as exc:
            problems.extend(exc.problems)
            continue
        found = schema.check(doc, "policy")
        if found:
            problems.extend(found)
            continue
        data = doc.data
        for name, raw in (data.get("roles") or {}).items():
            line = doc.line(("roles", name))
            if name in roles:
                first = roles[name]
                problems.append(
                    Problem(
                        path,
                        line,
                        f"role {name!r} is already defined in {first.source}:{first.line}; "
                        "define each role in exactly one file",
                    )
                )
                continue
            try:
                roles[name] = Role.from_mapping(name, raw, path, line)
            except DurationError as exc:
                problems.append(Problem(path, doc.line(("roles", name, "max_duration")), str(exc)))
                continue
            unleased = _unleased(roles[name])
            if unleased:
                problems.append(Problem(path, doc.line(("roles", name, "vault")), unleased))
        if "settings" in data:
            if settings is not None:
                problems.append(
                    Problem(
                        path,
                        doc.line(("settings",)),
                        f"settings are already given in {settings_source}; "
                        "keep settings in one policy file",
                    )
                )
                continue
            try:
                settings = _settings(data["settings"], doc)
                settings_source = path
            except ProblemsError as exc:
                problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    if not roles:
        raise PolicyError(
            [Problem(sorted(files)[0], 0, "the policy defines no roles; add at least one role")]
        )
    return Policy(roles=roles, settings=settings or Settings(), sources=tuple(sorted(files)))


def _unleased(role: Role) -> str | None:
    """A role whose secret may outlive its grant must say so (``vault.static: true``)."""
    secret = role.vault_secret
    if not secret or role.vault_static or leases.leased_shape(secret):
        return None
    return leases.unleased_message(role.name, secret)


def _settings(raw: Mapping[str, Any], doc: yamlsafe.Document) -> Settings:
    pattern = raw.get("ticket_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ProblemsError(
                [
                    Problem(
                        doc.source,
                        doc.line(("settings", "ticket_pattern")),
                        f"ticket_pattern is not a valid regular expression ({exc}); fix it",
                    )
                ]
            ) from None
    wrap_ttl = DEFAULT_WRAP_TTL
    if "wrap_ttl" in raw:
        try:
            wrap_ttl = parse_duration(raw["wrap_ttl"])
        except DurationError as exc:
            raise ProblemsError(
                [Problem(doc.source, doc.line(("settings", "wrap_ttl")), str(exc))]
            ) from None
    targets, notify_problems = [], []
    for i, entry in enumerate(raw.get("notify", ())):
        found, messages = targets_from_settings([entry])
        targets += found
        notify_problems += [
            Problem(doc.source, doc.line(("settings", "notify", i)), m) for m in messages
        ]
    if notify_problems:
        raise ProblemsError(notify_problems)
    vault = VaultSettings(**raw.get("vault", {}))
    return Settings(
        ticket_pattern=pattern,
        wrap_ttl=wrap_ttl,
        vault=vault,
        notify=tuple(targets),
        bot=raw.get("bot"),
        admins=tuple(Principal.parse(p) for p in raw.get("admins", ())),
        free_text=FreeTextSettings(
            allow=frozenset((raw.get("free_text") or {}).get("allow") or ())
        ),
    )
