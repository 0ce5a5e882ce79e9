"""A grant that names an age `recipient` is never self-service (core.judge): anyone with write
access can push that line to the requester's pull request, and the delivery is sealed to it."""

from __future__ import annotations

from datetime import UTC, datetime

from jitops.core.grant import read_grant
from jitops.core.judge import RECIPIENT_NOTE, judge
from jitops.core.policy import load_policy

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def policy(admins: str) -> bytes:
    return f"""version: 1
settings:
  bot: jitops-bot
{admins}roles:
  self-service:
    max_duration: 1h
    requesters: ['*']
    approvals: []
    vault: {{policies: [jit-self]}}
  reviewed:
    max_duration: 1h
    requesters: ['*']
    approvals: [{{from: ['@acme/dba'], count: 1}}]
    vault: {{policies: [jit-reviewed]}}
""".encode()


def grant(role: str, recipient: bool = True, emergency: bool = False) -> object:
    text = f"requester: octocat\nrole: {role}\nduration: 30m\nreason: Debug the deploy now\n"
    text += f"recipient: {KEY}\n" if recipient else ""
    text += "emergency: true\n" if emergency else ""
    g, problems = read_grant(text.encode(), "grants/x-octocat-1.yaml")
    assert g is not None, problems
    return g


def test_a_self_service_role_needs_an_admin_when_a_recipient_is_named() -> None:
    p = load_policy({"policies/p.yaml": policy("  admins: ['@acme/access-admins']\n")})
    j = judge(grant("self-service"), p, at=AT, teams=None)  # type: ignore[arg-type]
    (rule,) = j.policy.roles["self-service"].approvals
    assert [str(x) for x in rule.principals] == ["@acme/access-admins"] and rule.count == 1
    assert RECIPIENT_NOTE in j.notes() and j.problems == ()
    # without a recipient it stays self-service
    plain = judge(grant("self-service", recipient=False), p, at=AT, teams=None)  # type: ignore[arg-type]
    assert plain.policy.roles["self-service"].approvals == ()


def test_without_admins_a_recipient_on_a_self_service_role_is_refused_on_its_line() -> None:
    p = load_policy({"policies/p.yaml": policy("")})
    j = judge(grant("self-service"), p, at=AT, teams=None)  # type: ignore[arg-type]
    (problem,) = j.problems
    assert problem.line == 5 and "settings.admins" in problem.message
    assert KEY not in problem.message


def test_a_reviewed_role_keeps_its_rules_and_says_why_the_key_matters() -> None:
    p = load_policy({"policies/p.yaml": policy("")})
    j = judge(grant("reviewed"), p, at=AT, teams=None)  # type: ignore[arg-type]
    assert j.problems == ()
    assert [r.describe() for r in j.policy.roles["reviewed"].approvals] == [
        "1 approval from @acme/dba"
    ]
    assert RECIPIENT_NOTE in j.notes()
