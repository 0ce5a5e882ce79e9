"""The tip of main as one run reads it, once: its grant files parsed, its policy, the last good
policy; and the sweep's plan, decided from it without running anything.

A lifecycle run fetches, reads the tip into a :class:`Tip` (the git door reads, this module
parses), and every later step decides from that value: which files are active, expired or
unreadable, which policy judges, which Vault settings apply. Nothing here runs git or asks a
server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from jitops.core import schedule
from jitops.core.gate import read_grant_safely
from jitops.core.grant import Grant
from jitops.core.plan import expired
from jitops.core.policy import Policy, PolicyError
from jitops.errors import JitopsError, Problem


@dataclass(frozen=True)
class GrantFile:
    """One ``grants/*.yaml`` file at the tip: its bytes and what they parse to (None: the file
    is not a readable grant; ``problems`` says why)."""

    path: str
    data: bytes
    grant: Grant | None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Tip:
    """What one run reads of the tip of main, once.

    ``files``: every grant file, sorted by path. ``policy``: the policy at the tip (None when it
    does not load; ``policy_error`` says why). ``last_good``: the policy at the tip, or when it
    does not load the newest one on the first-parent line that does (None: none does, and
    ``last_good_error`` is the error to report): an invalid policy on main must not stop
    expiries, which need only Vault's settings."""

    ref: str
    files: tuple[GrantFile, ...]
    policy: Policy | None
    policy_error: PolicyError | None = None
    last_good: Policy | None = None
    last_good_error: JitopsError | None = None

    def file(self, path: str) -> GrantFile | None:
        return next((f for f in self.files if f.path == path), None)

    def grants(self) -> dict[str, Grant]:
        """Readable grants by id (unreadable files are left for `validate`)."""
        return {f.grant.id: f.grant for f in self.files if f.grant is not None}

    def last_good_policy(self) -> Policy:
        """:attr:`last_good`, or the error that none loads."""
        if self.last_good is None:
            assert self.last_good_error is not None, "a tip without a policy says why"
            raise self.last_good_error
        return self.last_good


def parse_grant_files(files: Mapping[str, bytes]) -> tuple[GrantFile, ...]:
    """Each grant file parsed once (never raises: a hostile file is a problem of its own)."""
    out = []
    for path, data in sorted(files.items()):
        grant, problems = read_grant_safely(data, path)
        out.append(GrantFile(path, data, grant, tuple(problems)))
    return tuple(out)


@dataclass(frozen=True)
class SweepPlan:
    unissued: tuple[str, ...]  # paths of grant files jitops has not issued
    expired: tuple[Grant, ...]
    unreadable: tuple[tuple[str, str], ...]  # (path, what is wrong) of active-looking files
    # (path, words) of the unissued scheduled grants whose not_before is still ahead: a run
    # judges them (the gate says wait), but issues nothing yet
    waiting: tuple[tuple[str, str], ...] = ()


def plan_sweep(tip: Tip, unissued: Collection[str], now: datetime) -> SweepPlan:
    """What a sweep does at ``tip``: finish the ``unissued`` files (jitops' record does not
    stand on them), expire the active grants whose time is over, flag the files that look
    active but cannot be read. A status block jitops did not write is judged by the gate, never
    expired (its accessor may name anybody's token). ``waiting``: the unissued files whose
    ``not_before`` is still ahead (what a dry run says will not be issued yet)."""
    grants = []
    unreadable = []
    for f in tip.files:
        if f.grant is None and b"status:" in f.data:
            why = "; ".join(" ".join(p.message.split()) for p in f.problems[:2]) or "unreadable"
            unreadable.append((f.path, why))
        elif f.grant is not None and f.grant.status is not None:
            grants.append(f.grant)
    ours = [g for g in grants if g.path not in unissued]
    waiting = []
    for path in unissued:
        at = tip.file(path)
        grant = at.grant if at is not None else None
        when = grant.not_before if grant is not None and grant.status is None else None
        if when is not None and not schedule.due(when, now):
            waiting.append((path, schedule.waiting(when, now)))
    return SweepPlan(tuple(unissued), tuple(expired(ours, now)), tuple(unreadable), tuple(waiting))


__all__ = ["GrantFile", "SweepPlan", "Tip", "parse_grant_files", "plan_sweep"]
