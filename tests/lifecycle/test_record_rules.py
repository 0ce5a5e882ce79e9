"""jitops' own record and how a pull request landed, decided over in-memory doors
(tests/lifecycle/fakes.py): which commits count as jitops' record, when GitHub is asked, which
commit a merge was made on. The same rules run against real git and the GitHub stand-in in
test_own_record.py, test_forged_status.py and test_gate_attacks.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jitops.core.gate import PullFacts
from jitops.core.record import Move
from jitops.core.tip import Tip, parse_grant_files
from jitops.core.trailers import LedgerEntry
from jitops.errors import JitopsError
from jitops.lifecycle.issue import pending_files
from jitops.lifecycle.landing import LandingUnknown, find_landing, own_record, recorded_accessor
from tests.core.test_tip import POLICY, grant
from tests.lifecycle.fakes import FakeGit, FakeGitHub, services

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=2)
RECENT = NOW - timedelta(minutes=5)
GID = "db-one"
PATH, ISSUED = grant(GID, expires=NOW + timedelta(hours=1))
_, REQUESTED = grant(GID)


def entry(action: str) -> LedgerEntry:
    return LedgerEntry(action, GID, "octocat", "staging", pull_request=7)


def ledger(*, issued_at: datetime = OLD, pulls: dict[str, list[int]] | None = None) -> FakeGit:
    git = FakeGit()
    git.add("a0", at=OLD - timedelta(hours=1), files={PATH: REQUESTED})  # the merged request
    git.add(
        "i1",
        "a0",
        at=issued_at,
        entry=entry("issue"),
        files={PATH: ISSUED},
        message="jitops: issue db-one\n\nJitops-Delivery: wrap-acc\n",
    )
    return git


# -- jitops' own record ------------------------------------------------------------------------
def test_an_old_own_issue_commit_is_the_record_without_asking_github() -> None:
    gh = FakeGitHub(down=True)
    found = own_record(services(ledger(), gh), GID, NOW)
    assert found is not None
    assert (found.entry.action, found.issue_sha, found.file) == ("issue", "i1", ISSUED)
    assert found.accessor == f"acc-{GID}" and found.delivery == "wrap-acc"
    assert gh.asked == []


def test_a_recent_commit_shaped_like_jitops_own_but_in_a_pull_request_is_no_record() -> None:
    # a rebase merge can replay a pull request's commit of exactly jitops' shape
    gh = FakeGitHub(pulls={"i1": [9]})
    assert own_record(services(ledger(issued_at=RECENT), gh), GID, NOW) is None
    assert gh.asked == ["i1"]
    assert recorded_accessor(services(ledger(issued_at=RECENT), gh), PATH, NOW) is None


def test_github_not_answering_about_a_recent_one_is_an_error_never_a_guess() -> None:
    with pytest.raises(JitopsError, match="502"):
        own_record(services(ledger(issued_at=RECENT), FakeGitHub(down=True)), GID, NOW)


def test_the_newest_own_entry_tells_and_the_issue_before_it_is_kept() -> None:
    git = ledger()
    git.add("d2", "i1", at=OLD + timedelta(hours=1), entry=entry("revoke"))
    found = own_record(services(git), GID, NOW)
    assert found is not None
    assert (found.entry.action, found.sha, found.issue_sha) == ("revoke", "d2", "i1")


def test_asking_only_what_jitops_issued_never_looks_at_its_other_commits() -> None:
    git = ledger()
    git.add("d2", "i1", at=RECENT, entry=entry("deny"))  # recent: would need GitHub
    gh = FakeGitHub(down=True)
    found = own_record(services(git, gh), GID, NOW, issues_only=True)
    assert found is not None and found.issue_sha == "i1" and gh.asked == []
    assert recorded_accessor(services(git, gh), PATH, NOW) == f"acc-{GID}"


# -- which files at the tip a run acts on ------------------------------------------------------
def tip_with(data: bytes) -> Tip:
    return Tip("origin/main", parse_grant_files({PATH: data}), POLICY, None, POLICY)


def test_the_record_on_main_stands_and_anything_else_is_acted_on() -> None:
    svc = services(ledger())
    assert pending_files(svc, tip_with(ISSUED), NOW, check_vault=False) == []
    changed = ISSUED.replace(b"acc-db-one", b"acc-someone-else")
    (p,) = pending_files(svc, tip_with(changed), NOW, check_vault=False)
    assert (p.move, p.why) == (Move.ASK_VAULT, "the file differs from jitops' record")
    (new,) = pending_files(services(FakeGit()), tip_with(REQUESTED), NOW, check_vault=False)
    assert (new.move, new.why) == (Move.GATE, "jitops has no record of this grant")


def test_a_record_that_cannot_be_read_now_waits_with_the_reason() -> None:
    svc = services(ledger(issued_at=RECENT), FakeGitHub(down=True))
    (p,) = pending_files(svc, tip_with(ISSUED), NOW, check_vault=False)
    assert p.move is Move.WAIT and "502" in p.why


# -- how a pull request landed -----------------------------------------------------------------
def pull(merge: str | None, head: str, commits: int = 1) -> PullFacts:
    return PullFacts(7, "octocat", True, "main", head, NOW, merge, commits)


def test_a_merge_commit_is_judged_by_the_policy_of_its_first_parent() -> None:
    git = FakeGit()
    git.add("b0", at=OLD)
    git.add("h1", "b0", at=OLD)  # the pull request's own commit
    git.tip = "b0"
    git.add("m", "b0", "h1", at=NOW)
    assert find_landing(services(git), pull("m", "h1"), "m") == (True, "b0")


def test_a_squash_is_judged_by_the_policy_of_its_parent() -> None:
    git = FakeGit()
    git.add("b0", at=OLD)
    git.add("h1", "b0", at=OLD)
    git.tip = "b0"
    git.add("s", "b0", at=NOW)
    assert find_landing(services(git), pull("s", "h1"), "s") == (True, "b0")


def test_a_pull_requests_own_commit_pushed_to_main_has_no_policy_before_it() -> None:
    git = FakeGit()
    git.add("b0", at=OLD)
    git.add("h1", "b0", at=OLD)  # main moved to the PR's head: no merge GitHub made
    assert find_landing(services(git), pull("h1", "h1"), "h1") == (True, None)


def test_a_file_added_before_the_merge_is_not_part_of_how_the_pull_request_landed() -> None:
    git = FakeGit()
    git.add("b0", at=OLD)
    git.add("p1", "b0", at=OLD)  # a push to main added the file
    git.add("h1", "p1", at=OLD)
    git.tip = "p1"
    git.add("m", "p1", "h1", at=NOW)
    assert find_landing(services(git), pull("m", "h1"), "p1") == (False, "p1")
    assert find_landing(services(git), pull("zz", "h1"), "p1") == (False, None)  # not on main


def test_github_and_git_counting_different_commits_is_unknown_not_a_guess() -> None:
    git = FakeGit()
    git.add("b0", at=OLD)
    git.add("h1", "b0", at=OLD)
    git.tip = "b0"
    git.add("s", "b0", at=NOW)
    with pytest.raises(LandingUnknown, match="GitHub counts 2 commits"):
        find_landing(services(git), pull("s", "h1", commits=2), "s")


def test_a_commit_about_another_grant_or_an_invalid_id_is_never_this_grants_record() -> None:
    git = ledger()
    other = LedgerEntry("revoke", "db-two", "octocat", "staging")
    git.add("x2", "i1", at=OLD, entry=other, message="Jitops-Grant: db-one\n")  # trailer lies
    found = own_record(services(git), GID, NOW)
    assert found is not None and found.sha == "i1"
    assert own_record(services(git), "Not_An_Id", NOW) is None


def test_a_file_naming_an_ended_grant_again_is_removed() -> None:
    git = ledger()
    git.add("e2", "i1", at=OLD + timedelta(hours=1), entry=entry("expire"))
    (p,) = pending_files(services(git), tip_with(REQUESTED), NOW, check_vault=False)
    assert p.move is Move.REMOVE and "already ended (it expired)" in p.why


def rebased(associated: dict[str, list[int]]) -> tuple[FakeGit, FakeGitHub]:
    """main: b0 - r1 - r2, the replays of the pull request's h1 - h2 (rebase merge)."""
    git = FakeGit()
    git.add("b0", at=OLD)
    git.add("h1", "b0", at=OLD, message="first")
    git.add("h2", "h1", at=OLD, message="second")
    git.tip = "b0"
    git.add("r1", "b0", at=NOW, message="first")  # a replay keeps author, date and message
    git.add("r2", "r1", at=NOW, message="second")
    return git, FakeGitHub(pulls=associated)


def test_a_rebase_merge_is_judged_by_the_commit_before_its_replays() -> None:
    git, gh = rebased({"r1": [7], "r2": [7]})
    assert find_landing(services(git, gh), pull("r2", "h2", commits=2), "r1") == (True, "b0")


def test_a_rebase_whose_replays_github_has_not_associated_yet_is_unknown() -> None:
    git, gh = rebased({"r2": [7]})  # GitHub can lag behind the push
    with pytest.raises(LandingUnknown, match="does not associate"):
        find_landing(services(git, gh), pull("r2", "h2", commits=2), "r2")


def test_a_rebase_window_reaching_into_older_commits_of_the_same_pull_request_is_unknown() -> None:
    git, gh = rebased({"r1": [7], "r2": [7], "b0": [7]})
    with pytest.raises(LandingUnknown, match="more commits on main"):
        find_landing(services(git, gh), pull("r2", "h2", commits=2), "r2")
