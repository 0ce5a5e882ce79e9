"""`audit.history.build` on plain values: commits as the git door yields them, blobs from a
dictionary. No git, no server: what each kind of commit means for a grant's record, and which
commits are findings instead of records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from jitops.audit.history import History, build, select
from jitops.core.commits import LogCommit
from jitops.core.grant import format_time

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
GRANT = b"requester: octocat\nrole: db-ro\nduration: 2h\nreason: Investigate INC-1234 now\n"


class Blobs:
    """An in-memory :class:`~jitops.audit.history.BlobSource` that remembers what was asked."""

    def __init__(self, data: Mapping[str, bytes]) -> None:
        self.data = dict(data)
        self.asked: list[str] = []

    def request(self, sha: str) -> None:
        self.asked.append(sha)

    def finish(self) -> Mapping[str, bytes]:
        return {s: self.data[s] for s in self.asked if s in self.data}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pr_merge(sha: str, n: int, *changes: tuple[str, str, str], minute: int = 0) -> LogCommit:
    """GitHub's merge commit of pull request ``n`` (two parents)."""
    return LogCommit(
        sha, at(minute), f"Merge pull request #{n} from octocat/ask", {}, changes, ("a", "b")
    )


def own(
    sha: str,
    action: str,
    grant: str = "db-octocat-1",
    *,
    minute: int,
    change: str | None = None,
    subject: str | None = None,
    parents: tuple[str, ...] = ("p",),
    expires: datetime | None = None,
    extra: tuple[tuple[str, str, str], ...] = (),
    **trailers: str,
) -> LogCommit:
    """One of jitops' own commits (or a look-alike, through the keyword arguments)."""
    t = {
        "Jitops-Action": action,
        "Jitops-Grant": grant,
        "Jitops-Requester": "octocat",
        "Jitops-Role": "db-ro",
        "Jitops-Pull-Request": "7",
    }
    if action == "issue":
        t["Jitops-Approved-By"] = "alice"
        t["Jitops-Expires-At"] = format_time(expires or at(minute + 120))
    t.update({k.replace("_", "-"): v for k, v in trailers.items()})
    letter = change or ("M" if action == "issue" else "D")
    changes = ((letter, f"grants/{grant}.yaml", f"blob-{sha}"), *extra) if letter else extra
    return LogCommit(sha, at(minute), subject or f"jitops: {action} {grant}", t, changes, parents)


ADD = ("A", "grants/db-octocat-1.yaml", "blob-added")


def history(*commits: LogCommit, present: tuple[str, ...] = (), **kw: bool) -> History:
    return build(commits, present, Blobs({"blob-added": GRANT}), **kw)


def test_a_whole_life_is_one_record_from_trailers_and_the_file_as_added() -> None:
    h = history(
        pr_merge("m1", 7, ADD, minute=0),
        own("i1", "issue", minute=1),
        own("e1", "expire", minute=121),
    )
    rec = h.records["db-octocat-1"]
    assert (rec.requester, rec.role, rec.pull_request, rec.approved_by) == (
        "octocat",
        "db-ro",
        7,
        ["alice"],
    )
    assert (rec.requested_at, rec.issued_at, rec.expires_at) == (at(0), at(1), at(121))
    assert (rec.ended_at, rec.ended_by, rec.active) == (at(121), "expire", False)
    assert (rec.reason, rec.duration) == ("Investigate INC-1234 now", "2h")
    assert h.own == ["i1", "e1"]
    assert h.findings == []
    assert h.unexplained == []


def test_active_means_issued_and_still_in_grants() -> None:
    commits = (pr_merge("m1", 7, ADD), own("i1", "issue", minute=1))
    assert history(*commits, present=("db-octocat-1",)).records["db-octocat-1"].active
    assert not history(*commits).records["db-octocat-1"].active
    # a file in grants/ that was never issued is requested, not active
    assert not history(commits[0], present=("db-octocat-1",)).records["db-octocat-1"].active


def test_trailers_on_a_squash_merge_are_a_finding_not_a_record() -> None:
    forged = own("s1", "expire", minute=5, subject="Tidy up (#9)")
    h = history(pr_merge("m1", 7, ADD), own("i1", "issue", minute=1), forged)
    rec = h.records["db-octocat-1"]
    assert rec.ended_by is None  # the pull request's words did not end the grant
    assert [f.sha for f in h.findings] == ["s1"]
    assert "squash or rebase merge of pull request #9" in h.findings[0].message
    assert h.own == ["i1"]


def test_a_look_alike_is_refused_for_its_subject_its_parents_or_its_change() -> None:
    other = ("A", "policies/extra.yaml", "blob-x")
    cases = {
        "subject": own("x", "issue", minute=1, subject="jitops: issue another-one"),
        "parents": own("x", "issue", minute=1, parents=("a", "b")),
        "change": own("x", "issue", minute=1, extra=(other,)),
        "action": own("x", "issue", minute=1, change="D"),
    }
    for why, commit in cases.items():
        h = history(pr_merge("m1", 7, ADD), commit)
        assert h.records["db-octocat-1"].issued_at is None, why
        assert h.own == [], why
        assert [f.message for f in h.findings if "not a ledger record" in f.message], why


def test_an_early_revoke_keeps_the_time_the_pull_request_deleted_the_file() -> None:
    deletion = pr_merge("m2", 8, ("D", "grants/db-octocat-1.yaml", "0"), minute=30)
    h = history(
        pr_merge("m1", 7, ADD),
        own("i1", "issue", minute=1),
        deletion,
        own("r1", "revoke", minute=35, change="", Jitops_Reason="asked by the requester"),
    )
    rec = h.records["db-octocat-1"]
    assert (rec.ended_at, rec.ended_by, rec.end_reason) == (
        at(30),
        "revoke",
        "asked by the requester",
    )
    assert h.own == ["i1", "r1"]
    assert h.findings == []


def test_a_deny_ends_the_request_with_its_reason() -> None:
    h = history(
        pr_merge("m1", 7, ADD),
        own("d1", "deny", minute=2, Jitops_Reason="gate rule 5 (the approval rule)"),
    )
    rec = h.records["db-octocat-1"]
    assert (rec.issued_at, rec.ended_by, rec.end_reason) == (
        None,
        "deny",
        "gate rule 5 (the approval rule)",
    )


def test_a_reused_id_an_edit_outside_jitops_and_an_unexplained_commit_are_findings() -> None:
    edit = LogCommit(
        "h1", at(3), "fix typo", {}, (("M", "grants/db-octocat-1.yaml", "b2"),), ("p",)
    )
    h = history(pr_merge("m1", 7, ADD), own("i1", "issue", minute=1), edit, pr_merge("m3", 9, ADD))
    messages = [(f.sha, f.message) for f in h.findings]
    assert ("h1", "grants/db-octocat-1.yaml was edited outside jitops") in messages
    assert ("m3", "grant id db-octocat-1 was added again (ids are never reused)") in messages
    assert h.unexplained == [("h1", "fix typo")]


def test_a_file_whose_name_is_no_grant_id_is_reported_not_recorded() -> None:
    h = history(pr_merge("m1", 7, ("A", "grants/CON.yaml", "b")))
    assert h.records == {}
    assert [f.message for f in h.findings] == [
        "grants/CON.yaml was added, but its name is not a valid grant id"
    ]


def test_a_reissue_may_not_outlast_what_was_approved() -> None:
    base = (pr_merge("m1", 7, ADD), own("i1", "issue", minute=1))
    ok = history(*base, own("i2", "issue", minute=20, expires=at(121)))
    assert ok.findings == []
    assert ok.records["db-octocat-1"].issued == 2
    longer = history(*base, own("i2", "issue", minute=20, expires=at(300)))
    assert [f.sha for f in longer.findings] == ["i2"]
    assert "was issued again with a later expiry" in longer.findings[0].message


def test_trailers_and_the_file_as_added_must_name_the_same_requester() -> None:
    h = history(pr_merge("m1", 7, ADD), own("i1", "issue", minute=1, Jitops_Requester="mallory"))
    assert [f.message for f in h.findings] == [
        "db-octocat-1: trailers say requester mallory, the grant file as added says octocat"
    ]


def test_status_blocks_are_read_only_for_verify_and_must_agree_with_the_trailers() -> None:
    status = GRANT + (
        b"status:\n  state: active\n  pull_request: 7\n  approved_by: [bob]\n"
        b"  issued_at: 2026-11-01T10:01:00Z\n  expires_at: 2026-11-01T12:01:00Z\n"
        b"  token_accessor: acc1\n"
    )
    commits = (pr_merge("m1", 7, ADD), own("i1", "issue", minute=1))
    listing = Blobs({"blob-added": GRANT, "blob-i1": status})
    build(commits, (), listing)
    assert listing.asked == ["blob-added"]  # a listing reads no status block
    verifying = Blobs({"blob-added": GRANT, "blob-i1": status})
    h = build(commits, (), verifying, check_status=True)
    assert verifying.asked == ["blob-added", "blob-i1"]
    assert [f.message for f in h.findings] == [
        "db-octocat-1: status approved_by and trailer disagree"
    ]
    assert h.records["db-octocat-1"].token_accessor == "acc1"


def test_an_unreadable_commit_is_a_finding_and_changes_nothing() -> None:
    broken = own("u1", "expire", minute=5)._replace(unreadable=True)
    h = history(pr_merge("m1", 7, ADD), own("i1", "issue", minute=1), broken)
    assert h.records["db-octocat-1"].ended_by is None
    assert [(f.sha, f.message) for f in h.findings] == [
        ("u1", "git printed a commit record audit could not read")
    ]


def test_select_filters_by_time_requester_role_and_activity() -> None:
    h = history(
        pr_merge("m1", 7, ADD),
        own("i1", "issue", minute=1),
        pr_merge("m2", 8, ("A", "grants/db-bob-1.yaml", "blob-added"), minute=60),
        present=("db-octocat-1", "db-bob-1"),
    )
    records = h.records.values()
    assert [r.grant for r in select(records)] == ["db-octocat-1", "db-bob-1"]
    assert [r.grant for r in select(records, active=True)] == ["db-octocat-1"]
    assert [r.grant for r in select(records, since=at(30))] == ["db-bob-1"]
    assert [r.grant for r in select(records, until=at(30))] == ["db-octocat-1"]
    assert [r.grant for r in select(records, requester="OCTOCAT")] == [
        "db-octocat-1",
        "db-bob-1",
    ]
    assert select(records, role="other") == []


def test_a_file_added_back_after_the_end_never_rewrites_how_the_grant_ended() -> None:
    # a writer's pull request restores an expired grant's file; jitops removes it again. The
    # record keeps the real expiry, and the re-added id is a finding.
    back = ("A", "grants/db-octocat-1.yaml", "blob-added")
    h = history(
        pr_merge("m1", 7, ADD, minute=0),
        own("i1", "issue", minute=1),
        own("e1", "expire", minute=121),
        pr_merge("m2", 9, back, minute=300),
        own("r1", "revoke", minute=301, Jitops_Reason="its record says it ended"),
    )
    rec = h.records["db-octocat-1"]
    assert (rec.ended_at, rec.ended_by, rec.end_reason) == (at(121), "expire", None)
    assert any("added again" in f.message for f in h.findings)
