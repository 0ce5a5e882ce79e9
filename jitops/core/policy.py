"""Policies: which roles exist, who may request them, whose approval they need.

Every ``policies/*.yaml`` file is loaded and merged; a role defined in two files is an error
naming both. Loading takes the file contents as plain data (``{path: bytes}``) so the same code
reads the working tree or any git commit (the pull-request mode reads the *base* branch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from typing import Any

from jitops.core import leases, schema, yamlsafe
from jitops.core.duration import DurationError, parse_duration
from jitops.core.principals import Principal
from jitops.core.webhooks import WebhookTarget, targets_from_settings
from jitops.errors import Problem, ProblemsError

POLICY_DIR = "policies"
DEFAULT_WRAP_TTL = timedelta(hours=1)
DEFAULT_MAX_LEAD_TIME = timedelta(days=7)  # how far ahead a grant's not_before may lie
#: ``weekdays:`` names in the order of :meth:`datetime.weekday` (Monday is 0).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
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


def _rules(raw: Any) -> tuple[ApprovalRule, ...]:
    return tuple(
        ApprovalRule(tuple(Principal.parse(p) for p in r["from"]), int(r["count"])) for r in raw
    )


# -- time and risk (docs/time-and-risk.md): the typed shapes; deciding is in jitops.core.risk,
# jitops.core.schedule, jitops.core.extend and jitops.core.breakglass ---------------------------
@dataclass(frozen=True)
class Hours:
    """``outside_hours: {start: '08:00', end: '19:00', tz: Europe/Berlin}``: the working day
    (``start`` inclusive, ``end`` exclusive; ``start`` after ``end`` spans midnight)."""

    start: time
    end: time
    tz: str


@dataclass(frozen=True)
class When:
    """A risk entry's condition: every key given must hold (an entry with two keys matches a
    request that is both long and at night)."""

    duration_over: timedelta | None = None
    outside_hours: Hours | None = None
    weekdays: frozenset[int] | None = None  # 0 = Monday
    tz: str = "UTC"  # the zone ``weekdays`` are read in (default: outside_hours' zone, or UTC)


@dataclass(frozen=True)
class RiskEntry:
    """One ``risk:`` entry: when it matches, its rules are added to the role's own."""

    when: When
    approvals: tuple[ApprovalRule, ...] = ()
    require_ticket: bool = False
    index: int = 0  # its place in the role's list (shown as ``risk[0]``)
    line: int = 0


@dataclass(frozen=True)
class ExtendRule:
    """``extend:``: who approves an extension, and how long a chain may last in all."""

    approvals: tuple[ApprovalRule, ...]
    max_total: timedelta


@dataclass(frozen=True)
class BreakGlass:
    """``break_glass:``: who may issue without prior review, how long, who ratifies by when."""

    requesters: tuple[Principal, ...]
    max_duration: timedelta
    ratify: tuple[ApprovalRule, ...]
    ratify_within: timedelta


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
    risk: tuple[RiskEntry, ...] = ()
    extend: ExtendRule | None = None
    break_glass: BreakGlass | None = None

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any], source: str, line: int) -> Role:
        """Build from schema-valid data (the schema has already checked shapes); the time and
        risk keys are read by :func:`_time_and_risk`, which locates their problems."""
        vault = data["vault"]
        return cls(
            name=name,
            max_duration=parse_duration(data["max_duration"]),
            requesters=tuple(Principal.parse(p) for p in data["requesters"]),
            approvals=_rules(data["approvals"]),
            vault_policies=tuple(vault["policies"]),
            vault_secret=vault.get("secret"),
            vault_static=bool(vault.get("static", False)),
            require_ticket=bool(data.get("require_ticket", False)),
            description=str(data.get("description", "")),
            source=source,
            line=line,
        )

    @property
    def static_secret(self) -> str | None:
        """The secret this role reads that outlives its grant (no lease: revoking the grant
        does not end it, it has to be rotated), or None: marked ``static: true``, or not
        marked in a policy written before the mark was required (:func:`load_policy`'s
        ``require_static_mark``) but of a shape that has no lease (:mod:`jitops.core.leases`)."""
        secret = self.vault_secret
        if secret and (self.vault_static or not leases.leased_shape(secret)):
            return secret
        return None

    def with_rules(self, approvals: tuple[ApprovalRule, ...], **changes: Any) -> Role:
        """This role judged with other approval rules (a risk tier, an extension, break-glass)."""
        return replace(self, approvals=approvals, **changes)


_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _clock(text: str) -> time | None:
    m = _CLOCK.fullmatch(text)
    return time(int(m.group(1)), int(m.group(2))) if m else None


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows (the system tz database, or
    the ``tzdata`` package where there is none)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _time_and_risk(
    name: str, raw: Mapping[str, Any], doc: yamlsafe.Document
) -> tuple[dict[str, Any], list[Problem]]:
    """The ``risk``, ``extend`` and ``break_glass`` of role ``name``, with a located problem
    (``path:line: what is wrong; what to do``) for every bad value."""
    problems: list[Problem] = []
    out: dict[str, Any] = {}

    def bad(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(doc.source, doc.line(("roles", name, *path)), message))

    def duration(path: tuple[str | int, ...], text: Any) -> timedelta:
        try:
            return parse_duration(text)
        except DurationError as exc:
            bad(path, f"{path[-1]}: {exc}")
            return timedelta(seconds=1)

    entries = []
    for i, entry in enumerate(raw.get("risk") or ()):
        w = entry["when"]
        hours = None
        if "outside_hours" in w:
            oh = w["outside_hours"]
            start, end = _clock(oh["start"]), _clock(oh["end"])
            for key, value in (("start", start), ("end", end)):
                if value is None:
                    bad(
                        ("risk", i, "when", "outside_hours", key),
                        f"outside_hours {key} {oh[key]!r} is not a clock time; write it as "
                        "'HH:MM' on a 24-hour clock, e.g. '08:00' or '19:30'",
                    )
            if not known_zone(oh["tz"]):
                bad(
                    ("risk", i, "when", "outside_hours", "tz"),
                    f"time zone {oh['tz']!r} is not a known IANA time zone; write one like "
                    "'Europe/Berlin' or 'UTC' (see the tz database's zone names)",
                )
            if start is not None and start == end:
                bad(
                    ("risk", i, "when", "outside_hours"),
                    "outside_hours start and end are the same time, so no time is inside "
                    "them; give the working day, e.g. start '08:00', end '19:00'",
                )
            if start is not None and end is not None:
                hours = Hours(start, end, oh["tz"])
        tz = w.get("tz") or (w["outside_hours"]["tz"] if "outside_hours" in w else "UTC")
        if "tz" in w and not known_zone(w["tz"]):
            bad(
                ("risk", i, "when", "tz"),
                f"time zone {w['tz']!r} is not a known IANA time zone; write one like "
                "'Europe/Berlin' or 'UTC'",
            )
        over = None
        if "duration_over" in w:
            over = duration(("risk", i, "when", "duration_over"), w["duration_over"])
        days = frozenset(WEEKDAYS.index(d) for d in w["weekdays"]) if "weekdays" in w else None
        entries.append(
            RiskEntry(
                When(over, hours, days, tz),
                _rules(entry.get("approvals") or ()),
                bool(entry.get("require_ticket", False)),
                i,
                doc.line(("roles", name, "risk", i)),
            )
        )
    out["risk"] = tuple(entries)
    if "extend" in raw:
        ext = raw["extend"]
        out["extend"] = ExtendRule(
            _rules(ext["approvals"]) if "approvals" in ext else _rules(raw["approvals"]),
            duration(("extend", "max_total"), ext["max_total"]),
        )
    if "break_glass" in raw:
        bg = raw["break_glass"]
        if "ratify_within" not in bg:
            bad(
                ("break_glass",),
                "break_glass has no ratify_within; say how long after issue the ratify "
                "approvals may come, e.g. ratify_within: 24h",
            )
        within = duration(("break_glass", "ratify_within"), bg.get("ratify_within", "1s"))
        if "*" in bg["requesters"]:
            bad(
                ("break_glass", "requesters"),
                "break_glass requesters '*' would let anyone skip review; name the on-call "
                "team, e.g. ['@acme/oncall']",
            )
        out["break_glass"] = BreakGlass(
            tuple(Principal.parse(p) for p in bg["requesters"]),
            duration(("break_glass", "max_duration"), bg["max_duration"]),
            _rules(bg["ratify"]),
            within,
        )
    return out, problems


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
    max_lead_time: timedelta = DEFAULT_MAX_LEAD_TIME  # how far ahead not_before may lie


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


def load_policy(files: Mapping[str, bytes], *, require_static_mark: bool = True) -> Policy:
    """Load and merge policy files given as ``{repo-relative path: content}``.

    Raises :class:`PolicyError` listing every problem found in every file.
    ``require_static_mark=False`` reads a policy as it was in the history (the audit): a role
    whose secret has no lease and no ``static: true`` was valid before the mark was required;
    :attr:`Role.static_secret` still names its secret.
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
                role = Role.from_mapping(name, raw, path, line)
            except DurationError as exc:
                problems.append(Problem(path, doc.line(("roles", name, "max_duration")), str(exc)))
                continue
            unleased = _unleased(role) if require_static_mark else None
            if unleased:
                problems.append(Problem(path, doc.line(("roles", name, "vault")), unleased))
            extras, found_extras = _time_and_risk(name, raw, doc)
            problems += found_extras
            roles[name] = replace(role, **extras)
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
    max_lead_time = DEFAULT_MAX_LEAD_TIME
    if "max_lead_time" in raw:
        try:
            max_lead_time = parse_duration(raw["max_lead_time"])
        except DurationError as exc:
            raise ProblemsError(
                [Problem(doc.source, doc.line(("settings", "max_lead_time")), str(exc))]
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
        max_lead_time=max_lead_time,
    )
