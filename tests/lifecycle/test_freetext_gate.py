"""The gate applies the free-text lint too: a grant merged past `pr check` (an admin bypass)
with a secret in its reason is denied, and nothing jitops writes repeats the secret."""

from __future__ import annotations

import subprocess

import pytest

from jitops.lifecycle.issue import run_issue
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

TOKEN = "xoxb-" + "1234567890-" * 2 + "AbCdEfGhIjKlMnOp"


def test_the_gate_denies_a_merged_secret_without_repeating_it(world: World) -> None:
    text = (
        "requester: octocat\nrole: staging-admin\nduration: 1h\n"
        f"reason: Slack bot down, token {TOKEN}\n"
    )
    before = world.main_sha()
    n = world.gh.open_pr(
        REQUESTER, "req-leak", "leak", files={"grants/stg-octocat-leak.yaml": text}
    )
    after = world.gh.merge_pr(n, DBA)
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-leak", "denied")]
    assert world.grant_tokens() == []  # no token was created for it
    said = "\n".join(world.gh.comments(n))
    assert "a Slack token or webhook (slack_token)" in said
    log = subprocess.run(
        ["git", "log", "-3", "--format=%B", "main"],
        cwd=world.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for where in (said, log, "\n".join(o.detail for o in outcomes)):
        assert "AbCdEfGhIjKlMnOp" not in where and "1234567890-1234567890" not in where
