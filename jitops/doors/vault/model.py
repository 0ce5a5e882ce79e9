"""Values and errors of the Vault boundary, free of hvac.

:mod:`jitops.doors.vault.client` is the one module that talks to Vault (through hvac); what it
returns and raises is defined here so the rest of jitops and the tests can use it without hvac.
:func:`error_for` turns a Vault error answer (status + ``errors``) into a message that says what
happened and what to do; it never sees a token or a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from jitops.core.duration import format_duration
from jitops.errors import JitopsError, Secret

GRANT_META = "jitops_grant"
REQUESTER_META = "jitops_requester"
ROLE_META = "jitops_role"
REPOSITORY_META = "jitops_repository"
#: GitHub's numeric id of the access repository: it stays when the repository is renamed or
#: transferred, its name does not
REPOSITORY_ID_META = "jitops_repository_id"


class VaultError(JitopsError):
    """Vault refused or could not answer; the message says what to do.

    ``status`` is the HTTP status (None: no answer) and ``vault_errors`` Vault's own error
    strings, so callers can tell "already gone" from a real failure.
    """

    status: int | None = None
    vault_errors: tuple[str, ...] = ()


class VaultConfigError(VaultError):
    """jitops does not know how to reach or log in to Vault."""


class VaultLoginError(VaultError):
    """Vault refused the login."""


class VaultPermissionError(VaultError):
    """403: the token lacks a capability on a path."""


class VaultSetupError(VaultError):
    """Vault is not set up for jitops (missing token role, policy, auth role)."""


class VaultUnavailableError(VaultError):
    """Vault is sealed, down or unreachable, even after retrying."""


class UnwrapError(VaultError):
    """A wrapping token could not be unwrapped (already used, expired, unknown)."""


@dataclass(frozen=True)
class TokenInfo:
    """What ``lookup-accessor`` says about a token (never the token itself)."""

    accessor: str
    meta: Mapping[str, str]
    expire_time: datetime | None
    ttl: int
    policies: tuple[str, ...]
    display_name: str
    orphan: bool = False

    @property
    def grant_id(self) -> str | None:
        return self.meta.get(GRANT_META) or None

    def is_grant(
        self,
        grant_id: str,
        *,
        requester: str | None = None,
        role: str | None = None,
        repository: str | None = None,
        repository_id: str | None = None,
    ) -> bool:
        """Whether this is the token jitops created for ``grant_id`` (of ``requester`` and
        ``role``, in ``repository``), as its metadata says. Git only *names* an accessor, and
        whoever can merge can write any accessor into a file: before jitops revokes, re-issues
        or trusts a recorded token, Vault's own record of it must agree. A field the token does
        not carry (tokens made before jitops recorded it) is not compared. The repository is
        matched by GitHub's repository id when both sides know it (a renamed or transferred
        repository keeps its id), else by its name."""
        if self.grant_id != grant_id:
            return False
        have_id = self.meta.get(REPOSITORY_ID_META)
        if repository_id and have_id:
            if have_id != repository_id:
                return False
            repository = None  # the id decides; the name may have changed
        for key, want in (
            (REQUESTER_META, requester),
            (ROLE_META, role),
            (REPOSITORY_META, repository),
        ):
            have = self.meta.get(key)
            if want and have and have.lower() != want.lower():
                return False
        return True

    @classmethod
    def from_lookup(cls, data: Mapping[str, Any]) -> TokenInfo:
        expire = data.get("expire_time")
        return cls(
            accessor=str(data.get("accessor", "")),
            meta={str(k): str(v) for k, v in (data.get("meta") or {}).items()},
            expire_time=_parse_vault_time(expire) if expire else None,
            ttl=int(data.get("ttl") or 0),
            policies=tuple(str(p) for p in data.get("policies") or ()),
            display_name=str(data.get("display_name", "")),
            orphan=bool(data.get("orphan", False)),
        )


def self_policy(token_role: str) -> str:
    """The ACL policy every grant token carries besides its role's: ``lookup-self`` and
    ``revoke-self`` only (written by ``jitops vault setup``). Grant tokens are created without
    Vault's ``default`` policy, whose ``sys/wrapping/wrap`` would let any past grantee wrap
    chosen values and pass them off as somebody's delivery."""
    return f"{token_role}-self"


@dataclass(frozen=True)
class WrapLookup:
    """What ``sys/wrapping/lookup`` says about a wrapping token (it does not spend it): the
    path whose answer it wraps, when Vault made it, and for how long (seconds)."""

    creation_path: str
    creation_time: datetime | None
    creation_ttl: int

    @classmethod
    def from_lookup(cls, data: Mapping[str, Any]) -> WrapLookup:
        created = data.get("creation_time")
        return cls(
            creation_path=str(data.get("creation_path", "")),
            creation_time=_parse_vault_time(str(created)) if created else None,
            creation_ttl=int(data.get("creation_ttl") or 0),
        )


@dataclass(frozen=True)
class Issued:
    """A grant issued in Vault: what goes into the status block and the sealed delivery.

    ``accessor`` is the grant token's accessor (revoke/lookup by it); ``wrapping_token`` is the
    single-use token the requester unwraps; ``kind`` says what it wraps: the secret read with
    the grant token ("secret") or the grant token itself ("token"). ``lease_id`` is known only
    when Vault returns it outside the wrapped response (it does not for a wrapped read; the
    lease is tied to the grant token and dies with it either way).

    ``issued_at`` and ``expires_at`` are what Vault actually granted: ``expires_at`` is
    ``issued_at`` plus the token's TTL *as Vault set it*, which can be shorter than the grant's
    duration when the token mount's ``max_lease_ttl`` (or the system max, or the token role's
    explicit max TTL) caps it. Then ``requested`` is the duration asked for and ``capped``
    explains the difference in words (record and show it; never pretend the full duration).
    """

    accessor: str
    wrapping_token: Secret
    wrapping_accessor: str
    expires_at: datetime
    kind: Literal["secret", "token"]
    lease_id: str | None = None
    wrap_expires_at: datetime | None = None
    requests: int = 0
    issued_at: datetime | None = None
    requested: timedelta | None = None

    @property
    def granted(self) -> timedelta | None:
        """The TTL Vault gave the grant token."""
        return self.expires_at - self.issued_at if self.issued_at else None

    @property
    def capped(self) -> str | None:
        """Why access ends earlier than asked, or None when Vault granted the full duration."""
        granted, asked = self.granted, self.requested
        if granted is None or asked is None or asked - granted < timedelta(seconds=2):
            return None
        return (
            f"Vault capped the token at {format_duration(granted, days='never')} instead of the "
            f"{format_duration(asked, days='never')} asked "
            "for (the token auth mount's max_lease_ttl, the system max TTL or the token role's "
            "explicit max TTL is shorter); access ends at the recorded expiry. Admins: raise "
            "it with `vault auth tune -max-lease-ttl=... token/` or lower the role's "
            "max_duration"
        )


@dataclass(frozen=True)
class Unwrapped:
    """What a wrapping token held. Every value is a :class:`Secret`.

    For ``kind == "token"`` ``values`` is ``{"token": ..., "accessor": ...}`` and ``meta`` the
    token's metadata as the wrapped answer gives it; for a secret ``values`` is the secret's data
    (a KV v2 ``data.data`` is flattened). ``lease_duration`` is in seconds.
    """

    kind: Literal["secret", "token"]
    values: Mapping[str, Secret] = field(default_factory=dict)
    lease_id: str | None = None
    lease_duration: int = 0
    meta: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> Unwrapped:
        auth = body.get("auth")
        if isinstance(auth, Mapping) and auth.get("client_token"):
            return cls(
                kind="token",
                values={
                    "token": Secret(str(auth["client_token"])),
                    "accessor": Secret(str(auth.get("accessor", ""))),
                },
                lease_duration=int(auth.get("lease_duration") or 0),
                meta={str(k): str(v) for k, v in (auth.get("metadata") or {}).items()},
            )
        data = body.get("data") or {}
        if isinstance(data.get("data"), Mapping) and isinstance(data.get("metadata"), Mapping):
            data = data["data"]  # KV version 2
        return cls(
            kind="secret",
            values={str(k): Secret(_text(v)) for k, v in data.items()},
            lease_id=body.get("lease_id") or None,
            lease_duration=int(body.get("lease_duration") or 0),
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _parse_vault_time(text: str) -> datetime | None:
    """Vault's RFC 3339 times carry nanoseconds; Python takes at most microseconds."""
    try:
        base, _, rest = text.partition(".")
        if rest:
            digits = "".join(c for c in rest if c.isdigit())
            zone = rest[len(digits) :]
            text = f"{base}.{digits[:6]}{zone}"
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def seconds(value: timedelta) -> int:
    """A duration as whole seconds for Vault (at least 1)."""
    return max(1, int(value.total_seconds()))


_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d{1,20}(?:\.\d{1,20})?)(ns|us|µs|ms|s|m|h|d)")  # bounded: linear search


def as_seconds(value: Any) -> float | None:
    """A duration as Vault returns it (seconds, or Go text like ``1h30m``), in seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value.isdigit():
            return float(value)
        parts = _PART.findall(value)
        if parts and "".join(n + u for n, u in parts) == value:
            return sum(float(n) * _UNIT[u] for n, u in parts)
    return None


# --- error translation -------------------------------------------------------------------------

CAPABILITY_FOR = {"GET": "read", "LIST": "list", "DELETE": "delete"}


def capability_for(method: str, path: str) -> str:
    """The ACL capability a request needs (POST/PUT: create or update; we say update)."""
    if method.upper() in CAPABILITY_FOR:
        return CAPABILITY_FOR[method.upper()]
    return "create" if "/create" in path else "update"


def error_for(
    status: int | None, errors: Sequence[str], *, method: str, path: str, action: str
) -> VaultError:
    """A :class:`VaultError` saying what happened on ``path`` and what to do.

    ``status`` None means no answer (connection refused/reset/timeout). ``action`` is what
    jitops was doing in plain words ("create the grant token").
    """
    err = _error_for(status, errors, method=method, path=path, action=action)
    err.status = status
    err.vault_errors = tuple(errors)
    return err


def _error_for(
    status: int | None, errors: Sequence[str], *, method: str, path: str, action: str
) -> VaultError:
    said = "; ".join(errors) if errors else ""
    said_text = f" (Vault said: {said})" if said else ""
    where = f"{method.upper()} {path}"
    if status is None:
        return VaultUnavailableError(
            f"could not {action}: Vault did not answer {where}{said_text}; check VAULT_ADDR "
            "and that Vault is running, then retry later"
        )
    lower = said.lower()
    if status == 403:
        if "invalid token" in lower or "bad token" in lower:
            return VaultPermissionError(
                f"could not {action}: Vault refused the token on {where} (it is invalid or "
                "expired); log in again (check VAULT_TOKEN / the CI login)"
            )
        return VaultPermissionError(
            f"could not {action}: permission denied on {where}; the token needs the "
            f'"{capability_for(method, path)}" capability on path "{path}": add it to the '
            "token's policy (for the issuer, re-run `jitops vault setup`)"
        )
    if "/create/" in path and status in (400, 404) and ("role" in lower or status == 404):
        return VaultSetupError(
            f"could not {action}: Vault has no usable token role for {where}{said_text}; "
            "run `jitops vault setup` (with an admin token) to create it"
        )
    if status == 400 and "subset" in lower:
        return VaultSetupError(
            f"could not {action}: the token role does not allow these policies{said_text}; "
            "run `jitops vault setup` so the role allows every role's policies"
        )
    if status in (503, 501):
        return VaultUnavailableError(
            f"could not {action}: Vault is sealed, not initialised or in standby ({where} "
            f"answered {status}){said_text}; retry later or ask the Vault operators"
        )
    if status >= 500 or status == 429:
        return VaultUnavailableError(
            f"could not {action}: Vault failed on {where} with HTTP {status}{said_text}; "
            "retry later"
        )
    if status == 404:
        return VaultSetupError(
            f"could not {action}: Vault has nothing at {where}{said_text}; check that the "
            "secrets engine or auth method is mounted there (see `jitops doctor`)"
        )
    answer = f"HTTP {status}" if status else "an unexpected answer"
    return VaultError(f"could not {action}: Vault refused {where} with {answer}{said_text}")


#: OpenBao 2.7 answers a lookup or revoke of an accessor that belongs to another namespace (or
#: of a malformed one, inside a namespace) with HTTP 500 and this error: not a fault to retry,
#: and for jitops the same as "no such token here" (checked against a real server)
OTHER_NAMESPACE = "cannot lookup token in different namespace"


def is_gone(exc: VaultError) -> bool:
    said = " ".join(exc.vault_errors).lower()
    if exc.status == 500 and OTHER_NAMESPACE in said:
        return True
    return exc.status in (400, 404) and (
        "invalid accessor" in said or "not found" in said or "bad token" in said
    )


def wrap_info(body: Any, path: str) -> Mapping[str, Any]:
    info = body.get("wrap_info") if isinstance(body, Mapping) else None
    if not isinstance(info, Mapping) or not info.get("token"):
        raise VaultError(
            f"Vault did not wrap the answer of {path}; check that nothing between jitops and "
            "Vault drops the X-Vault-Wrap-TTL header"
        )
    return info
