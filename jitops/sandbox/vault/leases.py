"""Leases of dynamic secrets: owned by the token that read them, revoked when it dies.

Every method runs under the core's lock. Backend revocations (which may be slow, e.g. SQL) are
not run here: they are handed to ``defer`` and the core runs them after releasing its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jitops.sandbox.vault.util import base62, go_duration, now, rfc3339

log = logging.getLogger(__name__)


@dataclass
class Lease:
    id: str
    token_id: str | None
    issue_time: float
    expire_at: float
    max_expire_at: float
    renewable: bool
    revoke_action: Callable[[], None]
    renew_action: Callable[[int], None] | None = None
    last_renewal: float | None = None

    def ttl(self, at: float | None = None) -> int:
        return max(0, round(self.expire_at - (at or now())))

    def lookup_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issue_time": rfc3339(self.issue_time),
            "expire_time": rfc3339(self.expire_at),
            "last_renewal": rfc3339(self.last_renewal),
            "renewable": self.renewable,
            "ttl": self.ttl(),
        }


class LeaseStore:
    def __init__(self, defer: Callable[[Callable[[], None]], None]) -> None:
        self.leases: dict[str, Lease] = {}
        self._defer = defer

    def register(
        self,
        path: str,
        token_id: str | None,
        ttl: int,
        max_ttl: int,
        revoke: Callable[[], None],
        renew: Callable[[int], None] | None = None,
        *,
        renewable: bool = True,
    ) -> Lease:
        at = now()
        lease = Lease(
            id=f"{path.strip('/')}/{base62(24)}",
            token_id=token_id,
            issue_time=at,
            expire_at=at + ttl,
            max_expire_at=at + max(max_ttl, ttl),
            renewable=renewable,
            revoke_action=revoke,
            renew_action=renew,
        )
        self.leases[lease.id] = lease
        return lease

    def live(self, lease_id: str) -> Lease | None:
        lease = self.leases.get(lease_id)
        if lease is not None and lease.expire_at <= now():
            self.revoke(lease_id)
            return None
        return lease

    def revoke(self, lease_id: str) -> bool:
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            return False
        self._defer(_guarded(lease.id, lease.revoke_action))
        return True

    def revoke_prefix(self, prefix: str) -> int:
        ids = [i for i in self.leases if i.startswith(prefix)]
        return sum(1 for i in ids if self.revoke(i))

    def revoke_for_token(self, token_id: str) -> int:
        ids = [i for i, lease in self.leases.items() if lease.token_id == token_id]
        return sum(1 for i in ids if self.revoke(i))

    def expire(self, at: float) -> int:
        ids = [i for i, lease in self.leases.items() if lease.expire_at <= at]
        return sum(1 for i in ids if self.revoke(i))

    def renew(self, lease: Lease, increment: int) -> tuple[int, list[str]]:
        at = now()
        original = int(lease.expire_at - (lease.last_renewal or lease.issue_time))
        ttl = increment or original
        warnings: list[str] = []
        cap = max(0, int(lease.max_expire_at - at))
        if ttl > cap:
            limit = int(lease.max_expire_at - lease.issue_time)
            warnings.append(
                f'TTL of "{go_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{go_duration(limit)}"; TTL value is capped accordingly'
            )
            ttl = cap
        lease.expire_at = at + ttl
        lease.last_renewal = at
        if lease.renew_action is not None:
            self._defer(_guarded_renew(lease.id, lease.renew_action, ttl))
        return ttl, warnings


def _guarded(lease_id: str, action: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            action()
        except Exception as exc:  # a backend failure must not stop other revocations
            log.warning("revoking lease %s failed: %s", lease_id, exc)

    return run


def _guarded_renew(lease_id: str, action: Callable[[int], None], ttl: int) -> Callable[[], None]:
    def run() -> None:
        try:
            action(ttl)
        except Exception as exc:
            log.warning("renewing lease %s in its backend failed: %s", lease_id, exc)

    return run
