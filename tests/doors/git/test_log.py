"""The ledger's streaming log reader, batched lookups and `Git.commit`, on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from jitops.doors.git import BOT_NAME, Git, GitError
from tests.conftest import commit_all, git, init_repo

pytestmark = pytest.mark.integration  # real git repositories


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "r")
    (root / "grants").mkdir()
    (root / "grants" / "a-one.yaml").write_text("a\n")
    commit_all(root, "seed")
    return root


def test_commit_writes_deletes_and_stages_only_its_paths(repo: Path) -> None:
    (repo / "stray.txt").write_text("not mine\n")
    g = Git(repo)
    sha = g.commit({"grants/a-one.yaml": None, "grants/b-two.yaml": b"b\n"}, "jitops: x\n\nbody\n")
    assert git(repo, "rev-parse", "HEAD").strip() == sha
    shown = git(repo, "show", "--name-status", "--format=", sha).split("\n")
    assert sorted(filter(None, shown)) == ["A\tgrants/b-two.yaml", "D\tgrants/a-one.yaml"]
    assert "?? stray.txt" in git(repo, "status", "--porcelain")


def test_commit_identity_defaults_to_the_bot(tmp_path: Path) -> None:
    root = tmp_path / "bare-identity"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    home = tmp_path / "home"
    home.mkdir()
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home))
        for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME", "GIT_AUTHOR_EMAIL", "EMAIL"):
            mp.delenv(key, raising=False)
        Git(root).commit({"f": b"x"}, "m\n")
        assert git(root, "log", "-1", "--format=%an").strip() == BOT_NAME
    finally:
        mp.undo()


def test_log_records_stream_merges_against_main(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "req")
    (repo / "grants" / "b-two.yaml").write_text("b\n")
    commit_all(repo, "request b")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/req", "req")
    msg = "jitops: issue b-two\n\nIssued.\n\nJitops-Action: issue\nJitops-Grant: b-two\n"
    Git(repo).commit({"grants/b-two.yaml": b"b\nstatus: {}\n"}, msg)
    got = list(Git(repo).log_records("HEAD"))
    assert [c.subject for c in got] == [
        "seed",
        "Merge pull request #7 from acme/req",
        "jitops: issue b-two",
    ]  # first parent only: the side commit is not listed
    merge, issue = got[1], got[2]
    assert len(merge.parents) == 2 and len(issue.parents) == 1
    assert [c[:2] for c in merge.changes] == [("A", "grants/b-two.yaml")]
    assert issue.trailers == {"Jitops-Action": "issue", "Jitops-Grant": "b-two"}
    blob = git(repo, "rev-parse", "HEAD:grants/b-two.yaml").strip()
    assert issue.changes == (("M", "grants/b-two.yaml", blob),)
    assert Git(repo).read_blobs([blob])[blob] == b"b\nstatus: {}\n"


def test_messages_cannot_break_the_reader(repo: Path) -> None:
    forged = (
        b"caf\xe9 \x1e\x1f\x1f:100644 100644 aa bb M\tgrants/evil.yaml\x1e\n\n"
        b"Jitops-Action: issue\n"
    )
    (repo / "m").write_bytes(forged)
    (repo / "grants" / "a-one.yaml").write_text("changed\n")
    git(repo, "add", "grants")
    git(repo, "commit", "-q", "-F", "m")
    last = list(Git(repo).log_records("HEAD"))[-1]
    assert not last.unreadable
    assert last.subject.startswith("caf") and last.subject.endswith("grants/evil.yaml\x1e")
    assert [c[:2] for c in last.changes] == [("M", "grants/a-one.yaml")]
    assert last.trailers == {"Jitops-Action": "issue"}


def test_stopping_early_ends_git(repo: Path) -> None:
    g = Git(repo)
    for i in range(30):
        g.commit({f"grants/g-{i:03d}.yaml": b"x" * 5000}, f"c{i}\n")
    reader = g.log_records("HEAD")
    assert next(reader).subject == "seed"
    reader.close()  # kills and reaps the git process; nothing hangs
    assert list(g.log_records("no-such-ref")) == []


def test_resolve_many_is_one_batched_lookup(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD:grants").strip()
    got = Git(repo).resolve_many([f"{head}:grants", f"{head}^1:grants", "HEAD:missing"])
    assert got == {f"{head}:grants": tree, f"{head}^1:grants": None, "HEAD:missing": None}


def test_blob_stream_reads_while_requests_arrive(repo: Path) -> None:
    g = Git(repo)
    big = b"y" * 300_000  # more than a pipe holds: the drain thread must keep git going
    g.commit({"grants/big.yaml": big}, "big\n")
    blob = git(repo, "rev-parse", "HEAD:grants/big.yaml").strip()
    small = git(repo, "rev-parse", "HEAD:grants/a-one.yaml").strip()
    stream = g.blob_stream()
    for sha in (blob, small, blob):
        stream.request(sha)
    assert stream.finish() == {blob: big, small: b"a\n"}
    stream = g.blob_stream()
    stream.request("0" * 40)
    with pytest.raises(GitError, match="missing from the repository"):
        stream.finish()


def test_only_jitops_own_commits_count_as_records(tmp_path: Path) -> None:
    """`jitops_entry` / `recorded` (what the issue job asks before revoking) believe a commit
    jitops made, not a squash merge whose message carries the same trailers."""
    from jitops.core.trailers import LedgerEntry, commit_message

    repo = init_repo(tmp_path / "r")
    (repo / "grants").mkdir()
    (repo / "grants" / "stg-a-1.yaml").write_text("requester: octocat\n")
    (repo / "grants" / "stg-b-2.yaml").write_text("requester: octocat\n")
    commit_all(repo, "seed")
    g = Git(repo)
    revoke = commit_message(LedgerEntry("revoke", "stg-a-1", "octocat", "r"), "Revoked.")
    own = g.commit({"grants/stg-a-1.yaml": None}, revoke)
    forged = "Delete a grant (#12)\n\n" + revoke.split("\n\n", 2)[2]  # same trailers
    fake = g.commit({"grants/stg-b-2.yaml": None}, forged)
    assert git(repo, "log", "-1", "--format=%(trailers:key=Jitops-Action,valueonly)").strip() == (
        "revoke"
    )
    entry = g.jitops_entry(own)
    assert entry is not None and (entry.action, entry.grant) == ("revoke", "stg-a-1")
    assert g.jitops_entry(fake) is None
    assert g.recorded("HEAD", "stg-a-1", "revoke")
    forged_b = forged.replace("stg-a-1", "stg-b-2")
    g.commit({}, forged_b)  # a message naming stg-b-2, changing nothing, subject a PR's
    assert not g.recorded("HEAD", "stg-b-2", "revoke")
