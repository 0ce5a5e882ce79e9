"""`jitops audit` on real git histories written with the ledger's own write functions
(`commit_message` + `Git.commit`, the ones the lifecycle calls) and real pull-request merges."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.audit.history import build
from jitops.cli import cli
from jitops.core import yamlsafe
from jitops.core.commits import LogCommit, own_entry
from jitops.core.grant import format_time, read_grant
from jitops.core.plan import restore_commit
from jitops.core.trailers import LedgerEntry, commit_message, parse_trailers
from jitops.doors.git import Git
from tests.conftest import git

pytestmark = pytest.mark.integration  # real git repositories

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
KEYS = {
    "grant",
    "requester",
    "role",
    "pull_request",
    "approved_by",
    "issued_at",
    "expires_at",
    "ended_at",
    "ended_by",
    "reason",
}


def request(requester: str, role: str, duration: str = "2h", ticket: str | None = None) -> str:
    text = f"requester: {requester}\nrole: {role}\nduration: {duration}\n"
    text += f"reason: Debug the {role} thing for the release\n"
    return text + (f"ticket: {ticket}\n" if ticket else "")


@dataclass
class Ledger:
    """Writes an access repository's history the way GitHub and jitops do."""

    repo: Path
    mp: pytest.MonkeyPatch
    prs: int = 0
    texts: dict[str, str] = field(default_factory=dict)
    sign: list[str] = field(default_factory=list)  # jitops commits signed with (ledger.signing)

    @property
    def git(self) -> Git:
        return Git(self.repo)

    def at(self, when: datetime) -> None:
        stamp = f"{int(when.timestamp())} +0000"
        self.mp.setenv("GIT_AUTHOR_DATE", stamp)
        self.mp.setenv("GIT_COMMITTER_DATE", stamp)

    def merge(self, changes: dict[str, str | None], when: datetime, *, squash: bool = False) -> int:
        """A pull request with ``changes`` merged by GitHub: a merge commit "Merge pull request
        #N from acme/branch" (two parents), or a squash commit "<title> (#N)"."""
        self.prs += 1
        n = self.prs
        self.at(when)
        branch = f"req-{n}"
        git(self.repo, "checkout", "-q", "-b", branch, "main")
        data = {p: (t.encode() if t is not None else None) for p, t in changes.items()}
        self.git.commit(data, f"Request {n}\n")
        git(self.repo, "checkout", "-q", "main")
        if squash:
            git(self.repo, "merge", "-q", "--squash", branch)
            git(self.repo, "commit", "-q", "-m", f"Request access {n} (#{n})")
        else:
            msg = f"Merge pull request #{n} from acme/{branch}\n\nRequest {n}"
            git(self.repo, "merge", "-q", "--no-ff", "-m", msg, branch)
        return n

    def add(self, gid: str, text: str, when: datetime, *, squash: bool = False) -> int:
        self.texts[gid] = text
        return self.merge({f"grants/{gid}.yaml": text}, when, squash=squash)

    def issue(
        self,
        gid: str,
        when: datetime,
        *,
        pr: int | None,
        approved: tuple[str, ...] = (),
        duration: timedelta = timedelta(hours=2),
        status_expires: datetime | None = None,
        requester: str = "octocat",
        role: str = "staging-admin",
    ) -> str:
        expires = when + duration
        status = (
            "status:\n  state: active\n"
            + (f"  pull_request: {pr}\n" if pr else "")
            + f"  approved_by: [{', '.join(approved)}]\n"
            f"  issued_at: {format_time(when)}\n"
            f"  expires_at: {format_time(status_expires or expires)}\n"
            "  token_accessor: acc-" + gid + "\n"
        )
        entry = LedgerEntry("issue", gid, requester, role, pr, approved, expires)
        self.at(when)
        path = f"grants/{gid}.yaml"
        body = f"Access of {requester} to {role} until {format_time(expires)}."
        return self.git.commit(
            {path: (self.texts[gid] + status).encode()}, commit_message(entry, body), sign=self.sign
        )

    def end(
        self,
        action: str,
        gid: str,
        when: datetime,
        *,
        pr: int | None = None,
        reason: str | None = None,
        requester: str = "octocat",
        role: str = "staging-admin",
    ) -> str:
        entry = LedgerEntry(action, gid, requester, role, pr, (), None, reason)
        self.at(when)
        return self.git.commit(
            {f"grants/{gid}.yaml": None},
            commit_message(entry, f"Access {action}d."),
            sign=self.sign,
        )


@pytest.fixture
def ledger(access_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    return Ledger(access_repo, monkeypatch)


def run(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "--repo", str(repo), *args])
    return result.exit_code, result.output


def records(repo: Path, *args: str) -> dict[str, dict[str, object]]:
    code, out = run(repo, "--format", "json", *args)
    assert code == 0, out
    return {r["grant"]: r for r in json.loads(out)}


@pytest.fixture
def story(ledger: Ledger) -> Ledger:
    """expired, revoked, denied, pending and a still-active grant (relative to now)."""
    pr = ledger.add("stg-octo-1", request("octocat", "staging-admin"), T0)
    ledger.issue("stg-octo-1", T0 + timedelta(seconds=40), pr=pr)
    ledger.end("expire", "stg-octo-1", T0 + timedelta(hours=2, minutes=3), pr=pr)
    text = request("hubot", "prod-db-readonly", ticket="INC-7")
    pr = ledger.add("db-hubot-2", text, T0 + timedelta(hours=3), squash=True)
    ledger.issue(
        "db-hubot-2",
        T0 + timedelta(hours=3, minutes=1),
        pr=pr,
        approved=("alice",),
        requester="hubot",
        role="prod-db-readonly",
    )
    ledger.end(
        "revoke",
        "db-hubot-2",
        T0 + timedelta(hours=3, minutes=30),
        pr=pr,
        reason="laptop lost\nrotate",
        requester="hubot",
        role="prod-db-readonly",
    )
    text = request("octocat", "prod-db-readonly", ticket="INC-8")
    pr = ledger.add("db-octo-3", text, T0 + timedelta(hours=3, minutes=40))
    ledger.end(
        "deny",
        "db-octo-3",
        T0 + timedelta(hours=4),
        pr=pr,
        reason="no approval",
        role="prod-db-readonly",
    )
    ledger.add("stg-mona-4", request("mona", "staging-admin", "1h"), T0 + timedelta(hours=5))
    now = datetime.now(UTC).replace(microsecond=0)
    pr = ledger.add(
        "stg-octo-5", request("octocat", "staging-admin", "3h"), now - timedelta(hours=1)
    )
    ledger.issue("stg-octo-5", now - timedelta(minutes=50), pr=pr, duration=timedelta(hours=3))
    return ledger


def test_json_rebuilds_every_record_from_git(story: Ledger) -> None:
    recs = records(story.repo)
    assert list(recs) == ["stg-octo-1", "db-hubot-2", "db-octo-3", "stg-mona-4", "stg-octo-5"]
    assert all(set(r) >= KEYS for r in recs.values())
    one = recs["stg-octo-1"]
    assert one == {
        **one,
        "requester": "octocat",
        "role": "staging-admin",
        "pull_request": 1,
        "approved_by": [],
        "issued_at": "2026-11-01T10:00:40Z",
        "expires_at": "2026-11-01T12:00:40Z",
        "ended_at": "2026-11-01T12:03:00Z",
        "ended_by": "expire",
        "reason": "Debug the staging-admin thing for the release",
        "duration": "2h",
    }
    two = recs["db-hubot-2"]
    assert two["pull_request"] == 2  # the squash merge "(#2)"
    assert two["approved_by"] == ["alice"]
    assert (two["ended_by"], two["ended_at"]) == ("revoke", "2026-11-01T13:30:00Z")
    assert two["ticket"] == "INC-7"
    assert two["end_reason"] == "laptop lost rotate"  # one line in the trailer
    three = recs["db-octo-3"]
    assert (three["issued_at"], three["ended_by"], three["pull_request"]) == (None, "deny", 3)
    four = recs["stg-mona-4"]  # merged, not issued yet: nothing unknown is invented
    assert (four["issued_at"], four["expires_at"], four["ended_by"]) == (None, None, None)
    assert recs["stg-octo-5"]["active"] is True and recs["stg-octo-1"]["active"] is False


def test_active_answers_who_has_access_now_with_time_left(story: Ledger) -> None:
    code, out = run(story.repo, "--active")
    assert code == 0
    assert "stg-octo-5" in out and "stg-octo-1" not in out and "stg-mona-4" not in out
    assert "2h0" in out and "left" in out  # 3h grant issued 50 minutes ago
    assert list(records(story.repo, "--active")) == ["stg-octo-5"]


def test_filters(story: Ledger) -> None:
    assert set(records(story.repo, "--requester", "OCTOCAT")) == {
        "stg-octo-1",
        "db-octo-3",
        "stg-octo-5",
    }
    assert set(records(story.repo, "--role", "prod-db-readonly")) == {"db-hubot-2", "db-octo-3"}
    # a date alone means the whole day: --until 2026-11-01 includes that afternoon's grants
    got = records(story.repo, "--since", "2026-11-01T12:30:00Z", "--until", "2026-11-01")
    assert set(got) == {"db-hubot-2", "db-octo-3", "stg-mona-4"}
    assert records(story.repo, "--until", "2026-10-31") == {}
    assert set(records(story.repo, "--since", "2026-11-01", "--until", "2026-11-01")) == {
        "stg-octo-1",
        "db-hubot-2",
        "db-octo-3",
        "stg-mona-4",
    }
    got = records(story.repo, "--since", "2026-11-01T12:30:00Z", "--until", "2026-11-01T15:00:00Z")
    assert set(got) == {"db-hubot-2", "db-octo-3", "stg-mona-4"}
    code, out = run(story.repo, "--since", "yesterday")
    assert code == 2 and "--since 'yesterday' is not a date" in out
    code, out = run(story.repo, "--until", "2026-02-30")
    assert code == 2 and "--until '2026-02-30' is not a date" in out  # as typed


def test_csv_opens_as_a_spreadsheet(story: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    code, said = run(story.repo, "--format", "csv", "--output", str(out))
    assert code == 0 and "wrote 5 records" in said
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 5 and set(rows[0]) >= KEYS
    hubot = next(r for r in rows if r["grant"] == "db-hubot-2")
    assert hubot["approved_by"] == "alice" and hubot["ended_by"] == "revoke"


def test_an_unwritable_output_is_a_clear_error_and_leaves_no_file(
    story: Ledger, tmp_path: Path
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory\n", encoding="utf-8")
    code, out = run(story.repo, "--format", "html", "-o", str(blocker / "report.html"))
    assert code == 1 and "cannot write it" in out and "Traceback" not in out
    assert "bug" not in out
    assert blocker.read_text(encoding="utf-8") == "a file, not a directory\n"
    code, _ = run(story.repo, "--format", "csv", "-o", str(tmp_path / "new" / "audit.csv"))
    assert code == 0 and (tmp_path / "new" / "audit.csv").read_text().startswith("grant,")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["audit.csv"]  # no temp file


def test_table_lists_history(story: Ledger) -> None:
    code, out = run(story.repo)
    assert code == 0
    for gid in ("stg-octo-1", "db-hubot-2", "db-octo-3", "stg-mona-4", "stg-octo-5"):
        assert gid in out
    assert "expire 2026-11-01T12:03:00Z" in out
    assert "5 grant(s)" in out


def test_an_empty_answer_is_a_sentence_not_an_empty_table(story: Ledger) -> None:
    code, out = run(story.repo, "--active", "--requester", "nobody")
    assert (code, out) == (0, "Nobody has access right now: no grant is active.\n")
    code, out = run(story.repo, "--role", "no-such-role")
    assert code == 0 and out.startswith("No grant matches") and "┃" not in out


def test_html_is_one_self_contained_file(story: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "a.html"
    assert run(story.repo, "--format", "html", "-o", str(out))[0] == 0
    page = out.read_text(encoding="utf-8")
    assert "<svg" in page and 'id="f-requester"' in page and page.count("<tr data-") == 5
    assert "default-src 'none'" in page  # the page may not load anything, even by mistake
    fetched = re.sub(r'<a (class="[a-z]+" )?href="https?://[^"]*"', "", page)  # links: clicks
    for remote in ("http://", "https://", "src=", "<link", "url("):
        assert remote not in fetched


def test_an_empty_or_missing_history(access_repo: Path) -> None:
    assert records(access_repo) == {}
    code, out = run(access_repo, "--ref", "nope")
    assert code == 2 and "no such commit" in out
    # verify takes --ref and --repo too (after the word verify, where people type them)
    code, out = run(access_repo, "verify", "--ref", "nope")
    assert code == 2 and "--ref nope: no such commit" in out  # not "0 grants: consistent"
    result = CliRunner().invoke(cli, ["audit", "verify", "--repo", str(access_repo)])
    assert result.exit_code == 0 and "the ledger is consistent" in result.output


def test_bad_input_never_crashes_audit(ledger: Ledger) -> None:
    repo = ledger.repo
    # a direct push whose message is not UTF-8 and imitates record and field separators
    ledger.at(T0)
    (repo / "grants" / "x-one.yaml").write_bytes(b"requester: [unclosed\n")
    git(repo, "add", "grants/x-one.yaml")
    msg = b"caf\xe9 \x1e\x1f:100644 100644 a b M\tgrants/y.yaml\x1f\n\nJitops-Action: boom\n"
    (repo / "msg").write_bytes(msg)
    git(repo, "-c", "i18n.commitEncoding=binary", "commit", "-q", "-F", "msg")
    (repo / "msg").unlink()
    # a jitops-looking commit with partial trailers
    ledger.git.commit(
        {"grants/x-one.yaml": None},
        "jitops: expire x-one\n\nx\n\nJitops-Action: expire\nJitops-Expires-At: soon\n",
    )
    # a grant file that is not UTF-8, added by a pull request
    ledger.merge(
        {
            "grants/y-two.yaml": "requester: \udcff\n".encode("utf-8", "surrogateescape").decode(
                "latin-1"
            )
        },
        T0,
    )
    recs = records(repo)
    assert set(recs) == {"x-one", "y-two"}
    code, out = run(repo, "verify")
    assert code == 1
    assert "missing Jitops-Grant trailer" in out
    assert "x-one.yaml was not a valid grant when added" in out
    assert "neither from a pull request merge nor from jitops" in out


def test_json_lines_are_exactly_what_json_dumps_writes() -> None:
    """The fast JSON writer and Record.to_json cannot drift apart (keys, order, escaping)."""
    from jitops.audit.history import Record
    from jitops.audit.render import to_json

    odd = Record(
        "g-1",
        requester="octocat",
        role="r",
        pull_request=7,
        approved_by=["alice", 'b"ob'],
        issued_at=T0,
        expires_at=T0 + timedelta(hours=1, microseconds=5),
        reason='quote " back\\ \u00e9 \U0001f600 \x01 </script>',
        ended_by="revoke",
        end_reason="line\nbreak",
        present=True,
    )
    records = [odd, Record("g-2")]
    out = to_json(records)
    assert out == "[\n" + ",\n".join(json.dumps(r.to_json()) for r in records) + "\n]\n"
    assert json.loads(out)[0]["reason"] == odd.reason
    assert to_json([]) == "[]\n"


def test_audit_runs_a_fixed_number_of_git_processes_whatever_the_history(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One streaming git log and one batched object read, never a process per commit."""
    import subprocess

    from jitops.lifecycle.audit import load_history

    real = subprocess.Popen
    started: list[list[str]] = []

    def counting(args: list[str], *a: object, **kw: object) -> subprocess.Popen[bytes]:
        started.append(list(args))
        return real(args, *a, **kw)  # type: ignore[call-overload, no-any-return]

    def grants(first: int, count: int) -> None:
        for i in range(first, first + count):
            when = T0 + timedelta(hours=i)
            pr = ledger.add(f"stg-octo-{i}", request("octocat", "staging-admin"), when)
            ledger.issue(f"stg-octo-{i}", when + timedelta(seconds=30), pr=pr)
            ledger.end("expire", f"stg-octo-{i}", when + timedelta(hours=2), pr=pr)

    def processes() -> list[str]:
        started.clear()
        monkeypatch.setattr(subprocess, "Popen", counting)
        try:
            history = load_history(ledger.git, "HEAD", check_status=True)
        finally:
            monkeypatch.setattr(subprocess, "Popen", real)
        assert not history.findings
        return sorted(" ".join(a[:2]) for a in started)

    grants(1, 2)
    few = processes()
    grants(3, 20)
    many = processes()
    assert many == few  # 66 more commits, not one more process
    assert many.count("git log") == 1 and many.count("git cat-file") == 1
    assert len(many) <= 5  # plus ls-tree of grants/ and two rev-parse lookups


_VALUE = st.text(
    alphabet=st.sampled_from([*"abcXYZ019 ~=-_:#'\"\\,.[]{}&*!|>%@`?\t\r", "é", "\u2028", "\x85"]),
    max_size=12,
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["requester", "role", "duration", "reason", "ticket", "ROLE"]),
            _VALUE,
            st.sampled_from(["plain", "single", "double"]),
        ),
        max_size=5,
    ),
    st.sampled_from(["", "# a comment\n", "\n", "  \n"]),
)
def test_the_fast_grant_reader_agrees_with_yaml(
    fields: list[tuple[str, str, str]], extra: str
) -> None:
    """Grant files as added are read by a fast line reader when they are plain ``key: value``
    lines: whatever it accepts, jitops' own loader (the one validate uses) reads the same way."""
    from jitops.audit import history as audit

    lines = []
    for key, value, style in fields:
        if style == "single":
            value = "'" + value.replace("'", "''") + "'"
        elif style == "double":
            value = json.dumps(value)
        lines.append(f"{key}: {value}\n")
    data = (extra + "".join(lines)).encode()
    fast = audit._simple_fields(data)
    if fast is None:
        return  # left to the loader
    try:
        doc = yamlsafe.load(data, "grants/x.yaml").data
    except yamlsafe.YamlError:
        pytest.fail(f"the fast reader accepted what the loader rejects: {data!r} -> {fast!r}")
    assert isinstance(doc, dict) and set(doc) == set(fast), (data, fast, doc)
    for key, value in doc.items():
        if isinstance(value, str):
            assert fast[key] == value, (data, fast, doc)
        else:  # the loader resolved a plain scalar (a number, a boolean, null): keep the text
            assert isinstance(fast[key], str), (data, fast, doc)


def test_grant_files_are_read_as_validate_reads_them(ledger: Ledger) -> None:
    """Plain scalars that PyYAML's own SafeLoader would turn into dates (or fail on) stay text,
    as they do for `jitops validate`; a comment sends the file down the full loader's path."""
    text = (
        "requester: octocat   # me\n"
        "role: staging-admin\nduration: 2h\n"
        "reason: Debug the staging-admin thing for the release\n"
        "ticket: 2026-99-99   # not a date\n"
    )
    ledger.add("stg-octo-1", text, T0)
    rec = records(ledger.repo)["stg-octo-1"]
    assert (rec["requester"], rec["ticket"]) == ("octocat", "2026-99-99")
    code, out = run(ledger.repo, "verify")
    assert (code, out) == (0, "1 grant checked: the ledger is consistent\n")


def test_timeline_colours_say_how_each_grant_ended(ledger: Ledger, tmp_path: Path) -> None:
    pr = ledger.add("stg-octo-1", request("octocat", "staging-admin"), T0)
    ledger.issue("stg-octo-1", T0 + timedelta(minutes=1), pr=pr)
    ledger.merge({"grants/stg-octo-1.yaml": None}, T0 + timedelta(minutes=30))  # early, by PR
    out = tmp_path / "a.html"
    assert run(ledger.repo, "--format", "html", "-o", str(out))[0] == 0
    page = out.read_text(encoding="utf-8")
    bar = re.search(r'<rect [^>]*fill="([^"]+)"[^>]*><title>stg-octo-1\n', page)
    assert bar and bar.group(1) == "#6e7781"  # not the blue of a grant still in grants/
    assert "file removed, end not recorded" in page and '#1f6feb">active now' not in page


def test_a_restore_puts_a_deleted_grant_back_and_it_never_ended() -> None:
    """A pull request deleted someone else's grant without the approval it needs; jitops put
    the file back with a ``restore`` commit: the grant is active again and was never ended."""

    t0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
    path = "grants/stg-octo-1.yaml"
    gid = "stg-octo-1"

    class Blobs:
        def request(self, sha: str) -> None:
            pass

        def finish(self) -> dict[str, bytes]:
            return {}

    base = {"Jitops-Grant": gid, "Jitops-Requester": "octocat", "Jitops-Role": "staging"}
    grant, _ = read_grant(
        b"requester: octocat\nrole: staging\nduration: 1h\nreason: Debug the staging deploy\n"
        b"status:\n  state: active\n  pull_request: 1\n  approved_by: []\n"
        b"  issued_at: 2026-11-01T10:01:00Z\n  expires_at: 2026-11-01T11:01:00Z\n"
        b"  token_accessor: acc\n",
        path,
    )
    assert grant is not None
    planned = restore_commit(grant, b"...", "pull request #2 deleted it without approval")
    subject, _, _ = planned.message.partition("\n")
    restore = LogCommit(
        "d" * 40,
        t0.replace(minute=30),
        subject,
        parse_trailers(planned.message),
        (("A", path, "b" * 40),),
        ("c" * 40,),
    )
    assert own_entry(restore) is not None
    commits = [
        LogCommit("a" * 40, t0, "Access (#1)", {}, (("A", path, "1" * 40),), ("0" * 40,)),
        LogCommit(
            "b" * 40,
            t0.replace(minute=1),
            f"jitops: issue {gid}",
            {**base, "Jitops-Action": "issue", "Jitops-Pull-Request": "1"},
            (("M", path, "2" * 40),),
            ("a" * 40,),
        ),
        LogCommit(
            "c" * 40, t0.replace(minute=20), "Tidy (#2)", {}, (("D", path, "0" * 40),), ("b" * 40,)
        ),
        restore,
    ]
    history = build(commits, [gid], Blobs())
    rec = history.records[gid]
    assert (rec.ended_at, rec.ended_by, rec.added) == (None, None, 1)
    assert rec.active
    assert not [
        f for f in history.findings if "added again" in f.message or "jitops commit" in f.message
    ]
    # the export records the restore (the grant never ended, so no end event)
    from jitops.audit.events import events

    kinds = [(e.type, e.commit) for e in events([rec])]
    assert kinds == [("requested", "a" * 40), ("issued", "b" * 40), ("restored", "d" * 40)]
