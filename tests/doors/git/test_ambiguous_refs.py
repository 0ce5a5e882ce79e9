"""A writer can push tags. A tag named like the remote-tracking ref (``origin/main``) wins
over it in git's ref resolution (gitrevisions(7): ``refs/tags/<name>`` is tried before
``refs/remotes/<name>``), and actions/checkout with ``fetch-depth: 0`` fetches every tag. So
every read of main and every commit jitops lands must name the remote-tracking ref in full."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from jitops.core.commits import PlannedCommit
from jitops.doors.git import Git
from jitops.lifecycle.services import Services
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


def writer_tag(remote: Path, tmp_path: Path) -> str:
    """mallory commits on top of main (an unreviewed policy change) and pushes it only as a
    tag named ``origin/main``: main itself is protected, tags are not."""
    work = tmp_path / "mallory"
    git(remote.parent, "clone", "-q", str(remote), str(work))
    (work / "policies").mkdir()
    (work / "policies" / "policy.yaml").write_text("roles: {anything: {approvals: []}}\n")
    commit_all(work, "loosen the policy, unreviewed")
    git(work, "tag", "origin/main")
    git(work, "push", "-q", "origin", "refs/tags/origin/main")
    return git(work, "rev-parse", "HEAD").strip()


@pytest.mark.integration
def test_a_tag_named_origin_main_never_lands_on_main(remote: Path, tmp_path: Path) -> None:
    forged = writer_tag(remote, tmp_path)
    runner = tmp_path / "runner"
    git(remote.parent, "clone", "-q", str(remote), str(runner))
    git(runner, "fetch", "-q", "--tags", "origin")  # what fetch-depth: 0 does
    g = Git(runner)
    g.land("origin", "main", lambda _g: [PlannedCommit({"grants/a-one.yaml": None}, "expire a\n")])
    history = git(remote, "log", "--format=%H %s", "refs/heads/main")
    assert forged not in history, "the writer's commit was pushed to main by jitops"
    assert "expire a" in history


@pytest.mark.integration
def test_the_tip_a_run_reads_is_main_not_a_tag(remote: Path, tmp_path: Path) -> None:
    forged = writer_tag(remote, tmp_path)
    runner = tmp_path / "runner"
    git(remote.parent, "clone", "-q", str(remote), str(runner))
    git(runner, "fetch", "-q", "--tags", "origin")
    main = git(runner, "rev-parse", "refs/remotes/origin/main").strip()
    ref = Services.tip.fget(SimpleNamespace(remote="origin", branch="main"))  # type: ignore[attr-defined]
    assert Git(runner).rev_parse(ref) == main != forged
