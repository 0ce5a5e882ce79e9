"""How the end of a grant is told, in one place: the ledger commit, the pull request comment,
the notification and the run's outcome.

Deny, expire, revoke, the end jitops' record decides and a file put back all say the same
things in the same order: land the commits (one push for the group), then -- only once git
tells the truth -- comment on the pull request and notify. Each builds :class:`Ending` values
and hands them to :func:`tell`; the texts are in :mod:`jitops.delivery.comment`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from jitops.core.commits import PlannedCommit
from jitops.core.notify_payload import Event
from jitops.core.policy import Policy
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services, log


@dataclass(frozen=True, kw_only=True)
class Ending:
    """One grant's end (or its file put back), as a run tells it.

    ``commit`` is landed when ``applies`` says so of what main holds at ``path`` then (None:
    nothing; default: while the file is there, not twice when another run removed it first).
    ``outcome`` is reported once the push is done; when
    nothing of the group landed and ``skipped`` is set, the outcome is ``skipped`` with that
    text instead and nothing is said (another run did it meanwhile); with ``skipped`` None the
    end is told whatever the push found (Vault already ended the token). ``comment`` is posted
    on pull request ``comment_on``, then ``event`` sent to the webhooks of the policy
    ``policy()`` gives (asked only then; None: nobody is notified)."""

    outcome: Outcome
    commit: PlannedCommit
    path: str
    applies: Callable[[bytes | None], bool] = field(default=lambda there: there is not None)
    skipped: str | None = None
    comment: str | None = None
    comment_on: int | None = None
    event: Event | None = None
    policy: Callable[[], Policy | None] = lambda: None


def tell(svc: Services, endings: Sequence[Ending]) -> list[Outcome]:
    """Land the commits of ``endings`` in one push (each when it still applies to main), then
    comment and notify for each: the outcomes, in the order given."""
    if not endings:
        return []

    def build(git: Git) -> list[PlannedCommit]:
        return [e.commit for e in endings if e.applies(git.show("HEAD", e.path))]

    landed = svc.git.land(svc.remote, svc.branch, build)
    out = []
    for e in endings:
        if not landed and e.skipped is not None:
            out.append(Outcome(e.outcome.grant, Action.SKIPPED, e.skipped, e.outcome.pull_request))
            continue
        if e.comment is not None and e.comment_on is not None:
            try:
                svc.github.comment(e.comment_on, e.comment)
            except JitopsError as exc:  # the ledger is right; the comment is a courtesy
                log.warning("could not comment on #%s: %s", e.comment_on, exc)
        if e.event is not None and (policy := e.policy()) is not None:
            svc.notify(policy, e.event)
        out.append(e.outcome)
    return out


def absent(there: bytes | None) -> bool:
    """:attr:`Ending.applies` for a file put back: only while main does not hold it."""
    return there is None


def token_note(done: str, *, named_by: str = "file") -> str:
    """What became of a grant's token, for its commit, comment and outcome (``done``: Vault's
    answer to the revoke, ``revoked``, ``gone`` or ``foreign``; ``named_by``: what named the
    token -- the grant's ``file`` or jitops' ``record``)."""
    if done == "revoked":
        return "jitops revoked its Vault token."
    if done == "foreign":
        if named_by == "record":
            return "The token its record names is not this grant's in Vault; left alone."
        return "The token its file names is not this grant's in Vault; jitops left it alone."
    return "Vault had already ended its token."


__all__ = ["Ending", "absent", "tell", "token_note"]
