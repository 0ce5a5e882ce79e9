"""`jitops doctor` and break-glass: the on-call team bypasses the branch's rules for pull
requests only (pure findings over rulesets as GitHub's REST API returns them)."""

from __future__ import annotations

from jitops.setup.doctor_github import break_glass_findings, rules_findings

RULES = [
    {"type": "pull_request", "ruleset_id": 1, "parameters": {"require_code_owner_review": True}},
]


def ruleset(*actors: dict[str, object]) -> dict[int, dict[str, object] | None]:
    app = {"actor_type": "Integration", "actor_id": 99, "bypass_mode": "always"}
    return {1: {"name": "main", "bypass_actors": [app, *actors]}}


def test_on_call_team_with_pull_request_bypass_passes() -> None:
    sets = ruleset({"actor_type": "Team", "actor_id": 7, "bypass_mode": "pull_request"})
    (found,) = break_glass_findings({"@acme/oncall": 7}, [], sets)
    assert found.ok
    bypass = [f for f in rules_findings(RULES, sets, None, app_id=99, break_glass_teams={7})]
    assert all(f.ok for f in bypass if f.check == "bypass")


def test_on_call_team_missing_or_always_fails() -> None:
    (missing,) = break_glass_findings({"@acme/oncall": 7}, [], ruleset())
    assert not missing.ok and "pull_request" in missing.fix
    sets = ruleset({"actor_type": "Team", "actor_id": 7, "bypass_mode": "always"})
    (always,) = break_glass_findings({"@acme/oncall": 7}, [], sets)
    assert not always.ok and "push to the branch directly" in always.message
    others = [f for f in rules_findings(RULES, sets, None, app_id=99, break_glass_teams={7})]
    assert any(not f.ok and f.check == "bypass" for f in others)


def test_a_single_login_cannot_be_a_bypass_actor() -> None:
    (found,) = break_glass_findings({}, ["@olga"], ruleset())
    assert not found.ok and "teams" in found.message


def test_no_break_glass_no_finding() -> None:
    assert break_glass_findings({}, [], ruleset()) == []
