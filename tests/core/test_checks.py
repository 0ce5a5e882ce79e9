from __future__ import annotations

import pytest

from jitops.core.checks import GrantContext, check_grant
from jitops.core.grant import Grant, read_grant
from jitops.core.policy import Policy, load_policy
from tests.conftest import EXAMPLE_POLICY, GOOD_GRANT


def parsed(text: str, path: str = "grants/g-one.yaml") -> Grant:
    """The grant in ``text``, which must read without a problem."""
    grant, problems = read_grant(text.encode(), path)
    assert grant is not None and problems == [], problems
    return grant


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy({"policies/policy.yaml": EXAMPLE_POLICY.read_bytes()})


def members(org: str, slug: str, login: str) -> bool:
    teams = {("acme", "engineering"): {"octocat", "hubot"}, ("acme", "dba"): {"alice"}}
    return login in teams.get((org, slug), set())


def msgs(text: str, policy: Policy, ctx: GrantContext | None = None) -> list[str]:
    grant = parsed(text)
    return [str(p) for p in check_grant(grant, policy, ctx or GrantContext(teams=members))]


def test_good_grant_has_no_problem(policy: Policy) -> None:
    assert msgs(GOOD_GRANT, policy) == []


def test_unknown_role_lists_known_roles(policy: Policy) -> None:
    (m,) = msgs(GOOD_GRANT.replace("prod-db-readonly", "prod-db-write"), policy)
    assert m.startswith("grants/g-one.yaml:2: role 'prod-db-write' is not defined")
    assert "prod-db-readonly" in m


def test_duration_over_max(policy: Policy) -> None:
    (m,) = msgs(GOOD_GRANT.replace("2h", "5h"), policy)
    assert m == (
        "grants/g-one.yaml:3: duration 5h exceeds the 4h maximum of role prod-db-readonly; "
        "ask for 4h or less"
    )


def test_ticket_required_and_pattern(policy: Policy) -> None:
    no_ticket = GOOD_GRANT.replace("ticket: INC-1234\n", "")
    (m,) = msgs(no_ticket, policy)
    assert "requires a ticket" in m
    (m,) = msgs(GOOD_GRANT.replace("ticket: INC-1234", "ticket: inc 1234"), policy)
    assert m.startswith("grants/g-one.yaml:5: ticket 'inc 1234' does not match the ticket pattern")


def test_requester_not_eligible(policy: Policy) -> None:
    text = GOOD_GRANT.replace("octocat", "mallory")
    (m,) = msgs(text, policy)
    assert "mallory may not request role prod-db-readonly" in m


def test_team_eligibility_offline_is_a_warning_not_a_pass(policy: Policy) -> None:
    grant = parsed(GOOD_GRANT)
    (p,) = check_grant(grant, policy, GrantContext(teams=None))
    assert p.severity == "warning"
    assert "not verified offline" in p.message


def test_status_forbidden_in_a_request(policy: Policy) -> None:
    text = GOOD_GRANT + (
        "status:\n  state: active\n  issued_at: 2026-11-23T10:00:00Z\n"
        "  expires_at: 2026-11-23T12:00:00Z\n  token_accessor: abc\n"
    )
    (m,) = msgs(text, policy)
    assert m.startswith("grants/g-one.yaml:6: a request must not contain 'status:'")
    assert msgs(text, policy, GrantContext(is_new=False, teams=members)) == []


def test_id_reuse(policy: Policy) -> None:
    (m,) = msgs(GOOD_GRANT, policy, GrantContext(used_ids={"g-one"}, teams=members))
    assert "was already used in the history of grants/" in m


def test_requester_must_be_author(policy: Policy) -> None:
    (m,) = msgs(GOOD_GRANT, policy, GrantContext(author="mallory", teams=members))
    assert "is not the pull request author mallory" in m
    assert msgs(GOOD_GRANT, policy, GrantContext(author="OctoCat", teams=members)) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("just text\n", "must be a mapping"),
        (GOOD_GRANT + "colour: red\n", "grants/g-one.yaml:6: unknown field 'colour'"),
        (GOOD_GRANT.replace("duration: 2h\n", ""), "missing required field 'duration'"),
        (GOOD_GRANT.replace("duration: 2h", "duration: 90"), ":3: duration 90 has no unit"),
        (GOOD_GRANT.replace("requester: octocat", "requester: [a]"), ":1: requester must be"),
        (
            GOOD_GRANT.replace(
                "reason: Investigate INC-1234 slow queries on the orders table", "reason: short"
            ),
            ":4: reason is too short",
        ),
    ],
)
def test_file_level_problems(text: str, fragment: str) -> None:
    _grant, problems = read_grant(text.encode(), "grants/g-one.yaml")
    assert any(fragment in str(p) for p in problems), problems


def test_invalid_id_in_file_name() -> None:
    _, problems = read_grant(GOOD_GRANT.encode(), "grants/Bad_Name.yaml")
    assert "is not a valid grant id" in str(problems[0])
