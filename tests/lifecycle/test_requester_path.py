"""A requester's whole path through the CLI, the GitHub stand-in and a real OpenBao: request
on a laptop clone, approval, merge, issue, claim while still on the request branch -- with a
passphrase-protected SSH key, and with an age recipient named in the grant."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner, Result

from jitops.cli import cli
from jitops.lifecycle.issue import run_issue
from jitops_sandbox.demo.world import DBA, REPO, REQUESTER, World
from tests.fixtures.sshkeys import make_key

pytestmark = pytest.mark.integration


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def _laptop(world: World, tmp_path: Path) -> Path:
    """The requester's own clone; its remote names the repository as github.com does (git
    reaches the stand-in's bare repository through ``url.<path>.insteadOf``)."""
    laptop = world.gh.clone(tmp_path / "laptop")
    url = f"https://github.com/{REPO}.git"
    _git(laptop, "config", "remote.origin.url", url)
    _git(laptop, "config", f"url.{world.gh.repo_path}.insteadOf", url)
    _git(laptop, "config", "user.name", REQUESTER)
    _git(laptop, "config", "user.email", f"{REQUESTER}@example.com")
    return laptop


def _fake_gh(tmp_path: Path, token: str) -> str:
    """A `gh` on PATH that knows ``token`` for github.com, as `gh auth login` would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2 $3 $4" = "auth token --hostname github.com" ]; then\n'
        f"  echo '{token}'; exit 0\nfi\n"
        "echo 'not logged in' >&2; exit 1\n"
    )
    gh.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def _laptop_env(world: World, tmp_path: Path) -> dict[str, str | None]:
    """A laptop: no GITHUB_REPOSITORY, no token in the environment; `gh` signed in."""
    return {
        "GITHUB_API_URL": world.gh.api_url,  # the stand-in (github.com's API in real life)
        "GITHUB_REPOSITORY": None,
        "GITHUB_TOKEN": None,
        "JITOPS_GITHUB_TOKEN": None,
        "VAULT_ADDR": None,
        "VAULT_TOKEN": None,
        "PATH": _fake_gh(tmp_path, world.gh.token(REQUESTER)),
    }


def _invoke(args: list[str], env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(cli, args, env=env)


def _request_merge_issue(
    world: World, laptop: Path, env: dict[str, str | None], *extra: str
) -> str:
    args = ["request", "orders-db-readonly", "--duration", "30m", "--reason", "Slow order queries"]
    result = _invoke([*args, "--ticket", "INC-7", *extra, "--repo", str(laptop)], env)
    assert result.exit_code == 0, result.output
    assert f"repository {REPO} from the git remote origin" in result.stderr
    assert "token of the GitHub CLI" in result.stderr
    grant_id = result.stdout.split("wrote grants/")[1].split(".yaml")[0]
    assert _git(laptop, "branch", "--show-current") == f"jitops/{grant_id}"
    world.gh.review(1, DBA, "APPROVED")
    world.gh.merge_pr(1, DBA)
    assert [(o.grant, o.action) for o in run_issue(world.services())] == [(grant_id, "issued")]
    return grant_id


def _claim(laptop: Path, env: dict[str, str | None], grant_id: str, *extra: str) -> Result:
    return _invoke(
        ["claim", grant_id, *extra, "--format", "json", "--repo", str(laptop)],
        {**env, "VAULT_NAMESPACE": None},
    )


def test_a_passphrase_key_claims_on_the_request_branch_right_after_request(
    world: World, tmp_path: Path
) -> None:
    """request -> approve -> merge -> issue -> claim, the laptop never leaving the request
    branch (no `git pull`): the status is read from main on GitHub, the key's passphrase from
    --passphrase-file, and the key is decrypted in memory."""
    (tmp_path / "keys").mkdir()
    locked = make_key(tmp_path / "keys", "id_ed25519", passphrase="correct horse")
    world.gh.add_ssh_key(REQUESTER, locked.public_line)
    laptop = _laptop(world, tmp_path)
    env = _laptop_env(world, tmp_path)
    grant_id = _request_merge_issue(world, laptop, env)
    (tmp_path / "pass").write_text("correct horse\n")
    before = sorted(p.name for p in (tmp_path / "keys").iterdir())

    claimed = _claim(
        laptop, env, grant_id, "--identity", str(locked.private),
        "--passphrase-file", str(tmp_path / "pass"),
    )  # fmt: skip
    assert claimed.exit_code == 0, claimed.output
    assert '"username": "orders_ro"' in claimed.stdout
    assert _git(laptop, "branch", "--show-current") == f"jitops/{grant_id}"
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == before  # nothing written
    # the delivery is single-use, and the error names the grant (not a literal "<id>")
    again = _claim(
        laptop, env, grant_id, "--identity", str(locked.private),
        "--passphrase-file", str(tmp_path / "pass"),
    )  # fmt: skip
    assert again.exit_code != 0
    assert f"jitops revoke {grant_id} --reason" in again.output
    assert "<id>" not in again.output


def test_an_age_recipient_in_the_grant_is_the_only_way_to_open_the_delivery(
    world: World, tmp_path: Path
) -> None:
    """A requester whose key lives on hardware names an age recipient: the delivery is sealed
    to it only (their GitHub SSH key does not open it) and claim opens it with the identity."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    identity_file = tmp_path / "age-identity.txt"
    identity_file.write_text(f"# public key: {recipient}\n{identity}\n")
    laptop = _laptop(world, tmp_path)
    env = _laptop_env(world, tmp_path)
    grant_id = _request_merge_issue(world, laptop, env, "--recipient", recipient)

    delivery = next(c for c in world.gh.comments(1) if "jitops:delivery" in c)
    assert recipient in delivery and "age recipient the grant file names" in delivery
    ssh = _claim(laptop, env, grant_id, "--identity", str(world.key.private))
    assert ssh.exit_code != 0
    assert "sealed to other keys" in ssh.output
    claimed = _claim(laptop, env, grant_id, "--identity", str(identity_file))
    assert claimed.exit_code == 0, claimed.output
    assert '"username": "orders_ro"' in claimed.stdout


def test_request_refuses_a_requester_without_a_usable_key_and_pushes_nothing(
    world: World, tmp_path: Path
) -> None:
    laptop = _laptop(world, tmp_path)
    env = _laptop_env(world, tmp_path)
    (tmp_path / "m").mkdir()
    env["PATH"] = _fake_gh(tmp_path / "m", world.gh.token("mallory"))
    args = ["request", "staging-admin", "--duration", "1h", "--reason", "Debug the pipeline"]
    result = _invoke([*args, "--repo", str(laptop)], env)
    assert result.exit_code == 1, result.output
    assert "mallory has no ed25519 or RSA SSH key on GitHub" in result.output
    assert "nothing was pushed" in result.output and "--recipient age1" in result.output
    assert world.gh.store.git.branches() == ["main"]
    assert "jitops/" not in _git(laptop, "branch")
