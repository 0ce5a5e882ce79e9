"""Commits as plain data, and the rule that tells jitops' own commits from anybody else's.

The git door reads history into :class:`LogCommit` values and writes :class:`PlannedCommit`
values; the core and the audit decide on these without running git. :func:`own_entry` is the
one rule of which ``Jitops-*`` trailers are believed (docs/design.md, *Commit trailers*; the
full rule is in :mod:`jitops.audit.history`), used by the audit, the gate and the git door
alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from jitops.core.grant import grant_path
from jitops.core.inert import one_line
from jitops.core.trailers import LedgerEntry, entry_from_trailers

_MERGE_PR = re.compile(r"^Merge pull request #(\d+) from ")
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")


class LogCommit(NamedTuple):
    sha: str
    committed_at: datetime
    subject: str
    trailers: dict[str, str]  # the message's trailers, {key: value} (the last value wins)
    changes: tuple[tuple[str, str, str], ...]  # (status letter, path, blob sha)
    parents: tuple[str, ...] = ()
    unreadable: bool = False  # git printed something this parser could not make sense of

    @property
    def message(self) -> str:
        """Subject and trailers: what the ledger reads (the body prose is not kept)."""
        lines = (f"{k}: {v}" for k, v in self.trailers.items())
        return self.subject + "\n\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PlannedCommit:
    """A commit to make: file changes (None deletes) and the full message."""

    changes: Mapping[str, bytes | None]
    message: str


def pr_of(subject: str, parents: int) -> int | None:
    """The pull request a commit lands: GitHub's merge commit ("Merge pull request #N from
    owner/branch", two parents) or a squash/rebase merge ("<title> (#N)", one parent)."""
    first = subject.splitlines()[0] if subject else ""
    m = _MERGE_PR.match(first) if parents == 2 else _SQUASH_PR.search(first)
    return int(m.group(1)) if m else None


def own_entry(c: LogCommit) -> LedgerEntry | None:
    """``c``'s ledger entry when ``c`` is one of jitops' own commits, else None (the rule is
    spelled out in :mod:`jitops.audit.history`). Without the history before it, a ``revoke``
    that changes nothing is taken as recording an earlier deletion."""
    entry, _ = entry_from_trailers(c.trailers) if c.trailers and not c.unreadable else (None, [])
    if entry is None or not_own(c, entry, pr_of(c.subject, len(c.parents)), set()):
        return None
    return entry


def not_own(c: LogCommit, entry: LedgerEntry, pr: int | None, in_tree: set[str]) -> str:
    """Why ``c`` is not one of jitops' own commits ('' when it is): see the module doc."""
    if len(c.parents) != 1:
        return "is a merge commit (a pull request's)" if c.parents else "is a root commit"
    if pr is not None:
        return f"is the squash or rebase merge of pull request #{pr}"
    subject = f"jitops: {entry.action} {entry.grant}"
    if c.subject != subject:
        return f"its subject {one_line(c.subject, 60)!r} is not '{subject}'"
    path = grant_path(entry.grant)
    # a restore adds back a deleted file, or puts back an edited one
    want = {"issue": "M", "restore": "AM"}.get(entry.action, "D")
    changes = c.changes
    if entry.action in ("ratify", "close"):  # a record about a grant: it changes no file
        return "" if not changes else f"it changes files, and a {entry.action} changes none"
    if len(changes) == 1 and changes[0][0] in want and changes[0][1] == path:
        return ""
    if not changes and entry.action in ("revoke", "unratified") and entry.grant not in in_tree:
        return ""  # records an early revoke whose deletion a pull request made (or an
        # unratified emergency grant that had already expired)
    does = {"M": "modify only", "AM": "put back only"}.get(want, "remove only")
    shown = ", ".join(f"{st} {one_line(p, 60)}" for st, p, _b in changes[:3]) or "no change"
    more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
    return f"its change ({shown}{more}) does not {does} {path}, as {entry.action} must"
