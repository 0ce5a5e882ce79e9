"""The stand-in's repository: a real bare git repository, driven with real ``git`` plumbing.

Nothing that can change is cached: every question about a branch (its tip, a merge base, a
diff) is asked of the bare repository when it is needed, so pushes made with plain ``git push``
are seen at once. Only the commits between two full commit ids are remembered (an answer that
cannot change), which keeps `commits/{sha}/pulls` fast with thousands of merged pull requests.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jitops_sandbox.github.errors import SandboxError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied"}


@dataclass(frozen=True)
class Identity:
    """Who a commit is by: ``name <email>`` at ``when``."""

    name: str
    email: str
    when: datetime


@dataclass(frozen=True)
class DiffEntry:
    """One file of a diff, in the terms of GitHub's ``diff-entry`` schema."""

    filename: str
    status: str  # added | removed | modified | renamed | copied | changed
    previous_filename: str | None
    sha: str
    additions: int
    deletions: int
    patch: str | None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


class BareRepo:
    """A bare git repository on disk; every method runs real git against it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._between: dict[tuple[str, str], list[str]] = {}

    # -- plumbing ---------------------------------------------------------------------------

    def run(
        self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        if env:
            full_env.update(env)
        return subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=60,
            check=False,
        )

    def git(
        self,
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        proc = self.run(*args, input=input, env=env)
        if check and proc.returncode != 0:
            raise SandboxError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    @classmethod
    def create(cls, path: Path) -> BareRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", "main", str(path)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        repo = cls(path)
        repo.git("config", "receive.denyCurrentBranch", "ignore")
        return repo

    # -- refs -------------------------------------------------------------------------------

    def resolve(self, rev: str) -> str | None:
        """The full sha of a commit named by ``rev`` (sha, short sha or branch), or None."""
        if rev.startswith("-"):
            return None
        out = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return out.strip() or None

    def branch_sha(self, branch: str) -> str | None:
        if branch.startswith("-"):
            return None
        out = self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        return out.strip() or None

    def branches(self) -> list[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads/")
        return [line for line in out.splitlines() if line]

    def set_branch(self, branch: str, sha: str, old: str | None = None) -> None:
        args = ["update-ref", f"refs/heads/{branch}", sha]
        if old is not None:
            args.append(old)
        self.git(*args)

    def delete_branch(self, branch: str) -> None:
        self.git("update-ref", "-d", f"refs/heads/{branch}")

    def merge_base(self, a: str, b: str) -> str | None:
        out = self.git("merge-base", a, b, check=False)
        return out.strip() or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant).returncode == 0

    def commits_between(self, base: str, head: str) -> list[str]:
        """Commits reachable from ``head`` and not from ``base``, newest first."""
        key = (base, head)
        if key in self._between:
            return list(self._between[key])
        out = self.git("rev-list", f"{base}..{head}").split()
        if all(len(s) == 40 and all(c in "0123456789abcdef" for c in s) for s in key):
            self._between[key] = out  # two commit ids: the answer never changes
        return list(out)

    # -- commits ----------------------------------------------------------------------------

    def commit_info(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        out = self.git("show", "-s", f"--format={fmt}", sha)
        f = out.split("\x00")
        return CommitInfo(
            sha=f[0],
            tree=f[1],
            parents=tuple(f[2].split()),
            author_name=f[3],
            author_email=f[4],
            author_date=f[5],
            committer_name=f[6],
            committer_email=f[7],
            committer_date=f[8],
            message=f[9].rstrip("\n"),
        )

    def read_file(self, rev: str, path: str) -> str | None:
        proc = self.run("show", f"{rev}:{path}")
        return proc.stdout if proc.returncode == 0 else None

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Identity,
        committer: Identity | None = None,
    ) -> str:
        committer = committer or author
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": author.when.isoformat(),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": committer.when.isoformat(),
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.git(*args, input=message, env=env).strip()

    def commit_files(
        self,
        branch: str,
        files: Mapping[str, str | None],
        message: str,
        author: Identity,
    ) -> str:
        """Commit ``files`` (path -> text, None deletes) on top of ``branch``; returns the sha.

        The branch is created (as a root commit) when it does not exist yet.
        """
        parent = self.branch_sha(branch)
        with tempfile.TemporaryDirectory(prefix="gh-sandbox-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self.git("read-tree", parent, env=env)
            lines = []
            for path, text in files.items():
                if text is None:  # mode 0 removes the entry
                    lines.append(f"0 {'0' * 40}\t{path}\n")
                    continue
                blob = self.git("hash-object", "-w", "--stdin", input=text).strip()
                lines.append(f"100644 {blob}\t{path}\n")
            self.git("update-index", "--index-info", input="".join(lines), env=env)
            tree = self.git("write-tree", env=env).strip()
        sha = self.commit_tree(tree, [parent] if parent else [], message, author)
        self.set_branch(branch, sha, parent or "0" * 40)
        return sha

    def merge_no_ff(
        self, base_branch: str, head_sha: str, message: str, author: Identity, committer: Identity
    ) -> str:
        """Create a real two-parent merge commit of ``head_sha`` into ``base_branch``."""
        base_sha = self.branch_sha(base_branch)
        if base_sha is None:
            raise SandboxError(f"base branch {base_branch} does not exist")
        proc = self.run("merge-tree", "--write-tree", base_sha, head_sha)
        if proc.returncode != 0:
            raise SandboxError(f"merge conflict merging {head_sha[:7]} into {base_branch}")
        tree = proc.stdout.split()[0]
        sha = self.commit_tree(tree, [base_sha, head_sha], message, author, committer)
        self.set_branch(base_branch, sha, base_sha)
        return sha

    def squash(
        self, base_branch: str, head_sha: str, message: str, author: Identity, committer: Identity
    ) -> str:
        """One new commit on the tip of ``base_branch`` with the PR's net change, one parent."""
        base_sha = self.branch_sha(base_branch)
        if base_sha is None:
            raise SandboxError(f"base branch {base_branch} does not exist")
        proc = self.run("merge-tree", "--write-tree", base_sha, head_sha)
        if proc.returncode != 0:
            raise SandboxError(f"merge conflict squashing {head_sha[:7]} into {base_branch}")
        tree = proc.stdout.split()[0]
        sha = self.commit_tree(tree, [base_sha], message, author, committer)
        self.set_branch(base_branch, sha, base_sha)
        return sha

    def rebase(self, base_branch: str, base: str, head_sha: str, committer: Identity) -> list[str]:
        """Replay the non-merge commits of ``base..head_sha`` onto the tip of ``base_branch``,
        oldest first, keeping each author and message, with a new committer (so new shas, as
        GitHub's "Rebase and merge" always does); moves the branch; returns the new shas."""
        tip = self.branch_sha(base_branch)
        if tip is None:
            raise SandboxError(f"base branch {base_branch} does not exist")
        original = tip
        out = self.git("rev-list", "--reverse", "--no-merges", f"{base}..{head_sha}")
        replayed = []
        for sha in out.split():
            info = self.commit_info(sha)
            parent = info.parents[0]
            # a cherry-pick with git 2.38+'s merge-tree: a scratch commit with the tip's tree on
            # the picked commit's parent makes that parent the merge base of the 3-way merge
            tip_tree = self.git("rev-parse", f"{tip}^{{tree}}").strip()
            scratch = self.commit_tree(tip_tree, [parent], "scratch", committer)
            proc = self.run("merge-tree", "--write-tree", scratch, sha)
            if proc.returncode != 0:
                raise SandboxError(f"conflict replaying {sha[:7]} onto {base_branch}")
            tree = proc.stdout.split()[0]
            author = Identity(info.author_name, info.author_email, _parse_date(info.author_date))
            message = info.message + "\n"
            tip = self.commit_tree(tree, [tip], message, author, committer)
            replayed.append(tip)
        if not replayed:
            raise SandboxError(f"nothing to rebase from {head_sha[:7]} onto {base_branch}")
        self.set_branch(base_branch, tip, original)
        return replayed

    # -- diffs ------------------------------------------------------------------------------

    def diff(self, base: str | None, head: str) -> list[DiffEntry]:
        """``git diff -M base head`` as GitHub diff entries (``base`` None: the empty tree)."""
        old = base or EMPTY_TREE
        raw = self.git("diff", "--raw", "-M", "-z", "--no-abbrev", old, head).split("\x00")
        entries: list[tuple[str, str, str | None, str, str]] = []
        i = 0
        while i < len(raw) - 1:
            meta = raw[i].lstrip(":").split()
            letter = meta[4][0]
            if letter in "RC":
                entries.append((letter, raw[i + 2], raw[i + 1], meta[2], meta[3]))
                i += 3
            else:
                entries.append((letter, raw[i + 1], None, meta[2], meta[3]))
                i += 2
        numstat = self.git("diff", "--numstat", "-M", "-z", old, head).split("\x00")
        counts: list[tuple[int, int]] = []
        j = 0
        while j < len(numstat) - 1:
            adds, dels, path = numstat[j].split("\t", 2)
            counts.append((int(adds) if adds != "-" else 0, int(dels) if dels != "-" else 0))
            j += 1 if path else 3
        patches = _split_patch(self.git("diff", "-M", "--no-color", "--no-ext-diff", old, head))
        result = []
        for n, (letter, path, previous, old_blob, new_blob) in enumerate(entries):
            added, deleted = counts[n] if n < len(counts) else (0, 0)
            result.append(
                DiffEntry(
                    filename=path,
                    status=_STATUS.get(letter, "changed"),
                    previous_filename=previous,
                    sha=old_blob if letter == "D" else new_blob,
                    additions=added,
                    deletions=deleted,
                    patch=patches[n] if n < len(patches) else None,
                )
            )
        return result


def _parse_date(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _split_patch(text: str) -> list[str | None]:
    """Split a full ``git diff`` into per-file hunks, dropping the headers like GitHub does."""
    chunks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("diff --git "):
            chunks.append([])
        elif chunks:
            chunks[-1].append(line)
    out: list[str | None] = []
    for chunk in chunks:
        start = next((k for k, line in enumerate(chunk) if line.startswith("@@")), None)
        out.append("\n".join(chunk[start:]) if start is not None else None)
    return out
