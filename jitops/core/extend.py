"""Extension (``extends``): whether a grant may replace an active one, and the chain's total.

An extension names an **active** grant of the **same requester and role**; it is judged by the
role's ``extend`` approvals (default: the role's own; risk tiers are added as for any request)
and refused when the whole chain -- from the first link's issue to the new link's expiry --
would pass ``extend.max_total``. On issue the new credential is created and delivered first,
then the old token is revoked: never two live credentials for longer than one issue run, never
a gap. Pure: the lifecycle reads jitops' own record of each link; this module decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jitops.core.duration import format_duration
from jitops.core.grant import format_time
from jitops.core.policy import Role

#: How many links back a chain is followed (a longer chain is refused: nobody needs it).
MAX_LINKS = 50


@dataclass(frozen=True)
class Link:
    """jitops' own record of one grant of a chain.

    ``state``: ``active`` (issued, its recorded expiry not passed, not ended), ``ended`` (expired,
    revoked, unratified), ``denied``, ``waiting`` (on main, not issued yet) or ``unknown``
    (jitops has no record of it). ``extends``: the grant this one extended, if any."""

    grant_id: str
    state: str
    requester: str = ""
    role: str = ""
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    extends: str | None = None
    ended_by: str = ""  # expire | revoke | unratified | deny


def chain_start(chain: Sequence[Link]) -> datetime | None:
    """When the chain's first link was issued (``chain[0]`` is the grant extended, then what
    it extended, and so on)."""
    times = [link.issued_at for link in chain if link.issued_at is not None]
    return min(times) if times else None


def chain_total(chain: Sequence[Link], new_expires: datetime) -> timedelta | None:
    start = chain_start(chain)
    return None if start is None else new_expires - start


def problems(
    *,
    grant_id: str,
    requester: str,
    role: Role,
    duration: timedelta,
    chain: Sequence[Link],
    at: datetime,
) -> list[str]:
    """What forbids extending ``chain[0]`` by a grant of ``duration`` issued at ``at`` (each a
    sentence saying what is wrong and what to do; empty: nothing)."""
    if not chain:
        return ["extends names no grant; name the active grant to extend"]
    old = chain[0]
    name = old.grant_id
    if name == grant_id:
        return [f"extends names this grant itself ({name}); name the active grant to extend"]
    if role.extend is None:
        return [
            f"role {role.name} does not allow extensions (it has no extend: rule); remove "
            "extends and request new access, or ask an admin to add an extend rule"
        ]
    if old.state == "unknown":
        return [
            f"extends names {name}, which is not a grant jitops issued; name one of your active "
            "grants (jitops status lists them)"
        ]
    if old.state == "denied":
        return [f"extends names {name}, which was denied; request new access instead"]
    if old.state == "waiting":
        return [
            f"extends names {name}, which is not issued yet; wait for it to be issued, or "
            "request new access"
        ]
    if old.state != "active":
        how = {"expire": "it expired", "unratified": "it was never ratified"}.get(
            old.ended_by, "it was revoked"
        )
        return [
            f"extends names {name}, which is no longer active ({how}); an extension must be "
            "issued while the grant it extends is live: request new access instead"
        ]
    out = []
    if old.requester.lower() != requester.lower():
        out.append(
            f"extends names {name}, which is {old.requester}'s grant, not {requester}'s; you "
            "can extend only your own access"
        )
    if old.role != role.name:
        out.append(
            f"extends names {name}, a grant of role {old.role}, not {role.name}; an extension "
            f"keeps the role: extend a {role.name} grant or request {role.name} anew"
        )
    if len(chain) > MAX_LINKS:
        out.append(f"the chain of {name} has more than {MAX_LINKS} links; request new access")
    start = chain_start(chain)
    if start is not None and not out:
        total = at + duration - start
        cap = role.extend.max_total
        if total > cap:
            left = cap - (at - start)
            hint = (
                f"ask for at most {format_duration(left)}"
                if left >= timedelta(minutes=1)
                else "request new access instead"
            )
            out.append(
                f"the chain from {format_time(start)} would last {format_duration(total)}, over "
                f"the {format_duration(cap)} extend.max_total of role {role.name}; {hint}"
            )
    return out


__all__ = ["MAX_LINKS", "Link", "chain_start", "chain_total", "problems"]
