"""Each rule of the issue gate on its own (jitops.core.gate.ISSUE_RULES): what it stops, what it
lets through and what it learns for the rules after it. decide_issue composes them
(tests/core/test_gate.py judges the whole)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from jitops.core import gate
from jitops.core.gate import IssueDecision, Judging, Rule, Verdict
from jitops.core.policy import load_policy
from tests.core.test_gate import GRANT, MERGED, PATH, POLICY, approval, good, teams


def passed(j: Judging | IssueDecision) -> Judging:
    assert isinstance(j, Judging), j
    return j


def stopped(j: Judging | IssueDecision) -> IssueDecision:
    assert isinstance(j, IssueDecision), j
    return j


def judged(**changes: object) -> Judging:
    """A Judging after the rules that learn the grant, the pull request and the policy."""
    j = Judging(good(**changes), teams)
    for rule in (gate.valid_file, gate.pull_request_known, gate.policy_before):
        j = passed(rule(j))
    return j


def test_the_rules_run_in_the_documented_order() -> None:
    assert [r.__name__ for r in gate.ISSUE_RULES] == [
        "valid_file",
        "pull_request_known",
        "merged",
        "into_the_branch",
        "landed",
        "policy_before",
        "grant_shape",
        "reviewed_is_issued",
        "no_status",
        "time_and_risk",
        "approved",
        "scheduled",
        "sealable",
    ]


def test_valid_file_learns_the_grant_or_denies_naming_the_pull_request() -> None:
    assert passed(gate.valid_file(Judging(good(), teams))).grant is not None
    d = stopped(gate.valid_file(Judging(good(main_file=b"requester: [x"), teams)))
    assert (d.rule, d.pull_request) == (Rule.FILE, 7)


def test_pull_request_known_waits_then_gives_up() -> None:
    j = passed(gate.valid_file(Judging(good(pull=None, lookup_failure="502"), teams)))
    assert stopped(gate.pull_request_known(j)).verdict is Verdict.FAILED
    late = dataclasses.replace(j, inp=dataclasses.replace(j.inp, now=MERGED + timedelta(days=2)))
    d = stopped(gate.pull_request_known(late))
    assert (d.verdict, d.rule, d.pull_request) == (Verdict.DENY, Rule.PULL_REQUEST, None)


def test_merged_into_the_branch_and_landed() -> None:
    j = judged()
    assert gate.merged(j) is j and gate.into_the_branch(j) is j and gate.landed(j) is j
    unmerged = dataclasses.replace(j, pull=dataclasses.replace(j.pr, merged_at=None))
    assert "is not merged" in stopped(gate.merged(unmerged)).reason
    elsewhere = dataclasses.replace(j, pull=dataclasses.replace(j.pr, base_ref="dev"))
    assert "merged into 'dev'" in stopped(gate.into_the_branch(elsewhere)).reason
    assert stopped(gate.landed(judged(landed=False))).rule is Rule.PULL_REQUEST


def test_policy_before_learns_the_base_policy_or_denies() -> None:
    assert judged().policy is not None
    j = passed(gate.pull_request_known(passed(gate.valid_file(Judging(good(base_tip=None))))))
    assert stopped(gate.policy_before(j)).rule is Rule.POLICY


def test_grant_shape_reviewed_and_no_status() -> None:
    assert passed(gate.grant_shape(judged())) and passed(gate.reviewed_is_issued(judged()))
    assert stopped(gate.grant_shape(judged(changes=()))).rule is Rule.SHAPE
    d = stopped(gate.reviewed_is_issued(judged(head_file=GRANT + b"# edited after review\n")))
    assert d.rule is Rule.REVIEWED and "which is what was reviewed" in d.reason
    status = GRANT + (
        b"status:\n  state: active\n  pull_request: 7\n  approved_by: [alice]\n"
        b"  issued_at: 2026-11-30T10:00:00Z\n  expires_at: 2026-12-30T10:00:00Z\n"
        b"  token_accessor: someone-elses\n"
    )
    assert isinstance(gate.no_status(judged()), Judging)
    d = stopped(gate.no_status(judged(main_file=status)))
    assert d.rule is Rule.SHAPE and "status: block" in d.reason


def test_approved_counts_only_reviews_before_the_merge_and_learns_the_approvers() -> None:
    ok = passed(gate.approved(judged()))
    assert ok.evaluation is not None and ok.evaluation.approvers == ("alice",)
    late = judged(reviews=(approval(at=MERGED),))  # in the merge's own second
    d = stopped(gate.approved(late))
    assert d.rule is Rule.APPROVAL and "1 review(s) submitted at or after the merge" in d.reason
    assert d.policy is not None


def test_sealable_denies_without_a_key_and_says_how_to_add_one() -> None:
    assert passed(gate.sealable(judged()))
    d = stopped(gate.sealable(judged(ssh_keys=(), key_notes=("ecdsa keys cannot be used",))))
    assert d.rule is Rule.DELIVERY and "ecdsa keys cannot be used" in d.reason
    assert "https://github.com/settings/keys" in d.reason and PATH.endswith(".yaml")


def test_policy_before_denies_an_invalid_base_policy_naming_its_commit() -> None:
    j = passed(gate.pull_request_known(passed(gate.valid_file(Judging(good(), teams)))))
    broken = dataclasses.replace(
        j, inp=dataclasses.replace(j.inp, base_policy_files={"policies/p.yaml": b"roles: 7\n"})
    )
    d = stopped(gate.policy_before(broken))
    assert d.rule is Rule.POLICY and "the policy at dddddddddddd (before #7 landed)" in d.reason


def test_approved_denies_a_grant_the_base_policy_makes_invalid_as_a_file_problem() -> None:
    d = stopped(gate.approved(judged(used_ids=frozenset({"db-octocat-1"}))))
    assert d.rule is Rule.FILE and "invalid under the policy main had before #7" in d.reason
    assert d.policy is not None  # so the requester's notification names the policy's targets


# -- time and risk (docs/time-and-risk.md): two rules of their own ---------------------------
RISKY = POLICY.replace(
    b"    vault:\n      policies: [jit-orders]\n",
    b"    vault:\n      policies: [jit-orders]\n"
    b"    risk:\n      - when: {duration_over: 10m}\n"
    b"        approvals: [{from: ['@acme/sre'], count: 1}]\n",
)


def test_time_and_risk_adds_the_matching_entries_rules_to_what_is_approved() -> None:
    j = passed(gate.time_and_risk(judged(base_policy_files={"policies/policy.yaml": RISKY})))
    assert j.judgement is not None
    assert any("30m is over 10m" in n for n in j.judgement.notes())
    d = stopped(gate.approved(j))  # alice (a DBA) alone no longer suffices
    assert d.rule is Rule.APPROVAL and "sre" in d.reason
    plain = passed(gate.time_and_risk(judged()))
    assert plain.judgement is not None and plain.judgement.notes() == []
    assert passed(gate.approved(plain)).evaluation is not None


def scheduled_at(offset: timedelta, **changes: object) -> Judging:
    stamp = (MERGED + offset).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    text = GRANT + b"not_before: " + stamp + b"\n"
    return passed(gate.approved(judged(main_file=text, head_file=text, **changes)))


def test_scheduled_waits_until_due_and_asks_the_requesters_again_then() -> None:
    assert isinstance(gate.scheduled(judged()), Judging)  # nothing scheduled: nothing to say
    d = stopped(gate.scheduled(scheduled_at(timedelta(hours=2))))
    assert d.verdict is Verdict.WAIT and "not due until" in d.reason and d.pull_request == 7
    now = MERGED + timedelta(hours=3)
    same = load_policy({"policies/policy.yaml": POLICY})
    due = scheduled_at(timedelta(hours=2), now=now, current_policy=same)
    assert isinstance(gate.scheduled(due), Judging)
    narrowed = load_policy(
        {"policies/policy.yaml": POLICY.replace(b"['@acme/engineering']", b"['@acme/sre']")}
    )
    gone = stopped(
        gate.scheduled(scheduled_at(timedelta(hours=2), now=now, current_policy=narrowed))
    )
    assert gone.rule is Rule.APPROVAL and "no longer among the requesters" in gone.reason
    unknown = scheduled_at(timedelta(hours=2), now=now, current_policy_error="roles: bad")
    assert "roles: bad" in stopped(gate.scheduled(unknown)).reason
