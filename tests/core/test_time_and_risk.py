"""Time and risk, pure: risk tiers (with the property that a riskier request never needs fewer
approvals), scheduled access, the extension chain and break-glass ratification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.core import breakglass, extend, risk, schedule
from jitops.core.approvals import Approval, Review, evaluate
from jitops.core.grant import Grant, read_grant
from jitops.core.judge import judge
from jitops.core.policy import (
    ApprovalRule,
    Hours,
    Policy,
    PolicyError,
    RiskEntry,
    Role,
    When,
    load_policy,
)
from jitops.core.principals import Principal

HEAD = "h" * 40
BERLIN = ZoneInfo("Europe/Berlin")
POLICY_TEXT = b"""version: 1
roles:
  prod-db-admin:
    max_duration: 4h
    requesters: ['@acme/dba', '@octocat']
    approvals: [{from: ['@acme/dba'], count: 1}]
    risk:
      - when: {duration_over: 2h}
        approvals: [{from: ['@acme/dba-leads'], count: 1}]
      - when: {outside_hours: {start: '08:00', end: '19:00', tz: Europe/Berlin}}
        approvals: [{from: ['@acme/sre'], count: 1}]
        require_ticket: true
      - when: {weekdays: [sat, sun], tz: Europe/Berlin}
        approvals: [{from: ['@acme/sre'], count: 1}]
    extend:
      approvals: [{from: ['@acme/dba'], count: 1}]
      max_total: 12h
    break_glass:
      requesters: ['@acme/oncall']
      max_duration: 1h
      ratify: [{from: ['@acme/dba-leads'], count: 1}]
      ratify_within: 24h
    vault: {policies: [p]}
settings:
  max_lead_time: 7d
"""
POLICY = load_policy({"policies/p.yaml": POLICY_TEXT})
ROLE = POLICY.roles["prod-db-admin"]
TEAMS = {
    ("acme", "dba"): {"alice", "bob"},
    ("acme", "dba-leads"): {"lena"},
    ("acme", "sre"): {"carol", "sam"},
    ("acme", "oncall"): {"olga"},
}


def teams(org: str, slug: str, login: str) -> bool:
    return login.lower() in TEAMS.get((org, slug), set())


def grant(extra: str = "", requester: str = "octocat", duration: str = "1h") -> Grant:
    text = (
        f"requester: {requester}\nrole: prod-db-admin\nduration: {duration}\n"
        f"reason: migrate the orders table\nticket: INC-1\n{extra}"
    )
    found, problems = read_grant(text.encode(), "grants/g-one.yaml")
    assert found is not None and not problems, problems
    return found


# -- risk tiers --------------------------------------------------------------------------------
WEEKDAY_NOON = datetime(2026, 12, 8, 12, 0, tzinfo=BERLIN)  # a Tuesday
NIGHT = datetime(2026, 12, 5, 23, 30, tzinfo=BERLIN)  # a Saturday


def test_no_entry_matches_a_short_request_in_working_hours() -> None:
    assert risk.matching(ROLE, timedelta(hours=1), [WEEKDAY_NOON]) == ()


def test_each_matching_entry_is_named_with_why_in_words() -> None:
    found = risk.matching(ROLE, timedelta(hours=3), [NIGHT])
    assert [m.entry.index for m in found] == [0, 1, 2]
    words = [m.describe() for m in found]
    assert "duration 3h is over 2h" in words[0]
    assert "23:30 Europe/Berlin is outside 08:00-19:00" in words[1]
    assert "Saturday in Europe/Berlin is one of sat, sun" in words[2]
    assert "a ticket" in words[1]


def test_risk_rules_are_added_to_the_roles_own() -> None:
    judged = risk.judging_role(ROLE, duration=timedelta(hours=3), at=NIGHT)
    assert len(judged.role.approvals) == 4  # base + 3 entries
    assert judged.role.require_ticket


def test_a_scheduled_grant_is_also_judged_when_its_access_starts() -> None:
    later_night = NIGHT + timedelta(days=7)  # the Saturday after the request
    found = risk.matching(ROLE, timedelta(hours=1), risk.request_times(WEEKDAY_NOON, later_night))
    assert [m.entry.index for m in found] == [1, 2]


def test_working_hours_that_span_midnight() -> None:
    role = Role(
        "r",
        timedelta(hours=1),
        (),
        (),
        ("p",),
        risk=(RiskEntry(When(outside_hours=Hours(_t(22), _t(6), "UTC"))),),
    )
    assert risk.matching(role, timedelta(hours=1), [datetime(2026, 1, 1, 23, tzinfo=UTC)]) == ()
    assert risk.matching(role, timedelta(hours=1), [datetime(2026, 1, 1, 12, tzinfo=UTC)])


def _t(hour: int):  # type: ignore[no-untyped-def]
    from datetime import time

    return time(hour, 0)


def test_approval_at_night_needs_the_added_approvers() -> None:
    g = grant(duration="1h")
    reviews = [Review("alice", "APPROVED", HEAD, NIGHT)]
    day = judge(g, POLICY, at=WEEKDAY_NOON, teams=teams)
    night = judge(g, POLICY, at=NIGHT, teams=teams)
    assert _outcome(g, day.policy, reviews) is Approval.APPROVED
    assert _outcome(g, night.policy, reviews) is Approval.PENDING
    more = [
        *reviews,
        Review("carol", "APPROVED", HEAD, NIGHT),
        Review("sam", "APPROVED", HEAD, NIGHT),
    ]
    assert _outcome(g, night.policy, more) is Approval.APPROVED


def _outcome(g: Grant, policy: Policy, reviews: list[Review]) -> Approval:
    return evaluate(
        g, policy, author=g.requester, head_sha=HEAD, reviews=reviews, teams=teams
    ).outcome


PEOPLE = ["alice", "bob", "lena", "carol", "sam", "olga", "zed"]
principals = st.sampled_from(["@acme/dba", "@acme/dba-leads", "@acme/sre", "@zed", "*"])
rules = st.lists(
    st.builds(
        lambda who, n: ApprovalRule(tuple(Principal.parse(p) for p in who), n),
        st.lists(principals, min_size=1, max_size=2, unique=True),
        st.integers(1, 2),
    ),
    max_size=2,
)
whens = st.builds(
    When,
    duration_over=st.none() | st.integers(1, 8).map(lambda h: timedelta(hours=h)),
    outside_hours=st.none()
    | st.tuples(st.integers(0, 23), st.integers(0, 23))
    .filter(lambda se: se[0] != se[1])
    .map(lambda se: Hours(_t(se[0]), _t(se[1]), "Europe/Berlin")),
    weekdays=st.none() | st.frozensets(st.integers(0, 6), min_size=1),
)
entries = st.lists(st.tuples(whens, rules, st.booleans()), max_size=4)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    base=rules,
    raw=entries,
    short=st.integers(1, 8),
    longer=st.integers(0, 8),
    at=moments,
    extra_at=moments,
    approvers=st.lists(st.sampled_from(PEOPLE), unique=True, max_size=6),
)
def test_a_riskier_request_never_needs_fewer_approvals(
    base: list[ApprovalRule],
    raw: list[tuple[When, list[ApprovalRule], bool]],
    short: int,
    longer: int,
    at: datetime,
    extra_at: datetime,
    approvers: list[str],
) -> None:
    """Riskier: longer, and judged at more times (a scheduled start). Whoever approves the
    riskier request approves the less risky one; its rules are a superset; so is its ticket."""
    role = Role(
        "prod-db-admin",
        timedelta(days=1),
        (Principal.parse("*"),),
        tuple(base),
        ("p",),
        risk=tuple(RiskEntry(w, tuple(r), t, i) for i, (w, r, t) in enumerate(raw)),
    )
    policy = Policy({"prod-db-admin": role})
    low = risk.judging_role(role, duration=timedelta(hours=short), at=at)
    high = risk.judging_role(
        role, duration=timedelta(hours=short + longer), at=at, not_before=max(at, extra_at)
    )
    assert set(low.matches) <= set(high.matches) or all(
        any(m.entry == h.entry for h in high.matches) for m in low.matches
    )
    assert len(high.role.approvals) >= len(low.role.approvals)
    assert high.role.require_ticket or not low.role.require_ticket
    reviews = [Review(p, "APPROVED", HEAD, at) for p in approvers]
    g = grant(duration=f"{short + longer}h".replace("0h", "0h"))
    g_low = grant(duration=f"{short}h")
    approved_high = _outcome(g, _with(policy, high.role), reviews) is Approval.APPROVED
    approved_low = _outcome(g_low, _with(policy, low.role), reviews) is Approval.APPROVED
    assert approved_low or not approved_high


def _with(policy: Policy, role: Role) -> Policy:
    return Policy({role.name: role}, policy.settings)


# -- the policy: every bad value is located and says what to do ---------------------------------
ROLE_R = (
    "version: 1\nroles:\n  r:\n    max_duration: 1h\n    requesters: ['*']\n"
    "    approvals: []\n    vault: {policies: [p]}\n"
)
BG_R = (
    "    break_glass: {requesters: ['@a/o'], max_duration: 1h, ratify: [{from: ['@a/l'], count: 1}]"
)
HOURS = "    risk:\n      - when: {outside_hours: {start: '%s', end: '%s', tz: %s}}\n"


def _bad(role_yaml: str) -> str:
    text = ROLE_R + role_yaml
    with pytest.raises(PolicyError) as exc:
        load_policy({"policies/p.yaml": text.encode()})
    return str(exc.value)


@pytest.mark.parametrize(
    ("yaml_text", "said"),
    [
        ("    risk:\n      - when: {night: true}\n", "night"),
        (
            "    risk:\n      - when: {outside_hours: {start: '8am', end: '19:00', tz: UTC}}\n",
            "'HH:MM'",
        ),
        (
            "    risk:\n      - when: {outside_hours: {start: '08:00', end: '25:00', tz: UTC}}\n",
            "'HH:MM'",
        ),
        (
            HOURS % ("08:00", "19:00", "Mars/Olympus"),
            "not a known IANA time zone",
        ),
        (
            "    risk:\n      - when: {outside_hours: {start: '08:00', end: '08:00', tz: UTC}}\n",
            "same time",
        ),
        (
            BG_R + "}\n",
            "ratify_within",
        ),
        (
            BG_R + ", ratify_within: 0s}\n",
            "zero",
        ),
        ("    extend: {max_total: 0h}\n", "zero"),
    ],
)
def test_bad_policy_values_are_located(yaml_text: str, said: str) -> None:
    message = _bad(yaml_text)
    assert "policies/p.yaml:" in message and said in message, message
    assert ";" in message or "add" in message or "must" in message  # says what to do


def test_seconds_are_accepted_for_a_demo_window() -> None:
    policy = load_policy({"policies/p.yaml": (ROLE_R + BG_R + ", ratify_within: 5s}\n").encode()})
    bg = policy.roles["r"].break_glass
    assert bg is not None and bg.ratify_within == timedelta(seconds=5)


# -- scheduled access ---------------------------------------------------------------------------
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_not_before_in_the_past_is_refused_when_asking_but_due_at_the_gate() -> None:
    past = NOW - timedelta(minutes=1)
    said = schedule.lead_problem(past, NOW, timedelta(days=7), request=True)
    assert said is not None and "not in the future" in said
    assert schedule.lead_problem(past, NOW, timedelta(days=7), request=False) is None
    assert schedule.due(past, NOW) and not schedule.due(NOW + timedelta(seconds=1), NOW)


def test_not_before_beyond_the_lead_time_is_refused() -> None:
    said = schedule.lead_problem(NOW + timedelta(days=8), NOW, timedelta(days=7), request=True)
    assert said is not None and "max_lead_time" in said


def test_not_before_problems_are_located_on_its_line() -> None:
    g = grant("not_before: 2026-12-01T00:00:00Z\n")
    problems = judge(g, POLICY, at=NOW, teams=teams).problems
    assert [p.line for p in problems] == [g.line("not_before")]


def test_a_not_before_that_is_not_a_time_is_refused() -> None:
    found, problems = read_grant(
        b"requester: octocat\nrole: r\nduration: 1h\nreason: long enough reason\n"
        b"not_before: 2026-13-45T99:00:00Z\n",
        "grants/g-one.yaml",
    )
    assert found is None and problems and problems[0].line == 5


# -- extension ----------------------------------------------------------------------------------
def _active(**kw: object) -> extend.Link:
    values: dict[str, object] = {
        "grant_id": "old-one",
        "state": "active",
        "requester": "octocat",
        "role": "prod-db-admin",
        "issued_at": NOW - timedelta(hours=2),
        "expires_at": NOW + timedelta(hours=1),
    }
    values.update(kw)
    return extend.Link(**values)  # type: ignore[arg-type]


def _extend(chain: list[extend.Link], hours: int = 1) -> list[str]:
    return extend.problems(
        grant_id="new-one",
        requester="octocat",
        role=ROLE,
        duration=timedelta(hours=hours),
        chain=chain,
        at=NOW,
    )


def test_an_active_own_grant_of_the_same_role_can_be_extended() -> None:
    assert _extend([_active()]) == []


@pytest.mark.parametrize(
    ("link", "said"),
    [
        (extend.Link("old-one", "unknown"), "not a grant jitops issued"),
        (extend.Link("old-one", "denied"), "was denied"),
        (_active(state="ended", ended_by="expire"), "it expired"),
        (_active(state="ended", ended_by="revoke"), "it was revoked"),
        (_active(requester="mona"), "mona's grant"),
        (_active(role="other-role"), "keeps the role"),
    ],
)
def test_extension_refusals(link: extend.Link, said: str) -> None:
    found = _extend([link])
    assert found and said in found[0], found


def test_the_chain_may_not_pass_max_total() -> None:
    first = _active(grant_id="first", issued_at=NOW - timedelta(hours=10))
    found = _extend([_active(extends="first"), first], hours=3)
    assert found and "max_total" in found[0] and "at most 2h" in found[0]
    assert _extend([_active(extends="first"), first], hours=2) == []


def test_a_role_without_extend_cannot_be_extended() -> None:
    role = Role("plain", timedelta(hours=1), (), (), ("p",))
    found = extend.problems(
        grant_id="n",
        requester="octocat",
        role=role,
        duration=timedelta(hours=1),
        chain=[_active(role="plain")],
        at=NOW,
    )
    assert found and "no extend" in found[0]


# -- break-glass --------------------------------------------------------------------------------
BG = ROLE.break_glass
assert BG is not None
ISSUED = NOW


def _ratify(reviews: list[Review], now: datetime) -> breakglass.Ratification:
    return breakglass.ratification(
        BG,
        requester="olga",
        author="olga",
        head_sha=HEAD,
        issued_at=ISSUED,
        reviews=reviews,
        teams=teams,
        now=now,
    )


def test_ratified_by_a_lead_within_the_window() -> None:
    r = _ratify([Review("lena", "APPROVED", HEAD, ISSUED + timedelta(hours=3))], NOW)
    assert r.state is breakglass.State.RATIFIED and r.ratified_by == ("lena",)


def test_awaiting_then_unratified_when_the_window_passes() -> None:
    assert _ratify([], NOW + timedelta(hours=1)).state is breakglass.State.AWAITING
    r = _ratify([], NOW + timedelta(hours=24))
    assert r.state is breakglass.State.UNRATIFIED and "never ratified" in r.reason


def test_a_review_after_the_window_does_not_ratify() -> None:
    late = [Review("lena", "APPROVED", HEAD, ISSUED + timedelta(hours=24))]
    assert _ratify(late, NOW + timedelta(hours=25)).state is breakglass.State.UNRATIFIED


def test_the_requester_never_ratifies_their_own() -> None:
    TEAMS[("acme", "dba-leads")].add("olga")
    try:
        own = [Review("olga", "APPROVED", HEAD, ISSUED + timedelta(hours=1))]
        assert _ratify(own, NOW + timedelta(hours=25)).state is breakglass.State.UNRATIFIED
    finally:
        TEAMS[("acme", "dba-leads")].discard("olga")


def test_an_approval_of_another_commit_does_not_ratify() -> None:
    stale = [Review("lena", "APPROVED", "o" * 40, ISSUED + timedelta(hours=1))]
    assert _ratify(stale, NOW + timedelta(hours=25)).state is breakglass.State.UNRATIFIED


def test_emergency_eligibility_is_located() -> None:
    g = grant("emergency: true\n", requester="mallory")
    problems = judge(g, POLICY, at=NOW, teams=teams).problems
    assert problems and problems[0].line == g.line("requester")
    assert "break_glass is open to @acme/oncall only" in problems[0].message
    ok = grant("emergency: true\n", requester="olga")
    judged = judge(ok, POLICY, at=NOW, teams=teams)
    assert judged.problems == () and judged.policy.roles["prod-db-admin"].approvals == ()


def test_emergency_on_a_role_without_break_glass() -> None:
    role = Role("plain", timedelta(hours=1), (), (), ("p",))
    assert "has no break_glass" in breakglass.problems(role, "olga", teams)[0][1]


def test_emergency_is_capped() -> None:
    assert breakglass.capped(timedelta(hours=4), BG) == timedelta(hours=1)


# -- policy test cases pin the request time ------------------------------------------------------
G = "{requester: octocat, role: prod-db-admin, duration: 1h, reason: migrate orders, ticket: I-1}"
BG_OK = "{requester: olga, role: prod-db-admin, duration: 1h, reason: it is down, emergency: true}"
BG_NO = (
    "{requester: octocat, role: prod-db-admin, duration: 1h, reason: it is down, emergency: true}"
)
CASES = f"""cases:
  - name: a dba approves a short request at noon
    at: 2026-12-08T12:00:00+01:00
    grant: {G}
    teams: {{'@acme/dba': [alice]}}
    reviews: [{{user: alice, state: APPROVED}}]
    expect: approved
  - name: at 23:30 on a Saturday the sre must approve too
    at: 2026-12-05T23:30:00+01:00
    grant: {G}
    teams: {{'@acme/dba': [alice], '@acme/sre': [carol, sam]}}
    reviews: [{{user: alice, state: APPROVED}}]
    expect: pending
  - name: on-call break-glass needs no review
    grant: {BG_OK}
    teams: {{'@acme/oncall': [olga]}}
    expect: approved
  - name: break-glass by someone not on call is invalid
    grant: {BG_NO}
    teams: {{'@acme/oncall': [olga]}}
    expect: invalid
""".encode()


def test_policy_test_cases_can_pin_the_request_time() -> None:
    from jitops.core.policytest import run_cases

    report = run_cases(POLICY, {"policies/tests/risk.yaml": CASES})
    assert report.ok, [str(f) for f in report.failures]
    assert report.passed == 4


def test_the_pr_comment_names_each_matching_entry_and_why() -> None:
    from jitops.core.prcheck import Change, PrInputs, decide

    text = (
        b"requester: octocat\nrole: prod-db-admin\nduration: 3h\n"
        b"reason: migrate the orders table\nticket: INC-1\n"
    )
    inputs = PrInputs(
        number=7,
        author="octocat",
        head_sha=HEAD,
        changes=[Change("grants/g-one.yaml", "added")],
        base_policy_files={"policies/p.yaml": POLICY_TEXT},
        head_policy_files={"policies/p.yaml": POLICY_TEXT},
        head_files={"grants/g-one.yaml": text},
        base_files={},
        used_ids=frozenset(),
        reviews=[Review("alice", "APPROVED", HEAD, NIGHT)],
        ssh_keys=None,
        now=NIGHT,
        created_at=NIGHT,
    )
    decision = decide(inputs, teams)
    assert decision.approval == "pending"
    assert "duration 3h is over 2h" in decision.comment
    assert "23:30 Europe/Berlin is outside 08:00-19:00" in decision.comment
    assert "@acme/dba-leads" in decision.comment
