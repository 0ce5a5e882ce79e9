"""`jitops request` against the GitHub stand-in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops_sandbox.demo.world import REQUESTER, World

pytestmark = pytest.mark.integration


def run(world: World, *args: str, login: str = REQUESTER) -> tuple[int, str]:
    env = {**world.environ(), "GITHUB_TOKEN": world.gh.token(login)}
    result = CliRunner().invoke(cli, ["request", *args, "--repo", str(world.checkout)], env=env)
    return result.exit_code, result.output


def written(out: str) -> str:
    return out.split("wrote ")[1].split(" ")[0]


def test_request_opens_a_valid_pull_request(world: World) -> None:
    code, out = run(world, "staging-admin", "--duration", "2h", "--reason", "Debug the pipeline")
    assert code == 0, out
    assert "opened pull request #1" in out
    pr = world.gh.pr(1)
    assert pr.author == REQUESTER
    path = written(out)
    assert path.startswith(f"grants/staging-admin-{REQUESTER}-")
    text = world.gh.read_file(pr.head_ref, path)
    assert text is not None
    assert "requester: octocat" in text
    assert "duration: 2h" in text
    # what it wrote passes validation
    check = CliRunner().invoke(cli, ["validate", "--repo", str(world.checkout), path])
    assert check.exit_code == 0, check.output


def test_invalid_request_writes_nothing(world: World) -> None:
    code, out = run(world, "orders-db-readonly", "--duration", "5h", "--reason", "Slow queries")
    assert code == 1
    assert "exceeds the 1h maximum" in out
    assert "requires a ticket" in out
    branches = subprocess.run(
        ["git", "branch"], cwd=world.checkout, capture_output=True, text=True, check=True
    ).stdout
    assert "jitops/" not in branches
    assert list((Path(world.checkout) / "grants").glob("orders-*")) == []


def test_two_requests_get_two_ids(world: World) -> None:
    paths = []
    for _ in range(2):
        code, out = run(
            world, "staging-admin", "--duration", "1h", "--reason", "Debug the pipeline", "--no-pr"
        )
        assert code == 0, out
        paths.append(written(out))
        subprocess.run(["git", "checkout", "-q", "main"], cwd=world.checkout, check=True)
    assert paths[0] != paths[1]
    assert paths[1] == paths[0].replace(".yaml", "-2.yaml")


def test_missing_options_without_a_terminal_is_a_usage_error(world: World) -> None:
    code, out = run(world, "staging-admin")
    assert code == 2
    assert "missing --duration, --reason" in out


def test_a_request_with_a_secret_in_its_reason_writes_and_echoes_nothing(world: World) -> None:
    token = "ghp_" + "a1B2c3D4e5" * 3 + "abcdef"
    code, out = run(
        world, "staging-admin", "--duration", "1h", "--reason", f"CI fails with {token}"
    )
    assert code == 1
    assert "reason contains a GitHub token (github_token)" in out
    assert token not in out and "a1B2c3D4e5" not in out
    branches = subprocess.run(
        ["git", "branch"], cwd=world.checkout, capture_output=True, text=True, check=True
    ).stdout
    assert "jitops/" not in branches
    assert list((Path(world.checkout) / "grants").glob("staging-admin-*")) == []
