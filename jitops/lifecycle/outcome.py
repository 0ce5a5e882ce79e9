"""What a run did with one grant: the one vocabulary of issue, sweep and revoke results.

The CLI renders these (text, GitHub annotations and step summary, JSON); the demo and the
tests read them. :class:`Action` is a ``StrEnum``: its values are the words users see.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    ISSUED = "issued"
    DENIED = "denied"
    SKIPPED = "skipped"
    REVOKED = "revoked"
    EXPIRED = "expired"
    FAILED = "failed"
    FLAGGED = "flagged"  # a file jitops cannot judge or record: an admin must act
    RESTORED = "restored"  # jitops put its recorded grant file back: the access stays
    WAITING = "waiting"  # approved and scheduled (not_before): not due yet, nothing issued
    RATIFIED = "ratified"  # an emergency grant's ratification, recorded
    UNRATIFIED = "unratified"  # an emergency grant never ratified: revoked and recorded
    CLOSED = "closed"  # an admin closed an unratified grant's finding with a reason
    WOULD_ISSUE = "would issue"  # dry run
    WOULD_EXPIRE = "would expire"  # dry run

    @property
    def needs_attention(self) -> bool:
        """A run with such a result exits 1 (a person must look)."""
        return self in (Action.FAILED, Action.FLAGGED)


@dataclass(frozen=True)
class Outcome:
    """What a run did with one grant (for output, tests and the demo)."""

    grant: str
    action: Action
    detail: str
    pull_request: int | None = None
