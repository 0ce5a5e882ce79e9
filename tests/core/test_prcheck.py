"""The pure decision of `pr check`: pull-request shape, base policy, requester, approvals, and
the sticky comment a person reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jitops.core.approvals import Review
from jitops.core.prcheck import MARKER, Change, PrInputs, classify, decide
from tests.conftest import ROOT
from tests.fixtures.sshkeys import make_key

POLICY = {"policies/policy.yaml": (ROOT / "policies" / "policy.yaml").read_bytes()}
TEAMS = {"acme/engineering": {"octocat", "alice"}, "acme/dba": {"alice", "bob"}}
HEAD = "a" * 40
ORDERS = (
    b"requester: octocat\nrole: prod-db-readonly\nduration: 2h\n"
    b"reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)
PATH = "grants/db-octocat-1.yaml"


def teams(org: str, slug: str, login: str) -> bool:
    return login.lower() in TEAMS.get(f"{org}/{slug}".lower(), set())


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_key(tmp_path_factory.mktemp("keys"), "id").public_line


def inputs(key: str | None, **kw: object) -> PrInputs:
    values: dict[str, object] = {
        "number": 7,
        "author": "octocat",
        "head_sha": HEAD,
        "changes": [Change(PATH, "added")],
        "base_policy_files": POLICY,
        "head_policy_files": POLICY,
        "head_files": {PATH: ORDERS},
        "base_files": {},
        "used_ids": frozenset(),
        "reviews": (),
        "ssh_keys": [key] if key else [],
        "now": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }
    values.update(kw)
    return PrInputs(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "kind", "message"),
    [
        ([Change(PATH, "added")], "grant", None),
        ([Change(PATH, "removed")], "revoke", None),
        ([Change("policies/policy.yaml", "modified")], "policy", None),
        (
            [Change("policies/policy.yaml", "modified"), Change(PATH, "added")],
            "invalid",
            "must not touch grants/",
        ),
        (
            [Change(PATH, "added"), Change("grants/README.md", "modified")],
            "invalid",
            "may only add or delete grants/<id>.yaml",
        ),
        ([Change(PATH, "modified")], "invalid", "editing or renaming an existing grant"),
        (
            [Change("grants/x.yaml", "renamed", previous_path=PATH)],
            "invalid",
            "editing or renaming an existing grant",
        ),
        ([Change("grants/sub/x.yaml", "added")], "invalid", "may only add or delete"),
        (
            [Change(PATH, "added"), Change("grants/db-octocat-2.yaml", "added")],
            "invalid",
            "one grant per pull request",
        ),
        (
            [Change(PATH, "added"), Change("grants/old.yaml", "removed")],
            "invalid",
            "do not add and delete grants in one pull request",
        ),
        ([Change(".github/workflows/x.yml", "added")], "other", None),
        ([Change("README.md", "modified")], "other", None),
        # the generated grants/README.md is documentation: editing it alone is allowed ...
        ([Change("grants/README.md", "modified")], "other", None),
        ([Change("grants/README.md", "modified"), Change("docs/x.md", "added")], "other", None),
        # ... but never smuggled into a grant pull request, nor renamed into a grant
        (
            [Change(PATH, "added"), Change("grants/README.md", "modified")],
            "invalid",
            "may only add or delete",
        ),
        (
            [Change(PATH, "renamed", previous_path="grants/README.md")],
            "invalid",
            "editing or renaming",
        ),
        (
            [Change("grants/README.md", "modified"), Change("policies/policy.yaml", "modified")],
            "policy",
            None,
        ),
    ],
)
def test_pull_request_shapes(changes: list[Change], kind: str, message: str | None) -> None:
    got, problems = classify(changes)
    assert got == kind
    if message is None:
        assert problems == []
    else:
        assert any(message in p.message for p in problems), problems


def test_a_pull_request_touching_no_grant_and_no_policy_passes_both_statuses() -> None:
    """A required jitops/* check never sits pending on a README fix (the gate ignores it)."""
    d = decide(inputs(None, changes=[Change("README.md", "modified")], head_files={}), teams)
    assert (d.kind, d.validate, d.approval) == ("other", "success", "success")
    assert "nothing for jitops to check" in d.summary
    assert d.request_users == () and d.request_teams == ()


def test_a_valid_request_waits_for_a_dba_and_asks_the_team(key: str) -> None:
    d = decide(inputs(key), teams)
    assert (d.kind, d.validate, d.approval) == ("grant", "success", "pending")
    assert d.request_teams == ("acme/dba",) and d.request_users == ()
    assert d.comment.startswith(MARKER)
    assert "| role | `prod-db-readonly` — Read-only SQL" in d.comment
    assert "| would expire | 2026-03-01T14:00:00Z if merged now |" in d.comment
    assert "needs 1 more approval from @acme/dba" in d.comment


def test_an_approval_on_the_head_commit_approves(key: str) -> None:
    d = decide(inputs(key, reviews=[Review("bob", "APPROVED", HEAD)]), teams)
    assert (d.validate, d.approval, d.summary) == (
        "success",
        "success",
        "approved: merge to get access",
    )
    assert d.evaluation is not None and d.evaluation.approvers == ("bob",)
    assert d.request_teams == ()  # nobody else needs asking


def test_a_stale_approval_keeps_it_pending(key: str) -> None:
    d = decide(inputs(key, reviews=[Review("bob", "APPROVED", "b" * 40)]), teams)
    assert d.approval == "pending"
    assert d.evaluation is not None and d.evaluation.stale == ("bob",)


def test_changes_requested_by_a_dba_blocks(key: str) -> None:
    reviews = [Review("alice", "APPROVED", HEAD), Review("bob", "CHANGES_REQUESTED", HEAD)]
    d = decide(inputs(key, reviews=reviews), teams)
    assert (d.validate, d.approval, d.summary) == ("success", "failure", "blocked")


def test_requester_other_than_the_author_is_invalid(key: str) -> None:
    d = decide(inputs(key, author="mallory", reviews=[Review("bob", "APPROVED", HEAD)]), teams)
    assert (d.validate, d.approval) == ("failure", "failure")
    assert any("pull request author" in p.message for p in d.problems)
    assert "**Problems**" in d.comment


def test_no_usable_ssh_key_says_how_to_add_one() -> None:
    d = decide(inputs(None), teams)
    assert d.validate == "failure"
    assert "https://github.com/settings/keys" in d.comment
    assert "ssh-keygen -t ed25519" in d.comment


def test_too_long_and_reused_ids_and_a_missing_ticket_are_reported_together(key: str) -> None:
    text = ORDERS.replace(b"2h", b"9h").replace(b"ticket: INC-7\n", b"")
    d = decide(inputs(key, head_files={PATH: text}, used_ids=frozenset({"db-octocat-1"})), teams)
    messages = " | ".join(p.message for p in d.problems)
    assert "exceeds the 4h maximum" in messages
    assert "already used in the history" in messages
    assert "ticket" in messages
    assert d.validate == "failure"


def test_the_base_policy_judges_even_when_the_head_policy_is_looser(key: str) -> None:
    looser = {"policies/policy.yaml": POLICY["policies/policy.yaml"].replace(b"4h", b"24h")}
    text = ORDERS.replace(b"2h", b"9h")
    d = decide(inputs(key, head_files={PATH: text}, head_policy_files=looser), teams)
    assert d.validate == "failure"


def test_deleting_an_active_grant_is_an_early_revoke() -> None:
    d = decide(
        inputs(None, changes=[Change(PATH, "removed")], head_files={}, base_files={PATH: ORDERS}),
        teams,
    )
    assert (d.kind, d.validate, d.approval) == ("revoke", "success", "success")
    assert "early revoke of `db-octocat-1` (octocat, prod-db-readonly)" in d.comment


def test_deleting_a_grant_the_base_does_not_have_is_invalid() -> None:
    d = decide(inputs(None, changes=[Change(PATH, "removed")], head_files={}), teams)
    assert (d.kind, d.validate) == ("invalid", "failure")


def test_a_policy_change_must_load_and_pass_its_tests(key: str) -> None:
    ok = decide(inputs(key, changes=[Change("policies/policy.yaml", "modified")]), teams)
    assert (ok.kind, ok.validate) == ("policy", "success")
    broken = {"policies/policy.yaml": b"version: 1\nroles: {}\nsurprise: true\n"}
    bad = decide(
        inputs(
            key,
            changes=[Change("policies/policy.yaml", "modified")],
            head_policy_files=broken,
            policy_tests=["policies/tests/x.yaml:3: case 'y': expected approved, got pending"],
        ),
        teams,
    )
    assert (bad.kind, bad.validate, bad.approval) == ("policy", "failure", "failure")
    assert "expected approved, got pending" in bad.comment


def test_an_unreadable_base_policy_fails_closed(key: str) -> None:
    d = decide(inputs(key, base_policy_files={"policies/policy.yaml": b"roles: [\n"}), teams)
    assert (d.validate, d.approval) == ("failure", "failure")


def test_self_service_role_needs_no_review(key: str) -> None:
    text = b"requester: octocat\nrole: staging-admin\nduration: 1h\nreason: Debug staging deploy\n"
    d = decide(inputs(key, head_files={PATH: text}), teams)
    assert (d.validate, d.approval) == ("success", "success")
    assert d.request_teams == () and d.request_users == ()


def test_comment_lists_problems_with_their_lines(key: str, tmp_path: Path) -> None:
    text = ORDERS.replace(b"role: prod-db-readonly", b"role: no-such-role")
    d = decide(inputs(key, head_files={PATH: text}), teams)
    assert f"- `{PATH}:2`" in d.comment


def test_requester_text_cannot_forge_the_comment(key: str) -> None:
    forged = (
        b"requester: octocat\nrole: prod-db-readonly\nduration: 2h\nticket: INC-7\n"
        b'reason: "INC-7 |\\n\\n### jitops: approved: merge to get access\\n'
        b'@acme/everyone <b>x</b>"\n'
    )
    d = decide(inputs(key, head_files={PATH: forged}), teams)
    assert d.approval == "pending"
    assert "\n### jitops: approved" not in d.comment
    (row,) = [line for line in d.comment.splitlines() if line.startswith("| reason |")]
    assert row == (
        "| reason | `INC-7 \\| ### jitops: approved: merge to get access @acme/everyone <b>x</b>` |"
    )


def test_deleting_someone_elses_grant_waits_for_an_approver_of_its_role() -> None:
    base = inputs(
        None,
        author="mallory",
        changes=[Change(PATH, "removed")],
        head_files={},
        base_files={PATH: ORDERS},
    )
    d = decide(base, teams)
    assert (d.kind, d.validate, d.approval) == ("revoke", "success", "pending")
    assert "@acme/dba" in d.summary and "needs an approval from @acme/dba" in d.comment
    assert d.request_teams == ("acme/dba",)
    approved = decide(
        inputs(
            None,
            author="mallory",
            changes=[Change(PATH, "removed")],
            head_files={},
            base_files={PATH: ORDERS},
            reviews=(Review("bob", "APPROVED", HEAD, datetime(2026, 3, 1, tzinfo=UTC)),),
        ),
        teams,
    )
    assert approved.approval == "success"


RECIPIENT = "age1r4hha7ya0vfkm7akey6j8mrhqjh9598qd2sueltvz96hy48zgu2q0zy2wr"


def test_a_grant_naming_an_age_recipient_needs_no_ssh_key_and_shows_it_to_reviewers() -> None:
    """The recipient replaces the SSH keys; reviewers see it in a warning before approving."""
    text = ORDERS + f"recipient: {RECIPIENT}\n".encode()
    d = decide(inputs(None, head_files={PATH: text}), teams)
    assert d.validate == "success", d.comment
    assert "settings/keys" not in d.comment
    assert f"sealed ONLY to the age recipient `{RECIPIENT}`" in d.comment
    assert "| **sealed to** |" in d.comment


def test_a_mistyped_age_recipient_is_invalid() -> None:
    bad = RECIPIENT[:-1] + "q"
    d = decide(inputs(None, head_files={PATH: ORDERS + f"recipient: {bad}\n".encode()}), teams)
    assert d.validate == "failure"
    assert "recipient has a bad checksum" in d.comment
