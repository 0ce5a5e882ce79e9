"""`Git.land` against a real bare remote: races converge, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from jitops.core.commits import PlannedCommit
from jitops.doors.git import Git
from tests.conftest import commit_all, git, init_repo


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    seed = init_repo(tmp_path / "seed")
    (seed / "grants").mkdir()
    (seed / "grants" / "a-one.yaml").write_text("a\n")
    commit_all(seed, "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


def clone(remote: Path, dest: Path) -> Git:
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    return Git(dest)


@pytest.mark.integration
def test_land_commits_and_pushes_in_one_go(remote: Path, tmp_path: Path) -> None:
    g = clone(remote, tmp_path / "c1")
    shas = g.land(
        "origin",
        "main",
        lambda _g: [
            PlannedCommit({"grants/a-one.yaml": None}, "remove a\n"),
            PlannedCommit({"grants/b-two.yaml": b"b\n"}, "add b\n"),
        ],
    )
    assert len(shas) == 2
    log = git(remote, "log", "--format=%s", "main").split("\n")
    assert log[:2] == ["add b", "remove a"]


@pytest.mark.integration
def test_race_is_rebuilt_on_the_fresh_tip(remote: Path, tmp_path: Path) -> None:
    first = clone(remote, tmp_path / "c1")
    second = clone(remote, tmp_path / "c2")
    calls = []

    def build_second(g: Git) -> list[PlannedCommit]:
        calls.append(1)
        if len(calls) == 1:  # someone else lands while we are building
            first.land(
                "origin", "main", lambda _g: [PlannedCommit({"grants/x-one.yaml": b"x\n"}, "x\n")]
            )
        present = {e.path for e in g.ls_tree("HEAD", "grants")}
        return [PlannedCommit({"grants/y-two.yaml": b"y\n"}, f"y after {len(present)}\n")]

    second.land("origin", "main", build_second)
    assert len(calls) == 2
    files = git(remote, "ls-tree", "--name-only", "main", "grants/").split()
    assert files == ["grants/a-one.yaml", "grants/x-one.yaml", "grants/y-two.yaml"]
    assert git(remote, "log", "-1", "--format=%s", "main").strip() == "y after 2"


@pytest.mark.integration
def test_nothing_to_do_pushes_nothing(remote: Path, tmp_path: Path) -> None:
    g = clone(remote, tmp_path / "c1")
    before = git(remote, "rev-parse", "main")
    assert g.land("origin", "main", lambda _g: []) == []
    assert git(remote, "rev-parse", "main") == before


@pytest.mark.integration
@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("GH013", "GH013: Repository rule violations found for refs/heads/main."),
        ("GH006", "GH006: Protected branch update failed for refs/heads/main."),
    ],
)
def test_a_push_refused_by_a_rule_is_not_reported_as_a_race(
    remote: Path, tmp_path: Path, code: str, said: str
) -> None:
    """GitHub refuses a push a ruleset (GH013) or branch protection (GH006) forbids with its
    own lines and git's "! [remote rejected]"; retrying cannot help and "others kept pushing
    first" would send the admin looking for a race. The hook says what GitHub says."""
    from jitops.doors.git import GitError

    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho 'error: {said}' >&2\nexit 1\n")
    hook.chmod(0o755)
    g = clone(remote, tmp_path / "c1")
    builds: list[int] = []

    def build(_g: Git) -> list[PlannedCommit]:
        builds.append(1)
        return [PlannedCommit({"grants/b-two.yaml": b"b\n"}, "add b\n")]

    with pytest.raises(GitError) as caught:
        g.land("origin", "main", build)
    message = str(caught.value)
    assert "by a rule, not a race" in message
    assert code in message and "bypass list" in message
    assert "kept pushing first" not in message
    assert builds == [1], "a refusal by a rule is not retried"
