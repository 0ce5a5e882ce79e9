"""The git door's named questions (what the gate and the ledger ask), on a real repository with
a merge commit, a squash-like commit and a deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitops.doors.git import Git
from tests.conftest import commit_all, git, init_repo

pytestmark = pytest.mark.integration  # real git repositories


@pytest.fixture
def history(tmp_path: Path) -> tuple[Git, dict[str, str]]:
    """main: b0 - b1 - m (merging the branch pr: p1), then d (deletes grants/a-one.yaml)."""
    root = init_repo(tmp_path / "r")
    (root / "grants").mkdir()
    (root / "grants" / "a-one.yaml").write_text("a\n")
    shas = {"b0": commit_all(root, "seed")}
    git(root, "checkout", "-q", "-b", "pr")
    (root / "grants" / "b-two.yaml").write_text("b\n")
    shas["p1"] = commit_all(root, "request b-two")
    git(root, "checkout", "-q", "main")
    (root / "README.md").write_text("main moved\n")
    shas["b1"] = commit_all(root, "main moves on")
    git(root, "merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/pr", "pr")
    shas["m"] = git(root, "rev-parse", "HEAD").strip()
    (root / "grants" / "a-one.yaml").unlink()
    shas["d"] = commit_all(root, "remove a-one")
    return Git(root), shas


def test_parents_first_parent_line_and_ancestry(history: tuple[Git, dict[str, str]]) -> None:
    g, s = history
    assert g.parents(s["m"]) == [s["b1"], s["p1"]]
    assert g.first_parent_line("HEAD", s["b1"]) == [s["d"], s["m"], s["b1"]]  # p1 is not on it
    assert g.is_ancestor(s["p1"], s["m"]) is True
    assert g.is_ancestor(s["m"], s["p1"]) is False
    assert g.is_ancestor("0" * 40, s["m"]) is None  # git cannot tell: never a guess


def test_commits_of_a_head_that_a_merge_does_not_reach(history: tuple[Git, dict[str, str]]) -> None:
    g, s = history
    assert g.commits_not_in(s["p1"], s["b1"]) == [s["p1"]]
    assert g.commits_not_in(s["m"], s["b1"], merges=False) == [s["p1"]]
    assert g.merge_bases(s["b1"], s["p1"]) == [s["b0"]]


def test_what_a_range_changes_and_what_was_deleted(history: tuple[Git, dict[str, str]]) -> None:
    g, s = history
    (changed,) = g.changed_paths(s["b1"], s["m"])
    assert changed[0] == b"grants/b-two.yaml" and changed[1] == "100644"
    deleted = g.deletions_since("HEAD", "grants", datetime.now(UTC) - timedelta(hours=1))
    assert deleted == [("grants/a-one.yaml", s["d"])]
    assert g.deletions_since("HEAD", "grants", datetime.now(UTC) + timedelta(hours=1)) == []


def test_commit_time_authorship_and_the_commits_touching_a_folder(
    history: tuple[Git, dict[str, str]],
) -> None:
    g, s = history
    assert abs(g.commit_time(s["d"]) - datetime.now(UTC)) < timedelta(minutes=5)
    assert g.authorship(s["p1"]) in g.authorships(s["p1"], s["b0"])
    assert g.authorship(s["b1"]) not in g.authorships(s["p1"], s["b0"])
    assert g.first_parent_touching("HEAD", "grants", 5) == [s["d"], s["m"], s["b0"]]
