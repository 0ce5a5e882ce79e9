"""Each check of the protected branch's rules on its own (jitops.setup.doctor_github.RULES_CHECKS),
from the shapes GitHub's REST API returns; rules_findings composes them
(tests/lifecycle/test_doctor_github.py judges the whole)."""

from __future__ import annotations

from typing import Any

from jitops.setup import doctor_github as dg
from jitops.setup.doctor_github import BranchRules
from tests.lifecycle.test_doctor_github import APP, APP_ID, good_rules, ruleset


def branch(rules: list[dict[str, Any]] | None = None, **kw: Any) -> BranchRules:
    protection = kw.pop("protection", {})
    sets = kw.pop("rulesets", ruleset(APP))
    return BranchRules(good_rules() if rules is None else rules, sets, protection, "main", APP_ID)


def test_the_checks_report_in_a_fixed_order() -> None:
    names = [c.__name__ for c in dg.RULES_CHECKS]
    assert names == [
        "required_statuses",
        "status_sources",
        "up_to_date_branches",
        "code_owner_review",
        "stale_approvals",
        "bypass",
    ]
    assert [f.check for f in dg.rules_findings(good_rules(), ruleset(APP), None)] == [
        "required statuses",
        "code-owner review",
        "stale approvals",
        "bypass",
    ]


def test_required_statuses_come_from_rulesets_and_classic_protection_alike() -> None:
    (ok,) = dg.required_statuses(branch())
    assert ok.ok and ok.message == "main requires jitops/validate and jitops/approval"
    (half,) = dg.required_statuses(branch(good_rules(required_status_checks=[])))
    assert not half.ok and "jitops/validate, jitops/approval" in half.message and half.fix
    classic = {"contexts": ["jitops/validate", "jitops/approval"]}
    (both,) = dg.required_statuses(branch([], protection=classic))
    assert both.ok


def test_status_sources_warns_only_for_a_rulesets_unpinned_status() -> None:
    assert dg.status_sources(branch()) == []  # pinned to GitHub Actions
    unpinned = good_rules(required_status_checks=[{"context": "jitops/approval"}])
    (warn,) = dg.status_sources(branch(unpinned))
    assert warn.ok and "jitops/approval may be set by anyone with write access" in warn.message
    classic = {"contexts": ["jitops/validate", "jitops/approval"]}
    assert dg.status_sources(branch([], protection=classic)) == []  # nothing to pin there


def test_up_to_date_branches_is_a_warning_from_either_source() -> None:
    assert dg.up_to_date_branches(branch()) == []
    (w,) = dg.up_to_date_branches(branch(good_rules(strict_required_status_checks_policy=True)))
    assert w.ok and w.message.startswith("warning:")
    assert dg.up_to_date_branches(branch([], protection={"strict": True}))


def test_code_owner_review_and_stale_approvals_from_either_source() -> None:
    assert dg.code_owner_review(branch())[0].ok and dg.stale_approvals(branch())[0].ok
    off = good_rules(require_code_owner_review=False, dismiss_stale_reviews_on_push=False)
    assert not dg.code_owner_review(branch(off))[0].ok
    assert dg.stale_approvals(branch(off))[0].message == "approvals survive new pushes"
    classic = {"require_code_owner_reviews": True, "dismiss_stale_reviews": True}
    assert dg.code_owner_review(branch([], protection=classic))[0].ok
    assert dg.stale_approvals(branch([], protection=classic))[0].ok


def test_bypass_only_the_jitops_app() -> None:
    assert dg.bypass(branch())[0].message == "only the jitops App may bypass the rules"
    team = {"actor_id": 9, "actor_type": "Team", "bypass_mode": "always"}
    (other,) = dg.bypass(branch(rulesets=ruleset(APP, team)))
    assert not other.ok and "Team 9" in other.message
    (classic,) = dg.bypass(branch([], protection={"contexts": []}))
    assert not classic.ok and "classic branch protection" in classic.message


def test_bypass_lists_a_token_cannot_read_say_who_can() -> None:
    hidden = ruleset(APP)
    assert hidden[7] is not None
    del hidden[7]["bypass_actors"]
    (f,) = dg.bypass(branch(rulesets=hidden))
    assert not f.ok and "could not read the bypass list of ruleset(s) 7" in f.message
    assert "repository admin" in f.fix


def test_without_the_jitops_app_as_bypass_actor_its_commits_cannot_reach_main() -> None:
    (f,) = dg.bypass(branch(rulesets=ruleset()))
    assert not f.ok and "the jitops App is not a bypass actor" in f.message


def test_an_unprotected_branch_is_one_finding_that_says_what_to_set_up() -> None:
    (f,) = dg.rules_findings([], {}, None, branch="trunk")
    assert not f.ok and f.message == "trunk has no ruleset and no branch protection"
    assert "jitops/validate, jitops/approval" in f.fix
