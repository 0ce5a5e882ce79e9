"""Signed ledger: the bot signs its commits with an SSH key from its environment, and
`audit verify --allowed-signers` checks every jitops commit (real git, real ssh-keygen)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from jitops.core.commits import PlannedCommit
from jitops.core.trailers import LedgerEntry, commit_message
from jitops.doors.git import SIGNING_KEY_ENV, Git, GitError, signing
from tests.audit.test_history import T0, Ledger, request
from tests.audit.test_verify import verify
from tests.conftest import commit_all, git, init_repo

pytestmark = pytest.mark.integration


def keypair(directory: Path, name: str) -> tuple[Path, str]:
    """A real ed25519 key pair from ssh-keygen (missing ssh-keygen fails the test)."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path, (directory / f"{name}.pub").read_text().strip()


def allowed(directory: Path, public_line: str) -> Path:
    out = directory / "allowed_signers"
    out.write_text(f'jitops-bot@users.noreply.github.com namespaces="git" {public_line}\n')
    return out


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    d = tmp_path / "keys"
    d.mkdir()
    return d


def test_a_signed_ledger_verifies(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch, keys: Path
) -> None:
    key, public = keypair(keys, "bot")
    ledger = Ledger(access_repo, monkeypatch)
    with signing({SIGNING_KEY_ENV: key.read_text()}) as sign:
        ledger.sign = sign
        pr = ledger.add("stg-octo-1", request("octocat", "staging-admin"), T0)
        ledger.issue("stg-octo-1", T0 + timedelta(seconds=30), pr=pr)
        ledger.end("expire", "stg-octo-1", T0 + timedelta(hours=2, minutes=1), pr=pr)
    code, lines = verify(access_repo, "--allowed-signers", str(allowed(keys, public)))
    assert code == 0, lines
    assert lines == ["1 grant checked: the ledger is consistent; 2 jitops commits signed"]
    # the signature is git's own SSH signature header, readable without jitops
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in git(access_repo, "cat-file", "commit", "HEAD")


def test_unsigned_and_wrongly_signed_jitops_commits_are_reported(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch, keys: Path
) -> None:
    bot, public = keypair(keys, "bot")
    other, _ = keypair(keys, "intruder")
    ledger = Ledger(access_repo, monkeypatch)
    pr = ledger.add("stg-octo-1", request("octocat", "staging-admin"), T0)
    with signing({SIGNING_KEY_ENV: str(bot)}) as sign:  # a path works as well as the key
        ledger.sign = sign
        ledger.issue("stg-octo-1", T0 + timedelta(seconds=30), pr=pr)
    ledger.sign = []
    unsigned = ledger.end("expire", "stg-octo-1", T0 + timedelta(hours=2), pr=pr)
    pr = ledger.add("stg-octo-2", request("octocat", "staging-admin"), T0 + timedelta(hours=3))
    with signing({SIGNING_KEY_ENV: other.read_text()}) as sign:
        ledger.sign = sign
        wrong = ledger.issue("stg-octo-2", T0 + timedelta(hours=3, seconds=30), pr=pr)
    code, lines = verify(access_repo, "--allowed-signers", str(allowed(keys, public)))
    assert code == 1
    assert f"{unsigned[:12]}: jitops commit is not signed" in lines
    assert (
        f"{wrong[:12]}: jitops commit is signed by a key that is not in the allowed signers file"
    ) in lines
    assert sum("jitops commit" in ln for ln in lines) == 2  # the good one passes
    # without --allowed-signers nothing about signatures is said
    assert not any("signed" in ln for ln in verify(access_repo)[1])


def test_land_signs_with_the_environment_key_and_leaves_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Path
) -> None:
    key, public = keypair(keys, "bot")
    seed = init_repo(tmp_path / "seed")
    (seed / "grants").mkdir()
    (seed / "grants" / "a-one.yaml").write_text("a\n")
    commit_all(seed, "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(tmp_path, "clone", "-q", str(bare), str(tmp_path / "c"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv(SIGNING_KEY_ENV, key.read_text())
    seen: list[tuple[str, int]] = []

    def build(g: Git) -> list[PlannedCommit]:
        # the key file exists only while jitops commits, readable by its owner only
        seen.extend((n, os.stat(scratch / n).st_mode & 0o777) for n in os.listdir(scratch))
        entry = LedgerEntry("expire", "a-one", "octocat", "staging-admin")
        return [PlannedCommit({"grants/a-one.yaml": None}, commit_message(entry, "Ended."))]

    (sha,) = Git(tmp_path / "c").land("origin", "main", build)
    assert len(seen) == 1 and seen[0][1] == 0o600
    assert os.listdir(scratch) == []  # removed afterwards
    assert "PRIVATE KEY" not in (tmp_path / "c" / ".git" / "config").read_text()
    check = git(
        bare,
        "-c",
        f"gpg.ssh.allowedSignersFile={allowed(keys, public)}",
        "log",
        "-1",
        "--format=%H %G?",
        "main",
    )
    assert check.split() == [sha, "G"]


def test_a_signing_key_that_is_neither_key_nor_file_is_a_clear_error() -> None:
    with (
        pytest.raises(GitError, match="set it to the bot's SSH private key"),
        signing({SIGNING_KEY_ENV: "/no/such/key"}),
    ):
        pass
    with signing({}) as sign:
        assert sign == []


def test_a_signing_key_set_but_empty_or_unusable_stops_land_before_anything_is_pushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Path
) -> None:
    """Set means sign. An empty variable (what GitHub passes for a secret missing from the
    job's environment), a damaged key or a public key are errors before jitops commits, not
    an unsigned ledger nobody notices."""
    key, _ = keypair(keys, "bot")
    damaged = key.read_text().replace("\n", "\nAAAA", 3)
    lone = tmp_path / "lone.pub"  # a public key with no private key beside it
    lone.write_text((keys / "bot.pub").read_text())
    seed = init_repo(tmp_path / "seed")
    (seed / "grants").mkdir()
    (seed / "grants" / "a-one.yaml").write_text("a\n")
    commit_all(seed, "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(tmp_path, "clone", "-q", str(bare), str(tmp_path / "c"))
    tip = git(bare, "rev-parse", "main").strip()
    built: list[str] = []

    def build(g: Git) -> list[PlannedCommit]:
        built.append("called")
        entry = LedgerEntry("expire", "a-one", "octocat", "staging-admin")
        return [PlannedCommit({"grants/a-one.yaml": None}, commit_message(entry, "Ended."))]

    cases = [
        ("", "is set but empty"),
        ("   \n", "is set but empty"),
        (damaged, "does not hold a key ssh-keygen can sign with"),
        (str(lone), "does not hold a key ssh-keygen can sign with"),
    ]
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # a public key signs only via an agent
    for value, said in cases:
        monkeypatch.setenv(SIGNING_KEY_ENV, value)
        with pytest.raises(GitError, match=said) as caught:
            Git(tmp_path / "c").land("origin", "main", build)
        assert "PRIVATE KEY" not in str(caught.value) and "AAAA" not in str(caught.value)
    assert built == []  # nothing was even planned
    assert git(bare, "rev-parse", "main").strip() == tip  # nothing pushed
    monkeypatch.delenv(SIGNING_KEY_ENV)
    (sha,) = Git(tmp_path / "c").land("origin", "main", build)  # unset: unsigned, as documented
    assert git(bare, "log", "-1", "--format=%H %G?", "main").split() == [sha, "N"]
