"""`jitops audit verify`: each invariant of the ledger, broken one at a time in real git."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitops.core.trailers import LedgerEntry, commit_message
from tests.audit.test_history import T0, Ledger, records, request, run
from tests.conftest import git

pytestmark = pytest.mark.integration  # real git repositories

HOUR = timedelta(hours=1)


@pytest.fixture
def ledger(access_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    return Ledger(access_repo, monkeypatch)


def issued(ledger: Ledger, gid: str, when: datetime, **kw: object) -> int:
    pr = ledger.add(gid, request("octocat", "staging-admin"), when)
    ledger.issue(gid, when + timedelta(seconds=30), pr=pr, **kw)  # type: ignore[arg-type]
    return pr


def verify(repo: Path, *args: str) -> tuple[int, list[str]]:
    code, out = run(repo, "verify", *args)
    return code, out.strip().splitlines()


def test_a_clean_ledger_passes(ledger: Ledger) -> None:
    pr = issued(ledger, "stg-octo-1", T0)  # staging-admin needs no review
    ledger.end("expire", "stg-octo-1", T0 + 2 * HOUR + timedelta(minutes=5), pr=pr)
    pr = ledger.add("db-octo-2", request("octocat", "prod-db-readonly", ticket="INC-1"), T0)
    ledger.end("deny", "db-octo-2", T0 + HOUR, pr=pr, reason="x", role="prod-db-readonly")
    code, lines = verify(ledger.repo)
    assert code == 0, lines
    assert lines == ["2 grants checked: the ledger is consistent"]


def test_unreviewed_issue_is_judged_by_the_policy_of_its_time(ledger: Ledger) -> None:
    repo = ledger.repo
    pr = ledger.add("db-octo-1", request("octocat", "prod-db-readonly", ticket="INC-1"), T0)
    ledger.issue("db-octo-1", T0 + HOUR, pr=pr, role="prod-db-readonly")
    ledger.end("expire", "db-octo-1", T0 + 3 * HOUR, pr=pr, role="prod-db-readonly")
    pr = issued(ledger, "stg-octo-2", T0 + 4 * HOUR)
    ledger.end("expire", "stg-octo-2", T0 + 6 * HOUR, pr=pr)
    # later the admins make staging-admin need review: the old issue stays fine
    policy = repo / "policies" / "policy.yaml"
    text = policy.read_text()
    stricter = text.replace(
        "    approvals: []\n", "    approvals:\n      - from: ['@acme/sre']\n        count: 1\n"
    )
    assert stricter != text
    ledger.merge({"policies/policy.yaml": stricter}, T0 + 7 * HOUR)
    pr = issued(ledger, "stg-octo-3", T0 + 8 * HOUR)
    ledger.end("expire", "stg-octo-3", T0 + 10 * HOUR, pr=pr)
    code, lines = verify(repo)
    assert code == 1
    bad = [ln for ln in lines if "no approvers" in ln]
    assert len(bad) == 2
    assert "issue of db-octo-1 has no approvers but its role needs review" in bad[0]
    assert "stg-octo-3" in bad[1] and not any("stg-octo-2" in ln for ln in lines)


def test_reused_id_and_double_issue(ledger: Ledger) -> None:
    pr = issued(ledger, "stg-octo-1", T0)
    ledger.end("expire", "stg-octo-1", T0 + 2 * HOUR, pr=pr)
    pr = issued(ledger, "stg-octo-1", T0 + 3 * HOUR)
    ledger.end("expire", "stg-octo-1", T0 + 5 * HOUR, pr=pr)
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any("grant id stg-octo-1 was added again (ids are never reused)" in ln for ln in lines)
    assert any("grant stg-octo-1 was issued again" in ln for ln in lines)


def test_late_sweep_and_tolerance(ledger: Ledger) -> None:
    pr = issued(ledger, "stg-octo-1", T0)
    ledger.end("expire", "stg-octo-1", T0 + 4 * HOUR, pr=pr)  # 2h late
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any(
        "grant stg-octo-1 stayed active in git 119 min past its expiry 2026-11-01T12:00:30Z "
        "(tolerance 30 min)" in ln
        for ln in lines
    )
    assert verify(ledger.repo, "--tolerance", "3h")[0] == 0
    assert verify(ledger.repo, "--tolerance", "soon")[0] == 2


def test_still_in_git_long_after_expiry(ledger: Ledger) -> None:
    issued(ledger, "stg-octo-1", T0)  # expired long ago; no sweep ever ran
    code, lines = verify(ledger.repo)
    assert code == 1 and any("stg-octo-1 stayed active in git" in ln for ln in lines)


def test_status_block_and_trailers_must_agree(ledger: Ledger) -> None:
    pr = ledger.add("stg-octo-1", request("octocat", "staging-admin"), T0)
    ledger.issue("stg-octo-1", T0 + HOUR, pr=pr, approved=("alice",), status_expires=T0 + 9 * HOUR)
    ledger.end("expire", "stg-octo-1", T0 + 3 * HOUR, pr=pr)
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any("stg-octo-1: status expires_at and trailer disagree" in ln for ln in lines)


def test_changes_to_grants_outside_pull_requests_and_jitops(ledger: Ledger) -> None:
    repo = ledger.repo
    issued(ledger, "stg-octo-1", datetime.now(UTC) - timedelta(minutes=5))
    # an admin edits an active grant on main directly
    path = repo / "grants" / "stg-octo-1.yaml"
    path.write_text(path.read_text().replace("duration: 2h", "duration: 8h"))
    git(repo, "commit", "-qam", "extend")
    # a single-parent commit pretending to be GitHub's merge
    (repo / "grants" / "stg-evil-2.yaml").write_text(request("evil", "staging-admin"))
    git(repo, "add", "grants")
    git(repo, "commit", "-qm", "Merge pull request #99 from acme/evil")
    # the PR number in the trailer is not the merge that added the file
    pr = ledger.add("stg-octo-3", request("octocat", "staging-admin"), T0)
    ledger.issue("stg-octo-3", datetime.now(UTC) - timedelta(minutes=1), pr=pr + 5)
    code, lines = verify(repo)
    assert code == 1
    assert any("grants/stg-octo-1.yaml was edited outside jitops" in ln for ln in lines)
    unexplained = [ln for ln in lines if "neither from a pull request merge" in ln]
    assert len(unexplained) == 2 and "'extend'" in unexplained[0]
    assert any(f"names pull request #{pr + 5}, but #{pr} added the file" in ln for ln in lines)


def test_fragments_of_a_rewritten_history(ledger: Ledger) -> None:
    # the merge that added the grant was force-pushed away; its jitops commits remain
    ledger.at(T0)
    text = request("octocat", "staging-admin").encode()
    ledger.git.commit({"grants/stg-ghost-1.yaml": text}, "squashed history\n")
    ledger.end("expire", "stg-ghost-1", T0 + HOUR, pr=4)
    # and an expire of a grant whose file is not there: it changes nothing, so it is no record
    ledger.end("expire", "stg-ghost-2", T0 + HOUR, pr=5)
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any(
        "stg-ghost-1 was ended (expire) but never issued in this history" in ln for ln in lines
    )
    assert any("'squashed history'" in ln for ln in lines)  # neither PR merge nor jitops
    assert any(
        "its change (no change) does not remove only grants/stg-ghost-2.yaml, as expire must" in ln
        for ln in lines
    )


def test_issues_that_lack_what_an_issue_must_have(ledger: Ledger) -> None:
    repo = ledger.repo
    # a grant pushed straight to main, then issued: no pull request merge added it
    ledger.at(T0)
    text = request("octocat", "staging-admin")
    ledger.texts["stg-push-1"] = text
    ledger.git.commit({"grants/stg-push-1.yaml": text.encode()}, "add a grant by hand\n")
    ledger.issue("stg-push-1", T0 + HOUR, pr=None)
    # an issue whose trailers name no pull request and no expiry, still in grants/
    now = datetime.now(UTC)
    pr = ledger.add("stg-open-2", request("octocat", "staging-admin"), now - HOUR)
    ledger.at(now - timedelta(minutes=30))
    ledger.git.commit(
        {"grants/stg-open-2.yaml": (ledger.texts["stg-open-2"] + "status: {}\n").encode()},
        "jitops: issue stg-open-2\n\nIssued.\n\nJitops-Action: issue\nJitops-Grant: stg-open-2\n"
        "Jitops-Requester: octocat\nJitops-Role: staging-admin\n",
    )
    # an issue left behind by a force-push that removed the merge adding its file
    ledger.at(now - timedelta(minutes=10))
    entry_msg = (
        "jitops: issue stg-gone-3\n\nIssued.\n\nJitops-Action: issue\nJitops-Grant: stg-gone-3\n"
        f"Jitops-Requester: octocat\nJitops-Role: staging-admin\nJitops-Pull-Request: {pr + 1}\n"
        f"Jitops-Expires-At: {(now + HOUR).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
    )
    ledger.git.commit({}, entry_msg)
    code, lines = verify(repo)
    assert code == 1
    text_out = "\n".join(lines)
    assert "issue of stg-push-1, whose file was not added by a pull request merge" in text_out
    assert "issue of stg-push-1 has no pull request" in text_out
    assert "issue of stg-open-2 has no pull request" not in text_out  # its merge is #pr
    assert "issue of stg-open-2 has no expires_at" in text_out
    assert "grant stg-open-2 is active without an expires_at" in text_out
    # an issue that changes no file is not believed (jitops' issue adds the status block)
    assert (
        "carries Jitops-* trailers but its change (no change) does not modify only "
        "grants/stg-gone-3.yaml, as issue must; not a ledger record"
    ) in text_out
    assert "neither from a pull request merge nor from jitops" in text_out  # the hand push
    assert not any("Traceback" in ln for ln in lines)


def test_an_unreadable_policy_at_issue_time_counts_as_needing_review(ledger: Ledger) -> None:
    # the policy of the issue's parent commit cannot be loaded: an issue without approvers
    # is then reported rather than excused (staging-admin itself needs no review)
    ledger.at(T0)
    ledger.git.commit({"policies/policy.yaml": b"roles: [this is not a policy\n"}, "break it\n")
    issued(ledger, "stg-octo-1", T0 + HOUR)
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any(
        "issue of stg-octo-1 has no approvers but its role needs review" in ln for ln in lines
    )


def _squash(ledger: Ledger, changes: dict[str, str], message: str, when: datetime) -> str:
    """A pull request squash-merged by GitHub: one parent, a message its author controls."""
    ledger.at(when)
    branch = f"readme-{len(message)}"
    git(ledger.repo, "checkout", "-q", "-b", branch, "main")
    ledger.git.commit({p: t.encode() for p, t in changes.items()}, "edit\n")
    git(ledger.repo, "checkout", "-q", "main")
    git(ledger.repo, "merge", "-q", "--squash", branch)
    (ledger.repo / ".git" / "MSG").write_text(message)
    git(ledger.repo, "commit", "-q", "-F", str(ledger.repo / ".git" / "MSG"))
    return git(ledger.repo, "rev-parse", "HEAD").strip()


def _active(repo: Path) -> list[str]:
    code, out = run(repo, "--active", "--format", "json")
    assert code == 0, out
    return [r["grant"] for r in json.loads(out)]


def test_a_squash_merge_cannot_forge_an_expiry(ledger: Ledger) -> None:
    """A harmless README pull request squash-merged with a message ending in jitops' trailers
    does not hide a live grant from `audit --active`, and `verify` names the commit."""
    now = datetime.now(UTC).replace(microsecond=0)
    issued(ledger, "stg-octo-1", now - timedelta(minutes=10))
    assert _active(ledger.repo) == ["stg-octo-1"]
    forged = (
        "Fix typo in README (#7)\n\n"
        "Jitops-Action: expire\nJitops-Grant: stg-octo-1\nJitops-Requester: octocat\n"
        "Jitops-Role: staging-admin\n"
    )
    sha = _squash(ledger, {"README.md": "typo fixed\n"}, forged, now - timedelta(minutes=5))
    # the merger may also rewrite the squash subject to look like jitops' own
    edited = forged.replace("Fix typo in README (#7)", "jitops: expire stg-octo-1")
    sha2 = _squash(ledger, {"README.md": "again\n"}, edited, now - timedelta(minutes=4))
    # and a two-parent merge commit carrying the trailers
    ledger.merge({"docs.md": "x\n"}, now - timedelta(minutes=3))
    msg = (
        "Merge pull request #9 from a/b\n\nJitops-Action: revoke\nJitops-Grant: stg-octo-1\n"
        "Jitops-Requester: octocat\nJitops-Role: staging-admin\nJitops-Reason: forged\n"
    )
    git(ledger.repo, "commit", "-q", "--amend", "-m", msg)
    merge = git(ledger.repo, "rev-parse", "HEAD").strip()
    assert _active(ledger.repo) == ["stg-octo-1"]
    code, lines = verify(ledger.repo)
    assert code == 1
    text = "\n".join(lines)
    assert (
        f"{sha[:12]}: carries Jitops-* trailers but is the squash or rebase merge of pull "
        "request #7; not a ledger record"
    ) in text
    assert (
        f"{sha2[:12]}: carries Jitops-* trailers but its change (M README.md) does not remove "
        "only grants/stg-octo-1.yaml, as expire must; not a ledger record"
    ) in text
    assert f"{merge[:12]}: carries Jitops-* trailers but is a merge commit" in text
    assert records(ledger.repo)["stg-octo-1"]["ended_by"] is None


def test_an_expire_that_leaves_the_file_is_no_record(ledger: Ledger) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    pr = issued(ledger, "stg-octo-1", now - timedelta(minutes=10))
    entry = LedgerEntry("expire", "stg-octo-1", "octocat", "staging-admin", pr)
    ledger.at(now - timedelta(minutes=1))
    path = ledger.repo / "grants" / "stg-octo-1.yaml"
    sha = ledger.git.commit(
        {"grants/stg-octo-1.yaml": path.read_bytes() + b"# gone\n"},
        commit_message(entry, "Access ended."),
    )
    assert _active(ledger.repo) == ["stg-octo-1"]
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any(
        ln.startswith(
            f"{sha[:12]}: carries Jitops-* trailers but its change (M "
            "grants/stg-octo-1.yaml) does not remove only grants/stg-octo-1.yaml"
        )
        for ln in lines
    ), lines


def test_jitops_own_records_are_still_believed(ledger: Ledger) -> None:
    """The same history written the way jitops writes it: a clean ledger, every end believed,
    including the revoke jitops records after a pull request deleted the file."""
    pr = issued(ledger, "stg-octo-1", T0)
    ledger.end("expire", "stg-octo-1", T0 + 2 * HOUR + timedelta(minutes=5), pr=pr)
    pr = issued(ledger, "stg-octo-2", T0 + 3 * HOUR)
    ledger.merge({"grants/stg-octo-2.yaml": None}, T0 + 4 * HOUR)  # early revoke by PR
    ledger.end("revoke", "stg-octo-2", T0 + 4 * HOUR + timedelta(minutes=1), pr=pr, reason="x")
    code, lines = verify(ledger.repo)
    assert code == 0, lines
    recs = records(ledger.repo)
    assert recs["stg-octo-1"]["ended_by"] == "expire" and recs["stg-octo-2"]["ended_by"] == "revoke"


def test_a_file_name_with_a_newline_is_never_a_grant(ledger: Ledger) -> None:
    name = "grants/stg-a\nJitops-Action: expire.yaml"
    ledger.merge({name: request("octocat", "staging-admin")}, T0)
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any("its name is not a valid grant id" in ln and "\\n" in ln for ln in lines), lines
    assert all("Jitops-Action: expire" not in ln or "\\n" in ln for ln in lines)
    assert records(ledger.repo) == {}


def test_a_reissue_for_the_time_left_is_consistent_but_not_one_that_extends(
    ledger: Ledger,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=10)
    pr = issued(ledger, "stg-octo-1", start)  # expires at start + 30 s + 2 h
    # the delivery was never posted: jitops re-issues for the time left (same expiry)
    ledger.issue(
        "stg-octo-1",
        start + 10 * timedelta(minutes=1),
        pr=pr,
        duration=timedelta(hours=2, seconds=30) - timedelta(minutes=10),
    )
    code, lines = verify(ledger.repo)
    assert (code, lines[:-1]) == (0, []), lines
    # an issue that pushes the expiry out is not a re-issue
    ledger.issue("stg-octo-1", start + 11 * timedelta(minutes=1), pr=pr, duration=5 * HOUR)
    code, lines = verify(ledger.repo)
    assert code == 1
    assert any("stg-octo-1 was issued again with a later expiry" in ln for ln in lines), lines


STATUS = (
    "status:\n  state: active\n  pull_request: 1\n  approved_by: []\n"
    "  issued_at: 2026-11-01T10:00:30Z\n  expires_at: 2026-11-01T12:00:30Z\n"
    "  token_accessor: acc-1\n"
)


def test_a_status_block_that_arrived_with_the_file_is_reported(ledger: Ledger) -> None:
    """A history rewritten so that jitops' issue commit is folded into the merge that added the
    file: the grant carries a status block (a live token) but no issue record, so `--active`
    would not list it. A request carrying a status block that jitops denied is no finding."""
    now = datetime.now(UTC)
    ledger.add("stg-octo-1", request("octocat", "staging-admin") + STATUS, now, squash=True)
    pr = ledger.add("stg-octo-2", request("octocat", "staging-admin") + STATUS, now)
    ledger.end("deny", "stg-octo-2", now, pr=pr, reason="gate rule 4")
    code, lines = verify(ledger.repo)
    assert code == 1
    (bad,) = lines[:-1] if lines[-1].startswith("2 grants") else lines
    assert "grants/stg-octo-1.yaml was added with a status block" in bad
    assert "stg-octo-2" not in "\n".join(lines)
    assert not any(r["active"] for r in records(ledger.repo).values())


def _replayed(ledger: Ledger, gid: str, when: datetime) -> None:
    """A writer's pull request rebase-merged: its own commit adding the file lands as a
    single-parent commit with the writer's message (no merge commit, no ``(#N)``)."""
    ledger.texts[gid] = request("mallory", "staging-admin")
    ledger.at(when)
    ledger.git.commit({f"grants/{gid}.yaml": ledger.texts[gid].encode()}, "Request access\n")


def test_an_issue_record_forged_by_a_rebase_merge_is_reported(ledger: Ledger) -> None:
    """A writer's pull request whose second commit copies jitops' issue commit (subject,
    trailers with approvers of their choosing, a status block), rebase-merged: both commits
    land single-parent on main and the copy has jitops' shape. The gate takes the file off main
    with a deny (its status was not jitops'), but the ledger then shows an issue by approvers
    who never approved, and the forged record vouched for the addition. jitops never denies a
    grant it issued, so an issue followed by a deny is not jitops' record."""
    now = datetime.now(UTC)
    _replayed(ledger, "stg-mallory-1", now - HOUR)
    copy = {"pr": 7, "approved": ("alice",), "requester": "mallory"}
    ledger.issue("stg-mallory-1", now - HOUR, **copy)  # type: ignore[arg-type]  # the writer's
    ledger.end(
        "deny",
        "stg-mallory-1",
        now - HOUR + timedelta(minutes=1),
        pr=7,
        reason="x",
        requester="mallory",
    )
    code, lines = verify(ledger.repo)
    assert code == 1, lines
    assert any("stg-mallory-1" in ln and "denied after it was issued" in ln for ln in lines), lines


@pytest.mark.xfail(
    strict=True,
    reason="an expire commit carries no time of its own: the audit sees only the commit time, "
    "and `jitops sweep --now` (tests, operators) commits real-time expires for a pretended "
    "time, so 'expired before expires_at' cannot be told from that without the sweep "
    "recording the time it judged by (a trailer written by the lifecycle's expire commit)",
)
def test_an_expire_before_the_expiry_is_reported(ledger: Ledger) -> None:
    """jitops' sweep expires a grant only once its ``expires_at`` has passed. A deletion of
    someone else's active grant committed with jitops' expire message (rebase-merged from a
    pull request) would otherwise read as a normal expiry in the audit."""
    now = datetime.now(UTC)
    pr = issued(ledger, "stg-octo-1", now - HOUR)
    ledger.end("expire", "stg-octo-1", now - timedelta(minutes=10), pr=pr)  # 50 min early
    code, lines = verify(ledger.repo)
    assert code == 1, lines
    assert any("stg-octo-1" in ln and "before its expiry" in ln for ln in lines)
