"""The commands of one repository: reads at a ref, commits, landing on a remote."""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jitops.core.commits import LogCommit, PlannedCommit, own_entry
from jitops.doors.git._base import GIT_TIMEOUT, GitError, git_env
from jitops.doors.git.log import BlobStream, log_records

if TYPE_CHECKING:
    from jitops.core.trailers import LedgerEntry


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    kind: str  # blob | tree | commit
    sha: str

    @property
    def is_symlink(self) -> bool:
        return self.mode == "120000"


class Git:
    """Git commands run in one repository."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _proc(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run git; the caller looks at the return code. Raw command lines stay inside the
        door: callers ask the named questions below."""
        try:
            return subprocess.run(
                ["git", *args],
                cwd=self.root,
                input=input,
                capture_output=True,
                env=git_env(),
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("git is not installed; install git and try again") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT}s; try again") from None

    def _run(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        proc = self._proc(*args, input=input)
        if check and proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"git {args[0]} failed: {detail[-1] if detail else 'no output'}")
        return proc.stdout

    def _text(self, *args: str) -> str:
        return self._run(*args).decode("utf-8", "replace")

    # -- queries ---------------------------------------------------------------------------
    def is_repo(self) -> bool:
        proc = self._run("rev-parse", "--is-inside-work-tree", check=False)
        return proc.strip() == b"true"

    def toplevel(self) -> Path | None:
        """The top of the work tree this repository's root is in (None: not in git)."""
        out = self._run("rev-parse", "--show-toplevel", check=False).decode().strip()
        return Path(out) if out else None

    def rev_parse(self, ref: str) -> str | None:
        out = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return out.decode().strip() or None

    def ls_tree(self, ref: str, directory: str) -> list[TreeEntry]:
        """Entries directly inside ``directory`` at ``ref`` (empty when it does not exist)."""
        out = self._run("ls-tree", "-z", ref, "--", directory.rstrip("/") + "/")
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, sha = meta.decode().split()
            entries.append(TreeEntry(path.decode("utf-8", "replace"), mode, kind, sha))
        return entries

    def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Contents of many blobs in one ``git cat-file --batch`` process."""
        return {sha: data for sha, (_kind, data) in self._read_objects(shas).items()}

    def _read_objects(self, shas: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """``{sha: (type, contents)}`` of many objects in one ``git cat-file --batch``."""
        if not shas:
            return {}
        out = self._run("cat-file", "--batch", input=("\n".join(shas) + "\n").encode())
        objects: dict[str, tuple[str, bytes]] = {}
        pos = 0
        for sha in shas:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split()
            if len(header) < 3 or header[1] == "missing":
                raise GitError(f"object {sha} is missing from the repository")
            size = int(header[2])
            objects[sha] = (header[1], out[end + 1 : end + 1 + size])
            pos = end + 1 + size + 1
        return objects

    def files_in_trees(
        self, trees: Sequence[str], directory: str, suffix: str = ""
    ) -> dict[str, dict[str, bytes]]:
        """``{tree id: {directory/name: bytes}}``: the regular files directly in each of many
        trees (ids :meth:`resolve_many` found for ``rev:directory``), as :meth:`files_at` reads
        one, in two ``git cat-file --batch`` processes whatever their number (the trees, then
        every file they hold). An id that is not a tree holds no file."""
        unique = list(dict.fromkeys(trees))
        listed: dict[str, list[tuple[str, str]]] = {}
        for tree, (kind, data) in self._read_objects(unique).items():
            width = len(tree) // 2  # raw object ids: 20 bytes (SHA-1) or 32 (SHA-256)
            entries = listed[tree] = []
            pos = 0
            while kind == "tree" and pos < len(data):
                space = data.index(b" ", pos)
                nul = data.index(b"\0", space)
                mode, name = data[pos:space], data[space + 1 : nul].decode("utf-8", "replace")
                sha = data[nul + 1 : nul + 1 + width].hex()
                pos = nul + 1 + width
                # regular files only, as ls-tree's blobs minus symlinks (mode 120000)
                if mode.startswith(b"100") and name.endswith(suffix):
                    entries.append((f"{directory.rstrip('/')}/{name}", sha))
        blobs = self.read_blobs(list(dict.fromkeys(sha for e in listed.values() for _, sha in e)))
        return {tree: {path: blobs[sha] for path, sha in e} for tree, e in listed.items()}

    def files_at(self, ref: str, directory: str, suffix: str = "") -> dict[str, bytes]:
        """``{path: bytes}`` of the regular files directly in ``directory`` at ``ref``."""
        entries = [
            e
            for e in self.ls_tree(ref, directory)
            if e.kind == "blob" and not e.is_symlink and e.path.endswith(suffix)
        ]
        blobs = self.read_blobs([e.sha for e in entries])
        return {e.path: blobs[e.sha] for e in entries}

    def paths_ever_added(self, ref: str, directory: str) -> set[str]:
        """Every path ever added under ``directory`` in the history of ``ref``."""
        out = self._run(
            "log",
            "--no-renames",
            "--diff-filter=A",
            "--name-only",
            "--format=",
            "-z",
            ref,
            "--",
            directory.rstrip("/") + "/",
        )
        return {p.decode("utf-8", "replace") for p in out.split(b"\0") if p.strip()}

    # -- lifecycle queries --------------------------------------------------------------------
    def fetch(self, remote: str, branch: str) -> None:
        """Update ``remote/branch`` from the remote."""
        self._run(
            "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"
        )

    def changes_in_range(
        self, before: str | None, after: str, directory: str
    ) -> list[tuple[str, str, str]]:
        """``(status letter, path, sha)`` for every file change under ``directory`` made by
        the commits in ``before..after`` (first-parent view, oldest first). Without a usable
        ``before`` (a new branch), only ``after`` itself is considered."""
        zero = not before or set(before) == {"0"} or self.rev_parse(before) is None
        rev = [f"{after}^!"] if zero else [f"{before}..{after}"]
        out = self._run(
            "log",
            "--first-parent",
            "-m",
            "--reverse",
            "--no-renames",
            "--name-status",
            "-z",
            "--format=%x01%H",
            *rev,
            "--",
            directory.rstrip("/") + "/",
        )
        changes = []
        for chunk in out.split(b"\x01")[1:]:
            fields = chunk.split(b"\0")
            sha = fields[0].strip().decode()
            rest = [f for f in fields[1:] if f.strip()]
            for status, path in zip(rest[0::2], rest[1::2], strict=False):
                changes.append((status.strip().decode()[:1], path.decode("utf-8", "replace"), sha))
        return changes

    def last_commit_adding(self, ref: str, path: str) -> str | None:
        """The newest commit in ``ref``'s first-parent history that added ``path``."""
        out = self._text(
            "log", "--first-parent", "-m", "--diff-filter=A", "-1", "--format=%H", ref, "--", path
        )
        return out.strip() or None

    def ensure_commits(self, remote: str, shas: Sequence[str]) -> None:
        """Fetch any of ``shas`` this clone does not have yet (a shallow CI checkout)."""
        missing = [s for s in shas if self.rev_parse(s) is None]
        if missing:
            self._run("fetch", "-q", remote, *missing)

    def start_branch(self, name: str, start: str) -> None:
        """Check out a new local branch ``name`` at ``start`` (refuses to clobber one)."""
        if self.rev_parse(f"refs/heads/{name}") is not None:
            raise GitError(f"a branch {name} already exists here; delete it or pick another id")
        # --no-track: the request branch is not main's (``git pull`` on it then pulls its own
        # pushed branch once :meth:`push_branch` set it, instead of refusing to reconcile)
        self._run("checkout", "-q", "--no-track", "-b", name, start)

    def remote_url(self, remote: str = "origin") -> str | None:
        """The configured URL of ``remote`` as written in the config (``url.*.insteadOf``
        rewrites are not applied: the URL names the repository), None when not set."""
        proc = self._proc("config", "--get", f"remote.{remote}.url")
        return (
            proc.stdout.decode("utf-8", "replace").strip() or None if proc.returncode == 0 else None
        )

    def local_branches(self, prefix: str) -> list[str]:
        """Names (without ``prefix``) of the local branches starting with ``prefix``."""
        out = self._text("for-each-ref", "--format=%(refname:short)", f"refs/heads/{prefix}")
        return [b.removeprefix(prefix) for b in out.split()]

    def push_branch(self, remote: str, name: str) -> None:
        """Push HEAD as ``name`` and make it the current branch's upstream."""
        self._run("push", "-q", "--set-upstream", remote, f"HEAD:refs/heads/{name}")

    def message(self, sha: str) -> str:
        """The full commit message of ``sha``."""
        return self._text("log", "-1", "--format=%B", sha)

    def find_trailer(self, ref: str, key: str, value: str, action: str) -> list[str]:
        """Commits in ``ref`` carrying both ``key: value`` and ``Jitops-Action: action``."""
        out = self._text(
            "log",
            ref,
            "--format=%H",
            "-E",
            "--all-match",
            f"--grep=^{re.escape(key)}: {re.escape(value)}$",
            f"--grep=^Jitops-Action: {re.escape(action)}$",
        )
        return out.split()

    def first_parent_with_trailer(
        self, ref: str, key: str, action: str, since: datetime
    ) -> list[str]:
        """Commits on ``ref``'s first-parent line since ``since``, newest first, whose message
        carries a ``key:`` trailer line and ``Jitops-Action: action`` (their shape only)."""
        out = self._text(
            "log",
            "--first-parent",
            "--format=%H",
            "-E",
            "--all-match",
            f"--grep=^{re.escape(key)}: ",
            f"--grep=^Jitops-Action: {re.escape(action)}$",
            f"--since={since.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            ref,
        )
        return out.split()

    def ledger_commits_about(self, ref: str, grant_id: str) -> list[str]:
        """Commits on ``ref``'s first-parent line, newest first, whose message carries
        ``Jitops-Grant: grant_id`` and a ledger action (issue, deny, expire, revoke): the
        candidates for jitops' own record of that grant. Only their shape was matched; whether
        each is jitops' own is :meth:`jitops_entry`'s and the caller's to decide."""
        out = self._text(
            "log",
            "--first-parent",
            "--format=%H",
            "-E",
            "--all-match",
            f"--grep=^Jitops-Grant: {re.escape(grant_id)}$",
            "--grep=^Jitops-Action: (issue|deny|expire|revoke|unratified)$",
            ref,
        )
        return out.split()

    def jitops_entry(self, sha: str) -> LedgerEntry | None:
        """The ledger entry of commit ``sha`` when it is one of jitops' own commits (the rule
        audit applies, :func:`jitops.core.commits.own_entry`); None for any other commit, whatever
        trailers its message carries (a pull request's author writes those)."""
        if self.rev_parse(sha) is None:
            return None
        for c in log_records(self.root, sha, limit=1):
            return own_entry(c)
        return None

    def recorded(self, ref: str, grant_id: str, action: str) -> bool:
        """Whether jitops itself recorded ``action`` for ``grant_id`` in ``ref``'s history
        (commits that merely carry such trailers do not count)."""
        for sha in self.find_trailer(ref, "Jitops-Grant", grant_id, action):
            entry = self.jitops_entry(sha)
            if entry is not None and entry.grant == grant_id and entry.action == action:
                return True
        return False

    def show(self, ref: str, path: str) -> bytes | None:
        """Contents of ``path`` at ``ref`` (None when it does not exist there)."""
        proc = self._proc("cat-file", "blob", f"{ref}:{path}")
        return proc.stdout if proc.returncode == 0 else None

    # -- the ledger's questions (how a grant file landed, what jitops recorded) ---------------
    def first_parent_line(self, tip: str, since: str) -> list[str]:
        """Commits on ``tip``'s first-parent line from ``since`` (included) to ``tip``, newest
        first: what ``since``'s parents do not reach."""
        return self._text("rev-list", "--first-parent", tip, "--not", f"{since}^@").split()

    def first_parent_touching(self, tip: str, directory: str, limit: int) -> list[str]:
        """The newest ``limit`` commits on ``tip``'s first-parent line that change
        ``directory``, newest first."""
        return self._text(
            "rev-list", "--first-parent", "-n", str(limit), tip, "--", directory
        ).split()

    def commits_not_in(self, head: str, base: str, *, merges: bool = True) -> list[str]:
        """Commits of ``head``'s history that ``base`` does not reach (``merges=False``: only
        the non-merge ones), newest first."""
        only = [] if merges else ["--no-merges"]
        return self._text("rev-list", *only, head, "--not", base).split()

    def parents(self, sha: str) -> list[str]:
        """The parents of commit ``sha``, the first parent first."""
        return self._text("rev-list", "--parents", "-n", "1", sha).split()[1:]

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        """Whether ``older`` is in ``newer``'s history (None: git cannot tell)."""
        code = self._proc("merge-base", "--is-ancestor", older, newer).returncode
        return None if code not in (0, 1) else code == 0

    def merge_bases(self, one: str, other: str) -> list[str]:
        """Every best common ancestor of ``one`` and ``other``."""
        return self._text("merge-base", "--all", one, other).split()

    def commit_time(self, sha: str) -> datetime:
        """When ``sha`` was committed (its committer date)."""
        return datetime.fromtimestamp(
            int(self._text("log", "-1", "--format=%ct", sha).strip()), UTC
        )

    #: author, author date (raw) and whole message of a commit, each record ended by \x01
    _AUTHORSHIP = "--format=%an%x00%ae%x00%ad%x00%B%x01"

    def authorship(self, sha: str) -> bytes:
        """The author, author date and message of ``sha`` (what a rebase keeps)."""
        out = self._run("log", "-1", "--date=raw", self._AUTHORSHIP, sha)
        return out.split(b"\x01")[0].strip()

    def authorships(self, head: str, base: str) -> set[bytes]:
        """:meth:`authorship` of every non-merge commit of ``head`` that ``base`` does not
        reach."""
        out = self._run("log", "--no-merges", "--date=raw", self._AUTHORSHIP, head, "--not", base)
        return {c.strip() for c in out.split(b"\x01")}

    def changed_paths(self, old: str, new: str) -> set[tuple[bytes, str, str]]:
        """``(path, new mode, new blob)`` of each path ``old..new`` changes (zeros: deleted)."""
        raw = self._run("diff", "--raw", "-z", "--no-renames", "--no-abbrev", old, new)
        fields = raw.split(b"\0")
        out = set()
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            parts = meta.decode("ascii", "replace").lstrip(":").split()
            if len(parts) == 5:
                out.add((path, parts[1], parts[3]))
        return out

    def deletions_since(self, tip: str, directory: str, since: datetime) -> list[tuple[str, str]]:
        """``(path, sha)`` of every file under ``directory`` deleted on ``tip``'s first-parent
        line by a commit made after ``since``, oldest first (merges against their first
        parent)."""
        out = self._run(
            "log",
            "--first-parent",
            "-m",
            "--reverse",
            "--no-renames",
            "--diff-filter=D",
            "--name-only",
            "-z",
            "--format=%x01%H",
            f"--since={since.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            tip,
            "--",
            f"{directory.rstrip('/')}/",
        )
        found = []
        for chunk in out.split(b"\x01")[1:]:
            fields = [f for f in chunk.split(b"\0") if f.strip()]
            if not fields:
                continue
            head = fields[0].decode().split()
            sha, paths = head[0], [head[1]] if len(head) > 1 else []
            paths += [f.decode("utf-8", "replace").strip() for f in fields[1:]]
            found += [(path, sha) for path in paths]
        return found

    # -- writing the ledger -------------------------------------------------------------------
    def commit(
        self, changes: Mapping[str, bytes | None], message: str, *, sign: Sequence[str] = ()
    ) -> str:
        """Write ``changes`` (None deletes) into the work tree, stage exactly those paths and
        commit them (an empty commit when there are none). Returns the new sha. ``sign`` is
        the per-command configuration from :func:`signing` (empty: unsigned, unless the
        repository's own configuration signs)."""
        for path, data in changes.items():
            full = self.root / path
            if data is None:
                if full.exists() or full.is_symlink():
                    self._run("rm", "-q", "--", path)
            else:
                full.parent.mkdir(parents=True, exist_ok=True)
                full.write_bytes(data)
                self._run("add", "--", path)
        env_identity = []
        for key, default in (("name", BOT_NAME), ("email", BOT_EMAIL)):
            if not self._run("config", f"user.{key}", check=False).strip():
                env_identity += ["-c", f"user.{key}={default}"]
        self._run(
            *env_identity,
            *sign,
            "commit",
            "-q",
            "--allow-empty",
            "--no-verify",
            "-F",
            "-",
            input=message.encode("utf-8"),
        )
        return self._text("rev-parse", "HEAD").strip()

    def land(
        self,
        remote: str,
        branch: str,
        build: Callable[[Git], Sequence[PlannedCommit]],
        *,
        attempts: int = 5,
    ) -> list[str]:
        """Make the commits ``build`` plans on the fresh tip of ``remote/branch`` and push them
        in one push. On a race (someone pushed first) fetch, rebuild and retry, bounded."""
        with signing() as sign:
            for attempt in range(1, attempts + 1):
                self.fetch(remote, branch)
                # in full: a tag named ``origin/main`` (any writer can push one, and
                # actions/checkout fetches tags) would win over a short name
                tracking = f"refs/remotes/{remote}/{branch}"
                self._run("checkout", "-q", "-f", "-B", branch, tracking)
                planned = build(self)
                if not planned:
                    return []
                shas = [self.commit(p.changes, p.message, sign=sign) for p in planned]
                proc = self._proc("push", "-q", remote, f"HEAD:refs/heads/{branch}")
                if proc.returncode == 0:
                    return shas
                said = proc.stderr.decode("utf-8", "replace")
                if refused_by_rule(said):
                    raise PushRefused(
                        f"GitHub refused jitops' push to {remote}/{branch} by a rule, not a "
                        f"race ({_rule_lines(said)}): a ruleset or branch protection forbids "
                        "the bot's direct push; add the jitops GitHub App to the bypass list of "
                        f"the rules on {branch} (docs/setup.md), then run the job again"
                    )
                if not any(w in said for w in ("non-fast-forward", "fetch first", "rejected")):
                    raise GitError(f"git push to {remote}/{branch} failed: {said.strip()[-300:]}")
                time.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
        raise PushRejected(
            f"could not push to {remote}/{branch} after {attempts} attempts: others kept pushing "
            "first; run the job again (it is safe to re-run)"
        )

    def log_records(self, ref: str, directory: str = "") -> Generator[LogCommit, None, None]:
        """Commits of ``ref``'s first-parent history, oldest first, streamed from one ``git log``
        (see :func:`jitops.doors.git.log.log_records`); nothing when ``ref`` does not exist."""
        if self.rev_parse(ref) is None:
            return
        yield from log_records(self.root, ref, directory)

    def resolve_many(self, names: Sequence[str]) -> dict[str, str | None]:
        """``{name: object id or None}`` for many revision expressions (``sha^1:dir``) in one
        ``git cat-file --batch-check`` process."""
        if not names:
            return {}
        if any("\n" in n for n in names):
            raise GitError("a revision name cannot contain a newline")
        data = ("\n".join(names) + "\n").encode()
        out = self._run("cat-file", "--batch-check", input=data).decode("utf-8", "replace")
        lines = out.splitlines()
        found: dict[str, str | None] = {}
        for name, line in zip(names, lines, strict=False):
            parts = line.split()
            found[name] = parts[0] if len(parts) == 3 and parts[1] != "missing" else None
        return found

    def signatures(self, shas: Sequence[str], allowed_signers: Path) -> dict[str, str]:
        """``{sha: git's signature letter}`` for ``shas``, checked against an SSH allowed
        signers file (``G`` good and allowed; ``U`` good but the key is not allowed; ``B``
        bad; ``N`` none; ``E`` cannot be checked...), in one ``git log --no-walk``."""
        if not shas:
            return {}
        out = self._run(
            "-c",
            f"gpg.ssh.allowedSignersFile={Path(allowed_signers).resolve()}",
            "log",
            "--no-walk=unsorted",
            "--stdin",
            "--format=%H %G?",
            input=("\n".join(shas) + "\n").encode(),
        ).decode("ascii", "replace")
        found = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        return {sha: found.get(sha, "N").strip() or "N" for sha in shas}

    def commit_times(self, shas: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``{sha: (author time, committer time)}`` (Unix seconds) of ``shas``, in one
        ``git log --no-walk``; commits this clone does not have are left out."""
        if not shas:
            return {}
        out = self._proc(
            "log",
            "--no-walk=unsorted",
            "--ignore-missing",
            "--stdin",
            "--format=%H %at %ct",
            input=("\n".join(shas) + "\n").encode(),
        ).stdout.decode("ascii", "replace")
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                found[parts[0]] = (int(parts[1]), int(parts[2]))
        return found

    def blob_stream(self) -> BlobStream:
        """A ``git cat-file --batch`` that reads blobs while the caller is still finding them
        (e.g. during :meth:`log_records`); :meth:`BlobStream.finish` returns the contents."""
        return BlobStream(self.root)


class PushRejected(GitError):
    """The remote kept moving; nothing was lost, the run can be repeated."""


class PushRefused(GitError):
    """GitHub refused the push by a rule (a ruleset or branch protection), not a race:
    running again changes nothing until an admin changes the rule."""


#: what GitHub's server says when a rule refuses a push ("remote: error: GH013: Repository
#: rule violations found for refs/heads/main.", "GH006: Protected branch update failed"; git
#: then shows "! [remote rejected] ... (push declined due to repository rule violations)" or
#: "(protected branch hook declined)"); docs.github.com, "Troubleshooting rules" and "About
#: protected branches"
_RULE_MARKERS = (
    "GH013",
    "GH006",
    "repository rule violations",
    "protected branch hook declined",
    "protected branch update failed",
)


def refused_by_rule(stderr: str) -> bool:
    """Whether a failed ``git push``'s stderr is GitHub refusing it by a rule (not a race)."""
    lowered = stderr.lower()
    return "remote rejected" in lowered and any(m.lower() in lowered for m in _RULE_MARKERS)


def _rule_lines(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("remote:")]
    shown = " ".join(ln.removeprefix("remote:").strip() for ln in lines if ln != "remote:")
    return (shown or stderr.strip())[-300:]


#: The bot's SSH signing key: the private key itself (OpenSSH format) or a path to it.
SIGNING_KEY_ENV = "JITOPS_SIGNING_KEY"


@contextlib.contextmanager
def signing(env: Mapping[str, str] | None = None) -> Iterator[list[str]]:
    """Per-command git configuration that signs commits with the key in ``JITOPS_SIGNING_KEY``
    (empty when it is unset). Key material is written only to a private temporary file
    (mode 0600) that is removed afterwards; nothing is set in any git configuration file.

    Set means sign: a variable that is set but empty (GitHub gives an empty string for a
    secret that does not exist in the job's environment) or a key ssh-keygen cannot sign with
    is an error before anything is committed, never a silently unsigned ledger."""
    source = os.environ if env is None else env
    if SIGNING_KEY_ENV not in source:
        yield []
        return
    value = source[SIGNING_KEY_ENV].strip()
    if not value:
        raise GitError(
            f"{SIGNING_KEY_ENV} is set but empty, so jitops would commit unsigned; store the "
            "bot's SSH private key in that secret of the job's environment, or remove the "
            f"variable from the workflow to commit unsigned (docs/signing.md)"
        )
    if "PRIVATE KEY-----" not in value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise GitError(
                f"{SIGNING_KEY_ENV} names no file and holds no private key; set it to the "
                "bot's SSH private key (OpenSSH format) or to the path of that key"
            )
        _check_key(path)
        yield _sign_args(path)
        return
    fd, name = tempfile.mkstemp(prefix="jitops-sign-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value.replace("\r\n", "\n") + "\n")
        _check_key(Path(name))
        yield _sign_args(Path(name))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def check_signing(env: Mapping[str, str] | None = None) -> bool:
    """Raise :class:`GitError` now when ``JITOPS_SIGNING_KEY`` is set but cannot sign (see
    :func:`signing`), so a run fails before it changes anything. True when commits will be
    signed."""
    with signing(env) as sign:
        return bool(sign)


def _check_key(key: Path) -> None:
    """Sign a fixed text with ``key`` the way git will (``ssh-keygen -Y sign``, namespace
    ``git``); a key that cannot sign is a clear error, not a failed commit later. ssh-keygen
    runs without a terminal, so a key with a passphrase fails instead of prompting."""
    try:
        proc = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(key)],
            input=b"jitops signing check\n",
            capture_output=True,
            timeout=30,
            start_new_session=True,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(
            f"cannot check the key in {SIGNING_KEY_ENV}: ssh-keygen did not run ({exc}); "
            "install OpenSSH's ssh-keygen (git signs with it) or remove the variable"
        ) from None
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        said = proc.stderr.decode("utf-8", "replace").strip().replace(str(key), "<key>")
        raise GitError(
            f"{SIGNING_KEY_ENV} does not hold a key ssh-keygen can sign with ({said[-200:]}); "
            "set it to the bot's SSH private key in OpenSSH format, without a passphrase "
            "(docs/signing.md)"
        )


def _sign_args(key: Path) -> list[str]:
    return [
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={key}",
        "-c",
        "commit.gpgsign=true",
    ]


BOT_NAME = "jitops[bot]"
BOT_EMAIL = "jitops-bot@users.noreply.github.com"


def find_root(start: Path) -> Path | None:
    """The top of the git work tree containing ``start``, or None outside git."""
    return Git(start).toplevel()
