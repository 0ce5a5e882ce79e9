"""The issue gate (docs/design.md, *The gate, exactly*), rule by rule, with no server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.core.approvals import Review
from jitops.core.gate import FileChange, IssueInputs, PullFacts, Rule, Verdict, decide_issue
from jitops.delivery.seal import sealable_keys

POLICY = b"""\
version: 1
roles:
  orders-db:
    description: Read-only SQL on orders
    max_duration: 1h
    requesters: ['@acme/engineering']
    approvals:
      - from: ['@acme/dba']
        count: 1
    vault:
      policies: [jit-orders]
  staging:
    description: Self-service staging
    max_duration: 8h
    requesters: ['*']
    approvals: []
    vault:
      policies: [jit-staging]
"""
LOOSE = POLICY.replace(b"      - from: ['@acme/dba']\n        count: 1\n", b"").replace(
    b"    approvals:\n    vault", b"    approvals: []\n    vault"
)
GRANT = b"requester: octocat\nrole: orders-db\nduration: 30m\nreason: Investigate INC-7 slowness\n"
PATH = "grants/db-octocat-1.yaml"
HEAD = "a" * 40
OLD = "b" * 40
MERGED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TEAMS = {("acme", "dba"): {"alice", "bob"}, ("acme", "engineering"): {"octocat"}}


def _key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


KEY = _key()


def teams(org: str, slug: str, login: str) -> bool:
    return login.lower() in TEAMS.get((org.lower(), slug.lower()), set())


def approval(user: str = "alice", commit: str = HEAD, at: datetime | None = None) -> Review:
    return Review(user, "APPROVED", commit, at or MERGED - timedelta(minutes=5))


def good(**changes: object) -> IssueInputs:
    inp = IssueInputs(
        path=PATH,
        main_file=GRANT,
        branch="main",
        now=MERGED + timedelta(minutes=1),
        waiting_since=MERGED,
        pull=PullFacts(7, "octocat", True, "main", HEAD, MERGED, "c" * 40),
        landed=True,
        base_tip="d" * 40,
        base_policy_files={"policies/policy.yaml": POLICY},
        changes=(FileChange(PATH, "added"),),
        head_file=GRANT,
        reviews=(approval(),),
        used_ids=frozenset({"older-grant"}),
        ssh_keys=(KEY,),
    )
    return dataclasses.replace(inp, **changes)  # type: ignore[arg-type]


def test_everything_holds_issues_with_the_approvers_and_sealable_keys() -> None:
    d = decide_issue(good(), teams)
    assert d.verdict is Verdict.ISSUE
    assert d.approvers == ("alice",)
    assert d.pull_request == 7
    assert len(d.keys) == 1


def test_an_invalid_grant_file_is_denied_before_anything_else() -> None:
    d = decide_issue(good(path="grants/BAD_ID.yaml", lookup_failure="down"), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.FILE)
    d = decide_issue(good(main_file=b"requester: [unclosed"), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.FILE)


def test_uncertain_pull_request_fails_and_is_denied_only_after_the_bound() -> None:
    d = decide_issue(good(pull=None, lookup_failure="GitHub answered 502"), teams)
    assert d.verdict is Verdict.FAILED
    assert "502" in d.reason and "waiting since 2026-11-30T10:00:00Z" in d.reason
    late = good(pull=None, now=MERGED + timedelta(hours=25), give_up_after=timedelta(hours=24))
    d = decide_issue(late, teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.PULL_REQUEST)
    assert "could not be determined for 25h00m" in d.reason


def test_rule_1_merged_into_the_branch_and_landed_there() -> None:
    pr = good().pull
    assert pr is not None
    for changed, words in (
        (dataclasses.replace(pr, merged=False, merged_at=None), "is not merged"),
        (dataclasses.replace(pr, base_ref="feature"), "merged into 'feature'"),
    ):
        d = decide_issue(good(pull=changed), teams)
        assert (d.verdict, d.rule) == (Verdict.DENY, Rule.PULL_REQUEST)
        assert words in d.reason and d.reason.startswith("gate rule 1")
    d = decide_issue(good(landed=False), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.PULL_REQUEST)


def test_rule_2_the_base_policy_judges_and_must_be_known_and_valid() -> None:
    d = decide_issue(good(base_tip=None, base_policy_files=None), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.POLICY)
    d = decide_issue(good(base_policy_files={"policies/p.yaml": b"version: 1\nroles: 7\n"}), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.POLICY)
    # the loosened policy is what makes an unreviewed grant pass -- only if it was the base
    unreviewed = good(reviews=())
    assert decide_issue(unreviewed, teams).rule is Rule.APPROVAL
    loose = dataclasses.replace(unreviewed, base_policy_files={"policies/policy.yaml": LOOSE})
    assert decide_issue(loose, teams).verdict is Verdict.ISSUE


def test_rule_3_the_pull_request_has_the_grant_shape() -> None:
    two = (FileChange(PATH, "added"), FileChange("grants/db-octocat-2.yaml", "added"))
    other = (FileChange(PATH, "added"), FileChange("README.md", "modified"))
    edited = (FileChange(PATH, "modified"),)
    for changes in (two, other, edited, ()):
        d = decide_issue(good(changes=changes), teams)
        assert (d.verdict, d.rule) == (Verdict.DENY, Rule.SHAPE), changes
    status = GRANT + (
        b"status:\n  state: active\n  pull_request: 7\n  approved_by: [alice]\n"
        b"  issued_at: 2026-11-30T10:00:00Z\n  expires_at: 2026-12-30T10:00:00Z\n"
        b"  token_accessor: someone-elses\n"
    )
    d = decide_issue(good(main_file=status, head_file=status), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.SHAPE)
    assert "status" in d.reason


def test_rule_4_the_file_on_main_is_the_reviewed_file() -> None:
    longer = GRANT.replace(b"30m", b"1h")
    d = decide_issue(good(main_file=longer), teams)  # an admin's merge changed 30m to 1h
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.REVIEWED)
    d = decide_issue(good(head_file=None), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.REVIEWED)


def test_rule_4_approvals_after_the_merge_or_on_another_commit_do_not_count() -> None:
    after = approval(at=MERGED + timedelta(seconds=1))
    d = decide_issue(good(reviews=(after,)), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.APPROVAL)
    assert "submitted at or after the merge do not count" in d.reason
    just_before = approval(at=MERGED - timedelta(seconds=1))
    assert decide_issue(good(reviews=(just_before,)), teams).verdict is Verdict.ISSUE
    stale = approval(commit=OLD)
    d = decide_issue(good(reviews=(stale,)), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.APPROVAL)


def test_rule_4_an_approval_in_the_second_of_the_merge_does_not_count() -> None:
    """GitHub's timestamps have one-second resolution: a review stamped with the merge's own
    second may have come after it. A legitimate approval is always strictly earlier (the
    approval status needs a workflow run of many seconds after the review)."""
    d = decide_issue(good(reviews=(approval(at=MERGED),)), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.APPROVAL)
    assert "1 review(s) submitted at or after the merge do not count" in d.reason


def test_rule_5_team_membership_is_read_at_evaluation() -> None:
    def left(org: str, slug: str, login: str) -> bool:
        return teams(org, slug, login) and login != "alice"  # alice left @acme/dba

    d = decide_issue(good(), left)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.APPROVAL)


def test_grant_checks_run_against_the_base_policy() -> None:
    d = decide_issue(good(used_ids=frozenset({"db-octocat-1"})), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.FILE)
    assert "already used" in d.reason
    pr = good().pull
    assert pr is not None
    d = decide_issue(good(pull=dataclasses.replace(pr, author="mallory")), teams)
    assert d.verdict is Verdict.DENY and "not the pull request author" in d.reason


def test_a_key_age_cannot_seal_to_is_a_clear_deny() -> None:
    d = decide_issue(good(ssh_keys=()), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.DELIVERY)
    broken = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP" + "A" * 42
    keys, notes = sealable_keys((broken,))
    assert keys == []
    d = decide_issue(good(ssh_keys=tuple(keys), key_notes=tuple(notes)), teams)
    assert (d.verdict, d.rule) == (Verdict.DENY, Rule.DELIVERY)
    assert notes and notes[0] in d.reason


def test_hostile_content_is_a_deny_not_a_crash() -> None:
    huge = b"requester: octocat\nrole: orders-db\nduration: 30m\nreason: x\nticket: " + b"9" * 5000
    d = decide_issue(good(main_file=huge, head_file=huge), teams)
    assert d.verdict is Verdict.DENY


# -- the property: no input issues unless every rule holds ---------------------------------------


def mostly(good: object, *bad: object) -> st.SearchStrategy[object]:
    """The good value three times in four: enough inputs get far into the gate."""
    return st.sampled_from([good, good, good] * len(bad) + list(bad))


_PR = PullFacts(7, "octocat", True, "main", HEAD, MERGED, "c" * 40)
_PULLS = mostly(
    _PR,
    *[
        None,
        dataclasses.replace(_PR, merged=False, merged_at=None),
        dataclasses.replace(_PR, base_ref="develop"),
        dataclasses.replace(_PR, author="mallory"),
    ],
)
_REVIEWS = st.lists(
    st.just(approval())
    | st.builds(
        Review,
        st.sampled_from(["alice", "bob", "octocat", "mallory"]),
        st.sampled_from(["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]),
        st.sampled_from([HEAD, OLD, None]),
        st.sampled_from([MERGED - timedelta(hours=1), MERGED, MERGED + timedelta(hours=1), None]),
    ),
    max_size=4,
)
_FILES = mostly(GRANT, GRANT.replace(b"30m", b"1h"), GRANT.replace(b"30m", b"2h"), None)
_CHANGES = mostly(
    (FileChange(PATH, "added"),),
    (FileChange(PATH, "modified"),),
    (FileChange(PATH, "added"), FileChange("policies/policy.yaml", "modified")),
    (),
)


@settings(max_examples=300, deadline=None)
@given(
    pull=_PULLS,
    landed=mostly(True, False),
    policy=st.sampled_from([POLICY, POLICY, LOOSE, None]),
    changes=_CHANGES,
    main=_FILES,
    head=_FILES,
    reviews=_REVIEWS,
    keys=mostly((KEY,), ()),
    failure=mostly(None, "GitHub answered 502"),
)
def test_no_input_issues_unless_every_rule_holds(
    pull: PullFacts | None,
    landed: bool,
    policy: bytes | None,
    changes: tuple[FileChange, ...],
    main: bytes | None,
    head: bytes | None,
    reviews: list[Review],
    keys: tuple[str, ...],
    failure: str | None,
) -> None:
    inp = good(
        pull=pull,
        lookup_failure=failure,
        landed=landed,
        base_policy_files=None if policy is None else {"policies/policy.yaml": policy},
        changes=changes,
        main_file=main or b"",
        head_file=head,
        reviews=tuple(reviews),
        ssh_keys=keys,
    )
    d = decide_issue(inp, teams)
    if d.verdict is not Verdict.ISSUE:
        assert d.reason
        return
    assert failure is None and pull is not None
    assert pull.merged and pull.base_ref == "main" and landed  # rule 1
    assert policy is not None  # rule 2
    assert changes == (FileChange(PATH, "added"),)  # rule 3
    assert main is not None and main == head  # rule 4
    assert keys
    if policy is POLICY:  # rule 5: a DBA's approval on the head, submitted before the merge
        latest = {}
        counted = [r for r in reviews if r.submitted_at is not None and r.submitted_at < MERGED]
        for r in sorted(counted, key=lambda r: r.submitted_at or MERGED):  # stable: list order
            if r.state != "COMMENTED":
                latest[r.user] = r
        assert any(
            r.user in ("alice", "bob") and r.state == "APPROVED" and r.commit_id == HEAD
            for r in latest.values()
        )


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: (GRANT.decode() + t).encode()),
    name=st.text(min_size=1, max_size=20),
)
def test_the_gate_never_crashes_on_a_hostile_file(data: bytes, name: str) -> None:
    """Whatever a file on main holds, the gate answers (one file never stops a run)."""
    d = decide_issue(good(path=f"grants/{name}.yaml", main_file=data, head_file=data), teams)
    assert d.verdict in (Verdict.ISSUE, Verdict.DENY)
    assert d.reason


# -- ending someone else's grant (decide_end, may_end) -----------------------------------------
ADMINS = POLICY.replace(b"roles:\n", b"settings:\n  admins: ['@acme/admins', '@root']\nroles:\n", 1)
ADMIN_TEAMS = {**TEAMS, ("acme", "admins"): {"carol"}}


def admin_teams(org: str, slug: str, login: str) -> bool:
    return login.lower() in ADMIN_TEAMS.get((org.lower(), slug.lower()), set())


def _policy(data: bytes = ADMINS):  # type: ignore[no-untyped-def]
    from jitops.core.policy import load_policy

    return load_policy({"policies/policy.yaml": data})


def end(role: str, author: str, *reviews: Review, merged: datetime | None = MERGED):  # type: ignore[no-untyped-def]
    from jitops.core.gate import decide_end

    return decide_end(
        "octocat",
        role,
        _policy(),
        author=author,
        head_sha=HEAD,
        reviews=reviews,
        merged_at=merged,
        teams=admin_teams,
    )


def test_the_requester_ends_their_own_grant_without_review() -> None:
    assert end("orders-db", "OctoCat").allowed


def test_someone_else_needs_an_approval_from_the_roles_approvers_or_the_admins() -> None:
    d = end("orders-db", "mallory")
    assert not d.allowed
    assert "from @acme/admins or @root or @acme/dba" in d.reason
    assert end("orders-db", "mallory", approval("bob")).approvers == ("bob",)  # a DBA
    assert end("staging", "mallory", approval("carol")).allowed  # an admin, by team
    assert end("staging", "mallory", approval("root")).allowed  # an admin, by login
    assert not end("staging", "mallory", approval("bob")).allowed  # staging names no approver


def test_an_ending_approval_counts_only_on_the_head_before_the_merge_and_not_by_the_author() -> (
    None
):
    assert not end("staging", "mallory", approval("carol", commit=OLD)).allowed
    assert not end("staging", "mallory", approval("carol", at=MERGED)).allowed  # same second
    assert not end("staging", "carol", approval("carol")).allowed  # the author's own
    later = Review("carol", "CHANGES_REQUESTED", HEAD, MERGED - timedelta(minutes=1))
    assert not end("staging", "mallory", approval("carol"), later).allowed
    assert end("staging", "mallory", approval("carol", at=MERGED), merged=None).allowed  # open


def test_the_manual_revoke_takes_the_requester_or_an_admin() -> None:
    from jitops.core.gate import may_end

    assert may_end("octocat", "octocat", _policy(), admin_teams).allowed
    assert may_end("carol", "octocat", _policy(), admin_teams).allowed
    d = may_end("bob", "octocat", _policy(), admin_teams)
    assert not d.allowed and "only octocat or the admins (@acme/admins, @root)" in d.reason
    d = may_end("carol", "octocat", _policy(POLICY), admin_teams)  # no settings.admins
    assert not d.allowed and "settings.admins names none" in d.reason
