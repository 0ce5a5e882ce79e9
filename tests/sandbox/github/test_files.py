"""``pulls/{n}/files`` computed from the real git repository (merge base to head)."""

from __future__ import annotations

from pathlib import Path

import github
import pytest

from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import GRANT, git

pytestmark = pytest.mark.integration

OLD = "line one\nline two\nline three\nline four\nline five\n"


@pytest.fixture
def base(gh: GitHubSandbox) -> str:
    return gh.commit_files(
        "main",
        {
            "grants/keep.yaml": OLD,
            "grants/gone.yaml": "retired: true\n",
            "grants/old-name.yaml": OLD * 3,
        },
        message="seed",
    )


def files_of(bot: github.Github, number: int) -> dict[str, github.File.File]:
    return {f.filename: f for f in bot.get_repo("acme/access").get_pull(number).get_files()}


def test_added_removed_modified_renamed(gh: GitHubSandbox, bot: github.Github, base: str) -> None:
    number = gh.open_pr(
        "octocat",
        "change",
        "Change things",
        files={
            "grants/new.yaml": GRANT,
            "grants/gone.yaml": None,
            "grants/keep.yaml": OLD.replace("line two", "line 2"),
            "grants/old-name.yaml": None,
            "grants/new-name.yaml": OLD * 3,
        },
    )
    files = files_of(bot, number)
    assert {name: f.status for name, f in files.items()} == {
        "grants/new.yaml": "added",
        "grants/gone.yaml": "removed",
        "grants/keep.yaml": "modified",
        "grants/new-name.yaml": "renamed",
    }
    added = files["grants/new.yaml"]
    assert (added.additions, added.deletions, added.changes) == (4, 0, 4)
    assert added.patch.startswith("@@ -0,0 +1,4 @@\n+requester: octocat")
    assert added.sha == git_blob(gh, "change", "grants/new.yaml")
    removed = files["grants/gone.yaml"]
    assert (removed.additions, removed.deletions) == (0, 1)
    assert removed.sha == git_blob(gh, "main", "grants/gone.yaml")
    modified = files["grants/keep.yaml"]
    assert (modified.additions, modified.deletions, modified.changes) == (1, 1, 2)
    assert "-line two\n+line 2" in modified.patch
    renamed = files["grants/new-name.yaml"]
    assert renamed.previous_filename == "grants/old-name.yaml"
    assert renamed.changes == 0


def git_blob(gh: GitHubSandbox, ref: str, path: str) -> str:
    return gh.store.git.git("rev-parse", f"{ref}:{path}").strip()


def test_changes_on_main_after_branching_are_not_in_the_pr(
    gh: GitHubSandbox, bot: github.Github, base: str
) -> None:
    number = gh.open_pr("octocat", "grant", "Access", files={"grants/mine.yaml": GRANT})
    gh.commit_files("main", {"grants/someone-else.yaml": GRANT}, message="other merge")
    assert list(files_of(bot, number)) == ["grants/mine.yaml"]


def test_files_follow_a_plain_git_push(
    gh: GitHubSandbox, bot: github.Github, base: str, tmp_path: Path
) -> None:
    number = gh.open_pr("octocat", "grant", "Access", files={"grants/mine.yaml": GRANT})
    work = gh.clone(tmp_path / "clone")
    git(work, "checkout", "-q", "grant")
    git(work, "rm", "-q", "grants/keep.yaml")
    git(work, "commit", "-qm", "also remove keep")
    git(work, "push", "-q", "origin", "grant")
    files = files_of(bot, number)
    assert {n: f.status for n, f in files.items()} == {
        "grants/mine.yaml": "added",
        "grants/keep.yaml": "removed",
    }


def test_files_paginate(gh: GitHubSandbox, bot: github.Github, base: str) -> None:
    many = {f"grants/g{i:03d}.yaml": GRANT for i in range(45)}
    number = gh.open_pr("octocat", "many", "Many", files=many)
    files = bot.get_repo("acme/access").get_pull(number).get_files()
    assert files.totalCount == 45
    assert sorted(f.filename for f in files) == sorted(many)


def test_commit_files_lists_the_diff_against_the_first_parent(
    gh: GitHubSandbox, bot: github.Github, base: str
) -> None:
    sha = gh.commit_files("main", {"grants/gone.yaml": None}, message="remove")
    commit = bot.get_repo("acme/access").get_commit(sha)
    assert [(f.filename, f.status) for f in commit.files] == [("grants/gone.yaml", "removed")]
    assert commit.parents[0].sha == base
    assert commit.commit.message == "remove"
