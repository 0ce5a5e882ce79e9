"""A ruleset or branch protection that refuses the bot's push is reported as what it is."""

from __future__ import annotations

import pytest

from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Action
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("code", ["GH013", "GH006"])
def test_a_push_refused_by_a_rule_fails_the_issue_with_the_rule_not_a_race(
    world: World, code: str
) -> None:
    """Issue 21: the stand-in refuses the push as GitHub does (``remote: error: GH013:
    Repository rule violations found``); the run used to retry and say "others kept pushing
    first". The token made for the grant is revoked: nobody can hold it."""
    text = "requester: octocat\nrole: staging-admin\nduration: 1h\nreason: Debug the deploy\n"
    n = world.gh.open_pr(REQUESTER, "req", "Access", files={"grants/stg-octocat-5.yaml": text})
    world.gh.merge_pr(n, DBA)
    world.gh.refuse_pushes("main", code)
    [outcome] = run_issue(world.services())
    assert outcome.action is Action.FAILED
    assert "refused jitops' push to origin/main by a rule, not a race" in outcome.detail
    assert code in outcome.detail and "bypass list" in outcome.detail
    assert "kept pushing first" not in outcome.detail
    assert world.grant_tokens() == []
