"""`jitops audit usage`'s reads: Vault/OpenBao audit log files, and the git ledger.

Files are read here (plain, gzip, several rotated files, a last line cut off mid-write); what
each line means and which grant it belongs to is :mod:`jitops.audit.usage`.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jitops.audit import usage
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.audit import load_history

_GZIP_MAGIC = b"\x1f\x8b"
_RESPONSE = b'"type":"response"'


class AuditLogError(JitopsError):
    """An audit log file cannot be used at all."""


@dataclass
class LogRead:
    """What reading the files said about them (for the report's notes)."""

    notes: list[str] = field(default_factory=list)
    lines: int = 0
    start: datetime | None = None  # the earliest first entry and latest last entry of the files
    end: datetime | None = None

    def saw(self, line: bytes | None) -> None:
        """Widen the span by the time of ``line`` (an entry's first key is its time)."""
        if not line:
            return
        head = line[:64]
        at = head.find(b'"time":"')
        if at == -1:
            return
        try:
            when = usage.parse_time(head[at + 8 : head.find(b'"', at + 8)].decode())
        except (ValueError, UnicodeDecodeError):
            return
        self.start = min(self.start, when) if self.start else when
        self.end = max(self.end, when) if self.end else when


def read_events(paths: Sequence[Path], read: LogRead) -> Iterator[usage.Event]:
    """The grant requests of every file, in the order given (rotated files in any order:
    attribution does not depend on it)."""
    for path in paths:
        yield from _read_file(path, read)


def _open(path: Path) -> io.BufferedIOBase:
    try:
        with path.open("rb") as probe:
            magic = probe.read(2)
        if magic == _GZIP_MAGIC:
            return gzip.GzipFile(path, "rb")
        return path.open("rb")
    except OSError as exc:
        raise AuditLogError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the path"
        ) from None


def _read_file(path: Path, read: LogRead) -> Iterator[usage.Event]:
    bad = 0
    first_bad = 0
    n = 0
    last = b""
    with _open(path) as stream:
        try:
            for n, line in enumerate(stream, 1):
                if n == 1:
                    _check_first(path, line)
                    read.saw(line)
                if not line.endswith(b"\n") and not _whole(line):  # only the last line can
                    read.notes.append(_cut(path))
                    continue
                last = line
                if usage.MARKER not in line or line.find(_RESPONSE, 0, 96) != -1:
                    continue
                try:
                    event = usage.event_from_line(line)
                except usage.LineError:
                    bad += 1
                    first_bad = first_bad or n
                    continue
                if event is not None:
                    yield event
        except EOFError:
            read.notes.append(
                f"{path}: the gzip stream ends early (the file was cut); the {n} lines before "
                "the cut were used"
            )
        except (gzip.BadGzipFile, zlib.error):
            raise AuditLogError(
                f"{path}: damaged gzip data after line {n}; decompress what is readable "
                "(zcat) and give that file"
            ) from None
    read.saw(last)
    read.lines += n
    if n == 0:
        read.notes.append(f"{path}: the file is empty")
    if bad:
        read.notes.append(
            f"{path}: {bad} line{'s' if bad != 1 else ''} naming a grant are not audit entries "
            f"(first at line {first_bad}); skipped"
        )


def _check_first(path: Path, line: bytes) -> None:
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not (isinstance(entry, dict) and "time" in entry and "type" in entry):
        if not line.endswith(b"\n"):  # a one-line file cut off: say that, not "not a log"
            return
        raise AuditLogError(
            f"{path}: not a Vault/OpenBao file audit log (its first line is not a JSON audit "
            "entry); give the file_path of a file audit device (JSON format), plain or gzip"
        )


def _whole(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _cut(path: Path) -> str:
    return (
        f"{path}: the last line is cut off (the log was being written, or the file was "
        "truncated); it was skipped and the rest used"
    )


def usage_report(
    git: Git,
    ref: str,
    logs: Sequence[Path],
    *,
    since: datetime | None = None,
    now: datetime | None = None,
) -> usage.UsageReport:
    """The ledger at ``ref`` and the audit logs, attributed."""
    history = load_history(git, ref)
    read = LogRead()
    events = list(read_events(logs, read))
    report = usage.attribute(
        events, history.records, since=since, now=now, span=(read.start, read.end)
    )
    report.notes[:0] = read.notes
    return report
