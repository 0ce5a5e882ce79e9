"""``jitops sandbox github``: prints what a client needs, serves, stops on SIGTERM or a timer."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops_sandbox.cli.sandbox_github import github_cmd
from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import connect

pytestmark = pytest.mark.integration

SEED = """\
users:
  - {login: jitops-bot, write: true, bot: true, token: bot-token}
  - {login: octocat, keys: ["ssh-ed25519 AAAAC3 octocat"]}
  - alice
teams:
  - {org: acme, slug: dba, members: [alice]}
"""


def test_prints_url_repo_and_tokens_then_stops_by_itself(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    work = tmp_path / "work"
    result = CliRunner().invoke(
        github_cmd, ["--workdir", str(work), "--seed", str(seed), "--for-seconds", "0.2"]
    )
    assert result.exit_code == 0, result.output
    assert "GitHub API:  http://127.0.0.1:" in result.output
    assert str(work / "acme" / "access.git") in result.output
    assert "token jitops-bot: bot-token" in result.output
    assert "token alice: ghp_" in result.output


def test_bad_listen_address_is_a_usage_error() -> None:
    result = CliRunner().invoke(github_cmd, ["--listen", "localhost", "--for-seconds", "0"])
    assert result.exit_code == 2
    assert "HOST:PORT" in result.output


def test_serves_pygithub_until_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    code = "from jitops_sandbox.cli.sandbox_github import github_cmd; github_cmd()"
    args = ["--workdir", str(tmp_path / "w"), "--seed", str(seed), "--for-seconds", "60"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        g = connect(url, "bot-token")
        assert [k.key for k in g.get_user("octocat").get_keys()] == ["ssh-ed25519 AAAAC3 octocat"]
        team = g.get_organization("acme").get_team_by_slug("dba")
        assert team.get_team_membership("alice").role == "member"
        g.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)


def test_seed_with_an_app_rulesets_and_merge_methods(tmp_path: Path) -> None:
    seed = {
        "users": [{"login": "jitops-app[bot]", "write": True, "app_id": 7}, "alice", "dave"],
        "teams": [
            {"org": "acme", "slug": "dba", "members": ["alice"]},
            {"org": "acme", "slug": "dba-oncall", "members": ["dave"], "parent": "dba"},
        ],
        "merge_methods": {"merge": False},
        "rulesets": [
            {"name": "main", "required_approvals": 1, "required_checks": [["jitops/approval", 7]],
             "bypass_apps": [7]},
        ],
    }  # fmt: skip
    with GitHubSandbox(tmp_path / "w") as gh:
        gh.seed(seed)
        assert gh.store.merge_methods == {"merge": False, "squash": True, "rebase": True}
        (ruleset,) = gh.store.rulesets.values()
        assert ruleset.bypass_actors[0]["actor_id"] == 7
        assert ruleset.rule("required_status_checks") is not None
        assert "dave" in gh.store.effective_members(gh.store.team("acme", "dba"))


def test_a_seed_that_does_not_fit_is_a_usage_error(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("rulesets:\n  - {name: x, approvals: 2}\n")
    result = CliRunner().invoke(github_cmd, ["--seed", str(seed), "--for-seconds", "0"])
    assert result.exit_code == 2
    assert "the seed does not fit" in result.output
    assert "approvals" in result.output
