"""Usage evidence from audit log lines (pure attribution, and the file reading at the edge).

The lines are shaped like OpenBao 2.7.2's file audit device output (a request entry and a
response entry per request, token and accessor HMAC'd, metadata as it is), as seen on the real
server in tests/lifecycle/test_usage.py.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitops.audit import usage
from jitops.audit.history import Record
from jitops.lifecycle.usage import AuditLogError, LogRead, read_events

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HMAC = "hmac-sha256:" + "ab" * 32


def line(
    grant: str | None,
    path: str,
    when: datetime,
    *,
    kind: str = "request",
    allowed: bool = True,
    accessor: str = HMAC,
) -> str:
    auth: dict[str, object] = {
        "client_token": HMAC,
        "accessor": accessor,
        "display_name": f"token-jitops-{grant}",
        "policy_results": {"allowed": allowed},
        "token_type": "service",
    }
    if grant is not None:
        auth["metadata"] = {"jitops_grant": grant, "jitops_requester": "octocat"}
    entry = {
        "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + "123456789Z",
        "type": kind,
        "auth": auth,
        "request": {"id": "x", "operation": "read", "path": path, "client_token": HMAC},
    }
    return json.dumps(entry, separators=(",", ":")) + "\n"


def records() -> dict[str, Record]:
    return {
        "db-octocat-1": Record(
            "db-octocat-1",
            requester="octocat",
            role="prod-db-readonly",
            issued_at=T0,
            expires_at=T0 + timedelta(hours=2),
            token_accessor="acc-db-1",
        ),
        "db-octocat-2": Record(
            "db-octocat-2",
            requester="octocat",
            role="prod-db-readonly",
            issued_at=T0 + timedelta(minutes=10),
            expires_at=T0 + timedelta(hours=1),
        ),
        "pending-1": Record("pending-1", requester="hubot", role="staging-admin"),
    }


def span(text: str) -> tuple[datetime, datetime]:
    times = [usage.parse_time(json.loads(x)["time"]) for x in text.splitlines()]
    return min(times), max(times)


def events(text: str) -> list[usage.Event]:
    out = []
    for raw in text.encode().splitlines(keepends=True):
        ev = usage.event_from_line(raw)
        if ev is not None:
            out.append(ev)
    return out


def test_requests_are_attributed_per_grant_with_first_last_count_and_paths() -> None:
    log = "".join(
        [
            line(None, "auth/jwt/login", T0),  # the issuer: not a grant
            line("db-octocat-1", "database/creds/prod-readonly", T0 + timedelta(minutes=1)),
            line(
                "db-octocat-1",
                "database/creds/prod-readonly",
                T0 + timedelta(minutes=1),
                kind="response",
            ),
            line("db-octocat-1", "sys/mounts", T0 + timedelta(minutes=31), allowed=False),
            line("db-octocat-1", "database/creds/prod-readonly", T0 + timedelta(minutes=46)),
            line(None, "sys/health", T0 + timedelta(hours=3)),
        ]
    )
    report = usage.attribute(events(log), records(), now=T0 + timedelta(hours=3), span=span(log))
    used, never = report.grants
    assert used.grant == "db-octocat-1" and used.state == "used"
    assert used.requests == 3 and used.denied == 1 and used.after_end == 0
    assert used.first_use == T0 + timedelta(minutes=1, microseconds=123456)
    assert used.used == timedelta(minutes=45)
    assert used.granted == timedelta(hours=2)
    assert used.paths == {"database/creds/prod-readonly": 2, "sys/mounts": 1}
    # the log covers db-octocat-2's whole window: never used is a fact, not a guess
    assert never.grant == "db-octocat-2" and never.state == "never used"
    text = usage.to_text(report)
    assert "used 45m of 2h granted, 1 denied" in text
    assert "db-octocat-2 octocat prod-db-readonly never used (50m granted)" in text
    assert "2 grants: 1 used, 1 never used, 0 not covered by the log" in text
    assert "accessors are HMAC'd" in text
    assert (
        HMAC not in text and HMAC not in usage.to_json(report) and HMAC not in usage.to_csv(report)
    )


def test_a_window_the_log_does_not_cover_is_not_called_never_used() -> None:
    log = line("db-octocat-1", "database/creds/prod-readonly", T0 + timedelta(minutes=20))
    report = usage.attribute(events(log), records(), now=T0 + timedelta(hours=3))
    states = {g.grant: g.state for g in report.grants}
    assert states == {"db-octocat-1": "used", "db-octocat-2": "no requests in the log"}


def test_requests_after_the_grant_ended_are_counted_and_shown() -> None:
    late = T0 + timedelta(hours=2, minutes=5)
    log = line("db-octocat-1", "database/creds/prod-readonly", late)
    report = usage.attribute(events(log), records(), now=T0 + timedelta(hours=3))
    assert report.grants[0].after_end == 1
    assert "1 AFTER the grant ended" in usage.to_text(report)


def test_a_log_of_another_vault_says_so() -> None:
    log = line("someone-elses-grant", "secret/data/x", T0) + line(None, "sys/health", T0)
    report = usage.attribute(events(log), records(), now=T0 + timedelta(hours=3))
    assert report.matched == 0
    notes = " ".join(usage.summary(report))
    assert "none of the 1 grant requests in the log belongs to a grant of this" in notes
    assert "another Vault" in notes
    empty = usage.attribute(events(line(None, "sys/health", T0)), records())
    assert "no request of a jitops grant token is in the log" in " ".join(usage.summary(empty))


def test_since_drops_earlier_requests_and_grants_that_ended_before() -> None:
    log = line("db-octocat-1", "a", T0 + timedelta(minutes=5)) + line(
        "db-octocat-1", "b", T0 + timedelta(minutes=70)
    )
    report = usage.attribute(
        events(log), records(), since=T0 + timedelta(minutes=65), now=T0 + timedelta(hours=3)
    )
    assert [g.grant for g in report.grants] == ["db-octocat-1"]  # db-octocat-2 ended at 1h
    assert report.grants[0].paths == {"b": 1}


def test_csv_and_html_keep_what_a_requester_influences_inert() -> None:
    log = line("db-octocat-1", "=cmd|' /C calc'!A0", T0 + timedelta(minutes=5)) + line(
        "db-octocat-1", "<script>alert(1)</script>", T0 + timedelta(minutes=6)
    )
    report = usage.attribute(events(log), records(), now=T0 + timedelta(hours=3))
    assert "<script>" not in usage.to_html_section(report)
    csv_text = usage.to_csv(report)
    assert "\n=" not in csv_text and ",=" not in csv_text


def test_plain_accessors_are_checked_against_the_one_git_recorded() -> None:
    log = line("db-octocat-1", "a", T0 + timedelta(minutes=1), accessor="acc-db-1") + line(
        "db-octocat-1", "b", T0 + timedelta(minutes=2), accessor="acc-forged"
    )
    report = usage.attribute(events(log), records(), now=T0 + timedelta(hours=3))
    g = report.grants[0]
    assert (g.requests, g.other_token) == (2, 1)
    text = usage.to_text(report)
    assert "1 by a token git did not record for it" in text
    assert "accessors are plain in this log (hmac_accessor = false)" in text


# -- reading files ---------------------------------------------------------------------------
def _read(*paths: Path) -> tuple[list[usage.Event], LogRead]:
    read = LogRead()
    return list(read_events(paths, read)), read


def test_a_truncated_last_line_is_reported_and_the_rest_used(tmp_path: Path) -> None:
    whole = line("db-octocat-1", "a", T0) + line("db-octocat-1", "b", T0)
    cut = line("db-octocat-1", "c", T0)[:57]
    log = tmp_path / "audit.log"
    log.write_text(whole + cut)
    got, read = _read(log)
    assert [e.path for e in got] == ["a", "b"]
    assert read.notes == [
        f"{log}: the last line is cut off (the log was being written, or the file was "
        "truncated); it was skipped and the rest used"
    ]


def test_rotated_and_gzip_files_are_read_together(tmp_path: Path) -> None:
    old = tmp_path / "audit.log.1.gz"
    with gzip.open(old, "wt") as f:
        f.write(line("db-octocat-1", "old", T0))
    new = tmp_path / "audit.log"
    new.write_text(line("db-octocat-1", "new", T0 + timedelta(minutes=1)))
    got, read = _read(new, old)
    assert sorted(e.path for e in got) == ["new", "old"]
    assert read.notes == [] and read.lines == 2
    micro = timedelta(microseconds=123456)
    assert (read.start, read.end) == (T0 + micro, T0 + timedelta(minutes=1) + micro)


def test_a_cut_gzip_file_gives_what_it_has(tmp_path: Path) -> None:
    data = gzip.compress(("".join(line("db-octocat-1", str(i), T0) for i in range(200))).encode())
    cut = tmp_path / "audit.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    got, read = _read(cut)
    assert 0 < len(got) < 200
    assert "the gzip stream ends early" in read.notes[0]


def test_a_file_that_is_not_an_audit_log_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello\nworld\n")
    with pytest.raises(AuditLogError, match="not a Vault/OpenBao file audit log"):
        _read(other)


def test_damaged_lines_in_the_middle_are_counted_and_skipped(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(
        line("db-octocat-1", "a", T0)
        + '{"type":"request","auth":{"metadata":{"jitops_grant":"x"\n'
        + line("db-octocat-1", "b", T0)
    )
    got, read = _read(log)
    assert [e.path for e in got] == ["a", "b"]
    assert read.notes == [
        f"{log}: 1 line naming a grant are not audit entries (first at line 2); skipped"
    ]
