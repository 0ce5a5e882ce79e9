"""What to do with a grant file on main, from jitops' own record of that grant (pure).

**jitops' own record decides; what a writer can edit is only a request.** jitops' record of a
grant is its own ledger commits on main's first-parent line (issue, deny, expire, revoke: the
one own-commit rule of :mod:`jitops.core.commits`) and Vault's record of the token the newest
issue commit names. A grant file on main is a request only until jitops has recorded a decision
about its id; after that, the file is compared with the record, never judged again:

* no record: the gate judges the file (:func:`jitops.core.gate.decide_issue`);
* denied or ended (deny, expire, revoke) and the file is back: it is removed again and nothing
  is issued (a live token jitops once recorded for it is revoked first);
* issued, and the file on main is the one jitops' issue commit wrote: jitops' status stands;
  if Vault says the token ended before its recorded expiry (an admin revoked it in Vault), the
  grant is recorded as ended, never as denied; a token at or past its recorded expiry is the
  sweep's to record as expired. A run asks Vault about at most :data:`LOOKUPS_PER_RUN` such
  grants, in a rotation (:func:`due_for_lookup`), so its cost does not grow with the grants
  that are active;
* issued, and the file on main is not jitops' (status stripped or altered, bytes restored to
  the request): with the token live in Vault, jitops puts its recorded file back; with the
  token ended, or the file no longer a readable grant (a damaged status time), the grant is
  ended and the file removed. It is never issued again: one grant, one live credential.

Every fact is plain data; the lifecycle reads git, GitHub and Vault, this module decides.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta


class Token(enum.Enum):
    """Vault's answer about the token jitops recorded for the grant."""

    LIVE = "live"  # live, and Vault's metadata says it is this grant's, in this repository
    GONE = "gone"  # expired, revoked or unknown to Vault
    FOREIGN = "foreign"  # live, but Vault says it is not this grant's: never touched
    UNKNOWN = "unknown"  # Vault could not answer


class Move(enum.Enum):
    GATE = "gate"  # nothing recorded: the gate judges the file
    KEEP = "keep"  # jitops' record stands on main; nothing to do now
    ASK_VAULT = "ask vault"  # the decision needs Vault's word on the recorded token
    ASK_ORIGIN = "ask origin"  # ... and whether GitHub ties the issue commit to a pull request
    RESTORE = "restore"  # put back the file jitops' issue commit wrote
    END = "end"  # revoke (if live) and remove, recorded as a revoke with the reason
    REMOVE = "remove"  # an id already decided came back: remove it again
    WAIT = "wait"  # cannot be decided now (Vault did not answer): a later run retries


ENDED = frozenset({"deny", "expire", "revoke", "unratified"})


@dataclass(frozen=True)
class Facts:
    """What the lifecycle read about one grant file on main.

    ``action``: the newest of jitops' own ledger commits about the id (None: none).
    ``matches``: the file on main is byte for byte what jitops' newest issue commit wrote.
    ``readable``: the file on main reads as a grant. ``expires_at``: the recorded expiry.
    ``token``: Vault's answer about the recorded token (None: not asked yet).
    ``in_pull_request``: GitHub ties the issue commit to a pull request (a rebase merge replayed
    a commit shaped like jitops' own: not a record); None: not asked yet.
    ``now``: the run's start; ``clock``: the time when Vault answered.
    ``check_vault``: ask Vault about the token of a file that is jitops' record (False: the
    record stands unasked this run; :func:`due_for_lookup` says which ones a run asks about).
    A file that differs from the record always needs Vault's word.
    """

    action: str | None
    matches: bool = False
    readable: bool = True
    expires_at: datetime | None = None
    token: Token | None = None
    in_pull_request: bool | None = None
    now: datetime | None = None
    clock: datetime | None = None
    check_vault: bool = True


def decide(f: Facts) -> tuple[Move, str]:
    """The move for one grant file, and why in words (for the ledger and the output)."""
    if f.action is None:
        return Move.GATE, "jitops has no record of this grant"
    if f.action in ENDED:
        done = {
            "deny": "was already denied",
            "expire": "already ended (it expired)",
            "revoke": "already ended (it was revoked)",
            "unratified": "already ended (an emergency grant never ratified)",
        }[f.action]
        return Move.REMOVE, (
            f"the grant {done} by jitops' record; a file naming it again is only a request "
            "and is removed: ask with a new grant id"
        )
    if f.action != "issue":
        return Move.GATE, f"jitops' record of this grant is {f.action!r}"
    expired = f.expires_at is not None and f.now is not None and f.expires_at <= f.now
    if f.matches:
        if expired or not f.check_vault:
            return Move.KEEP, "jitops' record is on main"
        if f.token is None:
            return Move.ASK_VAULT, ""
        if f.token in (Token.LIVE, Token.UNKNOWN):
            return Move.KEEP, "jitops' record is on main"
        if f.in_pull_request is None:
            return Move.ASK_ORIGIN, ""
        if f.in_pull_request:
            return Move.GATE, "the status block came in with a pull request"
        if _passed(f):
            return Move.KEEP, "its token expired; the sweep records it"
        return Move.END, (
            "its Vault token ended outside jitops (revoked or expired in Vault before its "
            "recorded expiry)"
        )
    # the file on main is not the one jitops recorded
    if f.token is None:
        return Move.ASK_VAULT, ""
    if f.token is Token.UNKNOWN:
        return Move.WAIT, (
            "the file on main differs from jitops' record and Vault could not say whether its "
            "token is live; a later run restores or ends it"
        )
    if f.token is Token.LIVE:
        if not f.readable:
            return Move.END, (
                "the grant file on main was damaged (it no longer reads as a grant); jitops "
                "ended the grant"
            )
        return Move.RESTORE, (
            "the file on main differs from jitops' record (its status removed or changed); "
            "jitops put its record back"
        )
    if _passed(f):
        return Move.END, "the file on main differed from jitops' record; its token had expired"
    return Move.END, (
        "the file on main differed from jitops' record and its Vault token ended outside jitops"
    )


def _passed(f: Facts) -> bool:
    """Whether the recorded expiry has passed by the clock read when Vault answered."""
    at = f.clock or f.now
    return f.expires_at is not None and at is not None and f.expires_at <= at


#: At most this many grants whose file on main is jitops' record are looked up in Vault by one
#: run (issue or sweep), to notice a token ended outside jitops: a run's Vault requests follow
#: its work, not the number of active grants.
LOOKUPS_PER_RUN = 5

#: The rotation moves to the next :data:`LOOKUPS_PER_RUN` grants once per slot: the sweep's
#: schedule (every ten minutes), so a run in each slot looks at every grant in turn.
LOOKUP_SLOT = timedelta(minutes=10)


def due_for_lookup(
    ids: Collection[str],
    now: datetime,
    *,
    per_run: int = LOOKUPS_PER_RUN,
    slot: timedelta = LOOKUP_SLOT,
) -> frozenset[str]:
    """Of the grant ids whose file on main is jitops' record and whose token is unexpired, the
    ones a run started at ``now`` asks Vault about: all of them when they are at most
    ``per_run``; else the ids in order are cut into ``ceil(n / per_run)`` windows and the
    window of ``now``'s slot is due (slot number modulo the number of windows). With a run in
    every slot, each grant is looked up at least once every ``ceil(n / per_run)`` slots (an
    id added or removed meanwhile shifts the windows by one place: at most one more round)."""
    order = sorted(set(ids))
    if len(order) <= per_run:
        return frozenset(order)
    windows = -(-len(order) // per_run)
    window = int(now.timestamp() // slot.total_seconds()) % windows
    return frozenset(order[window * per_run : (window + 1) * per_run])


def lookup_round(active: int, *, per_run: int = LOOKUPS_PER_RUN) -> int:
    """How many slots the rotation takes to look at ``active`` grants once."""
    return max(1, -(-active // per_run))


def redeliver(*, wrapping: Token | None, posted: bool) -> bool:
    """Whether an issued grant's delivery must be made again (``wrapping``: Vault's word on the
    delivery's wrapping token, None when jitops recorded none; ``posted``: a delivery comment
    of the bot naming the recorded token, and still holding a sealed block, is on the pull
    request).

    Vault decides: a wrapping token that is gone was unwrapped (claimed) or ran out, and a
    delivery is never replaced then, whatever a comment says; nor when Vault cannot answer.
    Only a live, unclaimed wrapping token whose comment is missing (the run died between the
    push and the comment, or a writer deleted an unclaimed delivery, or emptied it: a shrunk
    comment next to a live wrapping token is a writer's edit, jitops shrinks only a gone one)
    is delivered again. A grant
    recorded before jitops kept the wrapping token's accessor falls back on the comment."""
    if wrapping is None:
        return not posted
    if wrapping is not Token.LIVE:
        return False
    return not posted


def shrink(*, wrapping: Token | None, sealed: bool) -> bool:
    """Whether the bot's delivery comment of an issued grant is edited down to a one-line note
    (``wrapping``: Vault's word on the wrapping token jitops recorded for that delivery;
    ``sealed``: the comment still holds a sealed block).

    Only Vault's "gone" counts: a wrapping token that was unwrapped or ran out can never be
    opened again, so its ciphertext serves nobody. Never on a live token, never when Vault did
    not answer, never for a grant recorded without the wrapping token's accessor (None), and
    never because a comment looks edited. Shrinking changes nothing else: :func:`redeliver`
    never delivers again once the wrapping token is gone."""
    return sealed and wrapping is Token.GONE


class Spent(enum.Enum):
    """What jitops can tell about a delivery whose wrapping token Vault no longer knows."""

    CLAIMED = "claimed"  # gone before its wrap TTL ran out: unwrapped (or revoked in Vault)
    CLAIMED_OR_EXPIRED = "claimed-or-expired"  # gone after it: Vault cannot say which


def how_spent(seen: datetime, issued_at: datetime, wrap_ttl: timedelta) -> Spent:
    """``seen``: when Vault said the wrapping token is gone; it was made at ``issued_at`` with
    ``wrap_ttl`` (the policy's ``settings.wrap_ttl``). Vault's "invalid accessor" is the same
    answer for an unwrapped token and an expired one: before the TTL could run out it was
    unwrapped (or revoked); after, either."""
    return Spent.CLAIMED if seen < issued_at + wrap_ttl else Spent.CLAIMED_OR_EXPIRED


__all__ = [
    "ENDED",
    "LOOKUPS_PER_RUN",
    "LOOKUP_SLOT",
    "Facts",
    "Move",
    "Spent",
    "Token",
    "decide",
    "due_for_lookup",
    "how_spent",
    "lookup_round",
    "redeliver",
    "shrink",
]
