"""The approval rule, exactly (docs/design.md, *The approval rule*), with hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.core.approvals import Review, evaluate
from jitops.core.grant import Grant, read_grant
from jitops.core.policy import Policy, load_policy

HEAD = "h" * 40
OLD = "o" * 40
TEAMS = {
    ("acme", "dba"): {"alice", "bob"},
    ("acme", "sre"): {"carol", "dave", "octocat"},
    ("acme", "security"): {"erin", "carol"},
}
POLICY = load_policy(
    {
        "policies/p.yaml": b"""version: 1
roles:
  db:
    max_duration: 4h
    requesters: ['*']
    approvals: [{from: ['@acme/dba'], count: 1}]
    vault: {policies: [p]}
  two:
    max_duration: 4h
    requesters: ['*']
    approvals: [{from: ['@acme/dba'], count: 2}]
    vault: {policies: [p]}
  party:
    max_duration: 1h
    requesters: ['*']
    approvals:
      - {from: ['@acme/sre'], count: 1}
      - {from: ['@acme/security', '@ciso'], count: 1}
    vault: {policies: [p]}
  free:
    max_duration: 1h
    requesters: ['*']
    approvals: []
    vault: {policies: [p]}
"""
    }
)


def parsed(text: str, path: str = "grants/g-one.yaml") -> Grant:
    """The grant in ``text``, which must read without a problem."""
    grant, problems = read_grant(text.encode(), path)
    assert grant is not None and problems == [], problems
    return grant


def teams(org: str, slug: str, login: str) -> bool:
    return login.lower() in TEAMS.get((org, slug), set())


def grant(role: str, requester: str = "octocat"):  # type: ignore[no-untyped-def]
    text = f"requester: {requester}\nrole: {role}\nduration: 1h\nreason: because reasons\n"
    return parsed(text)


def ev(role: str, reviews: list[Review], author: str = "octocat", policy: Policy = POLICY):  # type: ignore[no-untyped-def]
    return evaluate(grant(role), policy, author=author, head_sha=HEAD, reviews=reviews, teams=teams)


def r(user: str, state: str = "APPROVED", commit: str = HEAD, minute: int = 0) -> Review:
    return Review(
        user, state, commit, datetime(2026, 11, 23, tzinfo=UTC) + timedelta(minutes=minute)
    )


def test_one_dba_approval_is_enough() -> None:
    e = ev("db", [r("alice")])
    assert e.outcome == "approved"
    assert e.approvers == ("alice",)
    assert "met by alice" in e.explain()[0]


def test_pending_explains_who_could_approve() -> None:
    e = ev("db", [])
    assert e.outcome == "pending"
    assert e.explain() == ["needs 1 more approval from @acme/dba"]


def test_no_review_needed() -> None:
    assert ev("free", []).outcome == "approved"


def test_self_approval_and_author_never_count() -> None:
    e = ev("two", [r("alice"), r("bob")], author="octocat")
    assert e.outcome == "approved"
    selfish = grant("db", requester="alice")
    e = evaluate(selfish, POLICY, author="alice", head_sha=HEAD, reviews=[r("alice")], teams=teams)
    assert e.outcome == "pending"
    assert ("alice", "requester") in e.ignored


def test_stale_approval_does_not_count() -> None:
    e = ev("db", [r("alice", commit=OLD)])
    assert e.outcome == "pending"
    assert e.stale == ("alice",)


def test_outsider_approval_does_not_count() -> None:
    e = ev("db", [r("mallory")])
    assert e.outcome == "pending"
    assert e.ignored == (("mallory", "not eligible"),)


def test_same_person_twice_is_one_approver() -> None:
    assert ev("two", [r("alice"), r("alice", minute=1)]).outcome == "pending"
    assert ev("two", [r("alice"), r("bob")]).outcome == "approved"


def test_one_person_cannot_satisfy_two_rules() -> None:
    # carol is in both sre and security
    assert ev("party", [r("carol")]).outcome == "pending"
    assert ev("party", [r("carol"), r("dave")]).outcome == "approved"


def test_matching_beats_greedy() -> None:
    # greedy in name order would give carol to the sre rule and leave security empty;
    # the matching gives carol to security and dave to sre
    e = ev("party", [r("carol"), r("dave")])
    assert e.outcome == "approved"
    sre, sec = e.rules
    assert sre.approved_by == ("dave",)
    assert sec.approved_by == ("carol",)


def test_changes_requested_blocks_until_withdrawn() -> None:
    e = ev("db", [r("alice"), r("bob", "CHANGES_REQUESTED", minute=1)])
    assert e.outcome == "blocked"
    assert e.blockers == ("bob",)
    e = ev(
        "db", [r("alice"), r("bob", "CHANGES_REQUESTED", minute=1), r("bob", "DISMISSED", minute=2)]
    )
    assert e.outcome == "approved"
    # an outsider's request for changes does not block
    assert ev("db", [r("alice"), r("mallory", "CHANGES_REQUESTED")]).outcome == "approved"


def test_commented_is_ignored_and_latest_wins() -> None:
    assert ev("db", [r("alice"), r("alice", "COMMENTED", minute=1)]).outcome == "approved"
    assert ev("db", [r("alice"), r("alice", "CHANGES_REQUESTED", minute=1)]).outcome == "blocked"
    assert ev("db", [r("alice", "CHANGES_REQUESTED"), r("alice", minute=1)]).outcome == "approved"


def test_logins_compare_case_insensitively() -> None:
    assert ev("db", [r("ALICE")]).outcome == "approved"
    assert ev("db", [r("Alice")], author="OctoCat").outcome == "approved"


def test_requester_not_author_is_invalid() -> None:
    e = ev("db", [r("alice")], author="mallory")
    assert e.outcome == "invalid"
    assert "is not the pull request author mallory" in e.explain()[0]


PEOPLE = ["alice", "bob", "carol", "dave", "erin", "ciso", "mallory", "octocat"]
reviews_st = st.lists(
    st.builds(
        r,
        st.sampled_from(PEOPLE),
        st.sampled_from(["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]),
        st.sampled_from([HEAD, OLD]),
        st.integers(0, 50),
    ),
    max_size=10,
)


def _eligible_fresh(reviews: list[Review], role: str) -> set[str]:
    e = ev(role, reviews)
    return set(e.approvers)


@settings(max_examples=300, deadline=None)
@given(reviews_st, st.sampled_from(["db", "two", "party"]))
def test_never_approved_with_too_few_distinct_approvers(reviews: list[Review], role: str) -> None:
    e = ev(role, reviews)
    if e.outcome == "approved":
        need = sum(rule.count for rule in POLICY.roles[role].approvals)
        assert len(set(e.approvers)) >= need
        assert "octocat" not in e.approvers
        for a in e.approvers:
            latest = [x for x in reviews if x.user == a]
            assert latest[-1].commit_id == HEAD or any(
                x.state == "APPROVED" and x.commit_id == HEAD for x in latest
            )


@settings(max_examples=300, deadline=None)
@given(reviews_st, st.sampled_from(["db", "two", "party"]), st.sampled_from(PEOPLE[:6]))
def test_adding_an_approval_never_unapproves(reviews: list[Review], role: str, who: str) -> None:
    before = ev(role, reviews)
    after = ev(role, [*reviews, r(who, minute=99)])
    if before.outcome == "approved":
        assert after.outcome == "approved"


@settings(max_examples=200, deadline=None)
@given(reviews_st, st.sampled_from(["db", "two", "party"]), st.randoms())
def test_order_of_reviewers_does_not_matter(reviews: list[Review], role: str, rnd) -> None:  # type: ignore[no-untyped-def]
    # keep each reviewer's own order (it decides their latest review); shuffle between people
    by_user: dict[str, list[Review]] = {}
    for x in reviews:
        by_user.setdefault(x.user, []).append(x)
    users = list(by_user)
    rnd.shuffle(users)
    shuffled = [x for u in users for x in by_user[u]]
    stripped = [Review(x.user, x.state, x.commit_id, None) for x in reviews]
    stripped_shuffled = [Review(x.user, x.state, x.commit_id, None) for x in shuffled]
    assert ev(role, stripped).outcome == ev(role, stripped_shuffled).outcome


def test_one_person_in_both_groups_is_told_they_count_once() -> None:
    e = ev("party", [r("carol")], author="octocat")  # carol is in sre AND security
    assert e.outcome == "pending"
    lines = e.explain()
    assert any(line.endswith("met by carol") for line in lines)
    assert (
        "needs 1 more approval from @acme/security or @ciso; carol already counts for another "
        "rule (one person counts once)"
    ) in lines


def test_the_author_is_ignored_as_author_when_not_the_requester() -> None:
    e = ev("db", [r("mallory"), r("bob")], author="mallory")
    assert e.outcome == "invalid"  # requester octocat is not the author mallory
    e = evaluate(
        grant("db", requester="mallory"),
        POLICY,
        author="mallory",
        head_sha=HEAD,
        reviews=[r("mallory")],
        teams=teams,
    )
    assert e.ignored == (("mallory", "requester"),)
    assert "the approval of mallory does not count (the requester never approves" in " ".join(
        e.explain()
    )
