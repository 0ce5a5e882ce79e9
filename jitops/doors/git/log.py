"""Reading history: one streaming ``git log``, and one ``git cat-file --batch`` fed meanwhile."""

from __future__ import annotations

import contextlib
import operator
import secrets
import subprocess
import threading
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path

from jitops.core.commits import LogCommit
from jitops.doors.git._base import GIT_TIMEOUT, GitError, git_env


def log_records(
    root: Path, ref: str, directory: str = "", *, limit: int | None = None
) -> Generator[LogCommit, None, None]:
    """Commits of ``ref``'s first-parent history, oldest first, parsed while ONE ``git log``
    process streams them (merges diffed against their first parent).

    Git itself parses the trailers (``%(trailers)``), so only the subject and the
    ``Jitops-*`` trailer lines cross the pipe, not whole messages. Records and fields are
    separated by markers with a random part chosen per run, so no commit message (written
    before the run) can forge a boundary; messages are decoded with replacement. A record
    that still cannot be read is skipped with ``LogCommit.unreadable`` set, never raised.
    ``directory`` (optional) limits the walk to commits touching it; ``limit`` to the newest
    ``limit`` commits (still yielded oldest first)."""
    nonce = secrets.token_hex(8)
    rec_sep, field_sep = f"\x1e{nonce}", f"\x1f{nonce}"
    fmt = f"%x1e{nonce}" + f"%x1f{nonce}".join(
        (
            "%H",
            "%P",
            "%ct",
            "%s",
            "%(trailers:only,unfold,separator=%x1d,key_value_separator=%x1c)",
            "",
        )
    )
    cmd = [
        "git",
        "log",
        "--reverse",
        "--first-parent",
        "-m",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        f"--format={fmt}",
        *([f"--max-count={limit}"] if limit is not None else []),
        ref,
    ]
    # By default no pathspec: git's path filtering costs more than skipping, here, the few
    # commits of an access repository that do not touch grants/ (callers filter changes).
    if directory:
        cmd += ["--", directory.rstrip("/") + "/"]
    proc = subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=git_env()
    )
    assert proc.stdout is not None
    _widen_pipe(proc.stdout.fileno())
    sep = rec_sep.encode()
    pending = b""
    try:
        while chunk := proc.stdout.read(1 << 16):
            pending += chunk
            *done, pending = pending.split(sep)
            for record in done:
                if record.strip():
                    yield _parse_log_record(record, field_sep)
        if pending.strip():
            yield _parse_log_record(pending, field_sep)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()  # the reader stopped early
        proc.wait(timeout=GIT_TIMEOUT)
    if proc.returncode not in (0, -9):
        raise GitError(f"git log {ref} failed (exit {proc.returncode}); is the clone complete?")


class BlobStream:
    """Blobs requested one by one from ONE ``git cat-file --batch`` process; a thread drains
    its output so git works alongside the caller. Use :meth:`finish` (or :meth:`close`)."""

    def __init__(self, root: Path) -> None:
        self._order: list[str] = []
        self._data = b""
        try:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=git_env(),
            )
        except FileNotFoundError:
            raise GitError("git is not installed; install git and try again") from None
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self._proc.stdout is not None
        self._data = self._proc.stdout.read()

    def request(self, sha: str) -> None:
        assert self._proc.stdin is not None
        self._order.append(sha)
        with contextlib.suppress(BrokenPipeError):  # a dead git is reported by finish()
            self._proc.stdin.write(sha.encode("ascii", "replace") + b"\n")

    def finish(self) -> dict[str, bytes]:
        """``{sha: contents}`` of every requested blob (GitError when one is missing)."""
        self.close()
        out, blobs, pos = self._data, {}, 0
        for sha in self._order:
            end = out.find(b"\n", pos)
            header = out[pos:end].decode("utf-8", "replace").split() if end >= 0 else []
            if len(header) < 3 or header[1] == "missing":
                raise GitError(
                    f"object {sha} is missing from the repository; fetch the full "
                    "history (git fetch --unshallow) and try again"
                )
            size = int(header[2])
            blobs[sha] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return blobs

    def close(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        self._thread.join(timeout=GIT_TIMEOUT)
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=GIT_TIMEOUT)


_EPOCH = datetime.fromtimestamp(0, UTC)


def _widen_pipe(fd: int) -> None:
    """Let git run ahead of the reader (Linux: a 1 MiB pipe instead of 64 KiB)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


_PAIR = operator.methodcaller("split", "\x1c", 1)


def _trailers(text: str) -> dict[str, str]:
    """``Key\x1cvalue`` pairs separated by ``\x1d`` (as git printed them) to a dict."""
    if not text:
        return {}
    try:
        return dict(map(_PAIR, text.split("\x1d")))
    except ValueError:  # a pair without its separator: take the well-formed ones
        return dict(t.split("\x1c", 1) for t in text.split("\x1d") if "\x1c" in t)


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(path: str) -> str:
    """A path as git prints it: names with control characters, quotes or backslashes come
    C-quoted (``"grants/a\\nb.yaml"``, octal escapes for bytes); anything else as is."""
    if len(path) < 2 or path[0] != '"' or path[-1] != '"':
        return path
    out, i, body = bytearray(), 0, path[1:-1]
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
        elif body[i + 1] in _C_ESCAPES:
            out.append(_C_ESCAPES[body[i + 1]])
            i += 2
        elif body[i + 1 : i + 4].isdigit():
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            out += body[i + 1].encode("utf-8", "surrogateescape")
            i += 2
    return out.decode("utf-8", "replace")


def _parse_log_record(record: bytes, field_sep: str) -> LogCommit:
    fields = record.decode("utf-8", "replace").split(field_sep)
    if len(fields) != 6:
        sha = fields[0].strip()[:40]
        return LogCommit(sha or "?", _EPOCH, "", {}, (), unreadable=True)
    sha, parents, stamp, subject, trailers, raw = fields
    changes = []
    for line in raw.splitlines():
        if line[:1] != ":":
            continue
        meta, _, path = line.partition("\t")
        parts = meta.split(" ")
        if len(parts) < 5 or not path:
            continue
        status = parts[4][:1]
        if path[0] == '"':
            path = _unquote(path)
        changes.append((status, path, parts[2] if status == "D" else parts[3]))
    try:
        when = datetime.fromtimestamp(int(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        when = _EPOCH
    return LogCommit(
        sha.strip(),
        when,
        subject,
        _trailers(trailers),
        tuple(changes),
        tuple(parents.split()),
    )
