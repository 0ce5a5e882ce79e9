"""In-memory stand-ins for the doors a lifecycle decision reads (git's ledger and commit graph,
GitHub's commit-to-pull-request association), for unit tests of the lifecycle's rules with no
git process and no server. Only the questions those rules ask are answered; anything else
fails loudly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from jitops.core.trailers import LedgerEntry
from jitops.errors import JitopsError
from jitops.lifecycle.services import Services


@dataclass
class Commit:
    parents: tuple[str, ...] = ()
    at: datetime | None = None
    entry: LedgerEntry | None = None  # set: it passes the own-commit rule (shape, subject)
    files: dict[str, bytes] = field(default_factory=dict)
    message: str = ""


@dataclass
class FakeGit:
    """A commit graph with ``main`` at ``tip`` (first parents first)."""

    commits: dict[str, Commit] = field(default_factory=dict)
    tip: str = ""

    def add(self, sha: str, *parents: str, **kw: Any) -> str:
        self.commits[sha] = Commit(tuple(parents), **kw)
        self.tip = sha
        return sha

    # -- the ledger ----------------------------------------------------------------------------
    def first_parents(self) -> list[str]:
        out, sha = [], self.tip
        while sha:
            out.append(sha)
            parents = self.commits[sha].parents
            sha = parents[0] if parents else ""
        return out

    def ledger_commits_about(self, ref: str, grant_id: str) -> list[str]:
        return [
            s
            for s in self.first_parents()
            if f"Jitops-Grant: {grant_id}" in self.commits[s].message
            or (self.commits[s].entry is not None and self.commits[s].entry.grant == grant_id)  # type: ignore[union-attr]
        ]

    def jitops_entry(self, sha: str) -> LedgerEntry | None:
        return self.commits[sha].entry if sha in self.commits else None

    def commit_time(self, sha: str) -> datetime:
        at = self.commits[sha].at
        assert at is not None
        return at

    def show(self, ref: str, path: str) -> bytes | None:
        return self.commits[ref].files.get(path)

    def message(self, sha: str) -> str:
        return self.commits[sha].message

    # -- the commit graph ----------------------------------------------------------------------
    def ancestors(self, sha: str) -> set[str]:
        seen: set[str] = set()
        todo = [sha]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo += self.commits[s].parents
        return seen

    def rev_parse(self, ref: str) -> str | None:
        return ref if ref in self.commits else None

    def first_parent_line(self, tip: str, since: str) -> list[str]:
        before: set[str] = set()
        for parent in self.commits[since].parents:
            before |= self.ancestors(parent)
        return [s for s in self.first_parents() if s not in before]

    def parents(self, sha: str) -> list[str]:
        return list(self.commits[sha].parents)

    def ensure_commits(self, remote: str, shas: Sequence[str]) -> None:
        assert all(s in self.commits for s in shas)

    def authorship(self, sha: str) -> bytes:
        """The commit's message stands for its author, date and message (a replay keeps them)."""
        return self.commits[sha].message.encode() or sha.encode()

    def authorships(self, head: str, base: str) -> set[bytes]:
        return {self.authorship(s) for s in self.commits_not_in(head, base, merges=False)}

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        return older in self.ancestors(newer)

    def commits_not_in(self, head: str, base: str, *, merges: bool = True) -> list[str]:
        own = self.ancestors(head) - self.ancestors(base)
        return sorted(s for s in own if merges or len(self.commits[s].parents) < 2)


@dataclass
class FakeGitHub:
    """Which pull requests GitHub associates with each commit; ``down``: it does not answer."""

    pulls: dict[str, list[int]] = field(default_factory=dict)
    down: bool = False
    asked: list[str] = field(default_factory=list)

    def pulls_for_commit(self, sha: str) -> list[int]:
        self.asked.append(sha)
        if self.down:
            raise JitopsError("GitHub answered 502")
        return self.pulls.get(sha, [])


def services(git: FakeGit, github: FakeGitHub | None = None) -> Services:
    """Services over the fakes (no Vault: a decision that needs one fails the test)."""

    def no_vault(_policy: object) -> Any:
        raise AssertionError("this decision must not need Vault")

    svc = Services(
        git=cast(Any, git),
        github=cast(Any, github or FakeGitHub()),
        connect_vault=no_vault,
        environ={},
        recheck_within=timedelta(hours=1),
    )
    return svc
