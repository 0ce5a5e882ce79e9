"""The policy what-if (`jitops policy diff`), pure: two policies, plain facts, the changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jitops.core import approvals, prcomment, whatif
from jitops.core.policy import Policy, load_policy
from jitops.core.whatif import Facts, diff

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

BASE = """\
version: 1
settings:
  ticket_pattern: '^[A-Z]+-[0-9]+$'
roles:
  db-read:
    max_duration: 4h
    requesters: ['@octocat', '@hubot', '@mona']
    approvals:
      - from: ['@acme/dba']
        count: 1
    vault: {policies: [jit-db-read]}
  staging:
    max_duration: 8h
    requesters: ['*']
    approvals: []
    vault: {policies: [jit-staging]}
  glass:
    max_duration: 1h
    requesters: ['@carol']
    approvals:
      - from: ['@dave']
        count: 1
    vault: {policies: [jit-glass]}
"""

TEAMS = {"acme/dba": {"alice", "bob"}, "acme/security": {"erin"}, "acme/eng": {"octocat"}}


def teams(org: str, slug: str, login: str) -> bool:
    return login.lower() in TEAMS.get(f"{org}/{slug}", set())


def policy(text: str) -> Policy:
    return load_policy({"policies/policy.yaml": text.encode()})


def facts(
    gid: str = "db-octo-1",
    requester: str = "octocat",
    role: str = "db-read",
    duration: str = "2h",
    *,
    approved_by: tuple[str, ...] = ("alice",),
    ticket: str | None = None,
    reason: str = "Investigate INC-7 slow order queries",
    active: bool = True,
    state: str = "active",
    days_ago: int = 1,
) -> Facts:
    return Facts(
        gid,
        requester,
        role,
        duration,
        reason,
        ticket,
        state=state,
        active=active,
        pull_request=7,
        requested_at=NOW - timedelta(days=days_ago),
        approved_by=approved_by,
    )


def only(found: whatif.Diff) -> whatif.Change:
    assert len(found.changes) == 1, [c.kinds for c in found.changes]
    return found.changes[0]


def test_the_same_policy_changes_nothing() -> None:
    touched = BASE.replace(
        "    max_duration: 4h\n", "    description: Read the orders\n    max_duration: 4h\n"
    )
    found = diff(policy(BASE), policy(touched), [facts(), facts("stg-1", role="staging")], teams)
    assert found.changes == ()
    assert (found.active, found.requests) == (2, 0)


def test_a_shorter_maximum_makes_a_grant_over_it() -> None:
    c = only(diff(policy(BASE), policy(BASE.replace("4h", "1h")), [facts()], teams))
    assert (c.before.outcome, c.after.outcome) == ("approved", "invalid")
    assert c.kinds == ("over-max-duration",)
    assert c.details == ("2h is over the candidate's 1h maximum of db-read",)


def test_a_longer_maximum_is_listed_as_a_loosening() -> None:
    long = facts(duration="6h", approved_by=())
    c = only(diff(policy(BASE), policy(BASE.replace("4h", "8h")), [long], teams))
    assert (c.before.outcome, c.after.outcome) == ("invalid", "pending")
    assert c.kinds == ("within-max-duration",)


def test_a_removed_role() -> None:
    cut = BASE[: BASE.index("  glass:")]
    c = only(diff(policy(BASE), policy(cut), [facts("g-1", "carol", "glass", "30m")], teams))
    assert c.kinds == ("role-removed",)
    assert c.after.outcome == "invalid"


def test_a_requester_no_longer_eligible() -> None:
    c = only(diff(policy(BASE), policy(BASE.replace("'@octocat', ", "")), [facts()], teams))
    assert c.kinds == ("requester-not-eligible",)
    assert "octocat may not request db-read by the candidate" in c.details[0]


def test_a_ticket_now_required() -> None:
    stricter = BASE.replace(
        "    vault: {policies: [jit-db-read]}",
        "    require_ticket: true\n    vault: {policies: [jit-db-read]}",
    )
    with_ticket = facts("db-hubot-2", "hubot", ticket="INC-9")
    found = diff(policy(BASE), policy(stricter), [facts(), with_ticket], teams)
    c = only(found)
    assert c.facts.grant_id == "db-octo-1"
    assert c.kinds == ("ticket-required",)


def test_a_ticket_pattern_never_quotes_the_ticket() -> None:
    odd = facts(ticket="inc-7")  # matched the looser pattern
    looser = BASE.replace("'^[A-Z]+-[0-9]+$'", "'^[A-Za-z]+-[0-9]+$'")
    c = only(diff(policy(looser), policy(BASE), [odd], teams))
    assert c.kinds == ("ticket-pattern",)
    assert "inc-7" not in " ".join(c.details)


def test_more_approvals_from_the_same_group() -> None:
    two = BASE.replace(
        "count: 1\n    vault: {policies: [jit-db-read]}",
        "count: 2\n    vault: {policies: [jit-db-read]}",
    )
    c = only(diff(policy(BASE), policy(two), [facts()], teams))
    assert (c.before.outcome, c.after.outcome) == ("approved", "pending")
    assert c.kinds == ("needs-approvals",)
    assert any("needs 1 more approval from @acme/dba (so far alice)" in d for d in c.details)


def test_approvals_from_another_group() -> None:
    other = BASE.replace("from: ['@acme/dba']", "from: ['@acme/security']")
    c = only(diff(policy(BASE), policy(other), [facts()], teams))
    assert (c.before.outcome, c.after.outcome) == ("approved", "pending")
    assert c.kinds == ("needs-other-approvers",)
    assert any("needs 1 more approval from @acme/security" in d for d in c.details)
    assert any("alice" in d and "does not count" in d for d in c.details)


def test_a_role_that_needs_no_review_any_more() -> None:
    denied = facts(approved_by=(), active=False, state="denied")
    loose = BASE.replace("      - from: ['@acme/dba']\n        count: 1\n", "").replace(
        "    approvals:\n    vault: {policies: [jit-db-read]}",
        "    approvals: []\n    vault: {policies: [jit-db-read]}",
    )
    c = only(diff(policy(BASE), policy(loose), [denied], teams))
    assert (c.before.outcome, c.after.outcome) == ("pending", "approved")
    assert c.kinds == ("no-review-needed",)
    assert c.facts.state == "denied"


def test_offline_a_change_of_approver_group_is_not_verified_never_passed() -> None:
    other = BASE.replace("from: ['@acme/dba']", "from: ['@acme/security']")
    found = diff(policy(BASE), policy(other), [facts()], None)
    c = only(found)
    assert found.teams_verified is False
    assert c.after.outcome == whatif.UNVERIFIED
    assert set(c.after.possible) == {"approved", "pending"}
    assert c.kinds == ("approvals-unverified",)
    assert "not verified offline" in c.details[0]
    assert "@acme/dba" in c.details[0] and "@acme/security" in c.details[0]


def test_offline_what_team_membership_cannot_change_is_decided() -> None:
    two = BASE.replace(
        "count: 1\n    vault: {policies: [jit-db-read]}",
        "count: 2\n    vault: {policies: [jit-db-read]}",
    )
    c = only(diff(policy(BASE), policy(two), [facts()], None))
    # one recorded approver can never meet a rule asking for two, whoever is in the team
    assert c.after.outcome == "pending"
    assert c.kinds == ("needs-approvals",)


def test_offline_a_requester_team_is_not_verified() -> None:
    team_only = BASE.replace("requesters: ['*']", "requesters: ['@acme/eng']")
    c = only(diff(policy(BASE), policy(team_only), [facts("stg-1", role="staging")], None))
    assert c.kinds == ("requester-unverified",)
    assert "not verified offline" in c.details[0]
    # with GitHub's answer the same grant is decided: octocat is in @acme/eng
    assert (
        diff(policy(BASE), policy(team_only), [facts("stg-1", role="staging")], teams).changes == ()
    )


def test_free_text_allowances_are_judged_without_quoting_the_text() -> None:
    allow = BASE.replace("settings:\n", "settings:\n  free_text: {allow: [email]}\n")
    mail = facts(reason="Reset the account of jane.doe@example.com for support")
    c = only(diff(policy(allow), policy(BASE), [mail], teams))
    assert c.kinds == ("free-text-refused",)
    assert "jane.doe" not in " ".join(c.details)


def test_unreadable_facts_are_skipped_and_counted() -> None:
    broken = Facts("db-x-1", None, "db-read", "2h", "why not")
    bad_duration = facts("db-x-2", duration="soon")
    found = diff(policy(BASE), policy(BASE.replace("4h", "1h")), [broken, bad_duration], teams)
    assert [g for g, _ in found.skipped] == ["db-x-1", "db-x-2"]
    assert found.changes == ()


def test_active_grants_come_first_then_the_newest_requests() -> None:
    rows = [
        facts("req-old", active=False, state="expired", days_ago=20),
        facts("req-new", active=False, state="denied", days_ago=2),
        facts("act-1", days_ago=25),
    ]
    found = diff(policy(BASE), policy(BASE.replace("4h", "1h")), rows, teams)
    assert [c.facts.grant_id for c in found.changes] == ["act-1", "req-new", "req-old"]
    assert (found.active, found.requests) == (1, 2)


def test_the_approval_engine_is_the_one_that_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = approvals.evaluate

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["reviews"])
        return real(*args, **kwargs)

    monkeypatch.setattr(approvals, "evaluate", spy)
    diff(policy(BASE), policy(BASE.replace("4h", "1h")), [facts()], teams)
    assert len(seen) == 2  # the base and the candidate, each by the engine itself
    assert [r.user for r in seen[0]] == ["alice"]


def test_the_comment_section_is_bounded_and_inert() -> None:
    rows = [facts(f"db-octo-{i:02d}") for i in range(25)]
    rows.append(facts("db-evil-1", requester="x`@everyone <b>`", duration="3h"))
    found = diff(policy(BASE), policy(BASE.replace("4h", "1h")), rows, teams)
    assert len(found.changes) == 26  # invalid both ways, and now over the maximum too
    text = prcomment.whatif_section(found, NOW - timedelta(days=30))
    assert text.count("\n- ") == 21  # 20 grants and the count of the rest
    assert "and 6 more" in text
    evil = diff(policy(BASE.replace("'@mona'", "'*'")), policy(BASE), [rows[-1]], teams)
    shown = prcomment.whatif_section(evil, NOW - timedelta(days=30))
    assert "requester-not-eligible" in shown
    line = next(ln for ln in shown.splitlines() if "db-evil-1" in ln)
    assert "`` x`@everyone <b>` ``" in line  # a code span no backtick inside can close


def test_the_comment_says_when_nothing_changes() -> None:
    found = diff(policy(BASE), policy(BASE), [facts()], None)
    text = prcomment.whatif_section(found, NOW - timedelta(days=30))
    assert "none of the 1 active grant and 0 requests" in text
    assert "not verified" in text
