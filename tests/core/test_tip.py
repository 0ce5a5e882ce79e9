"""The tip as one run reads it, and the sweep's plan decided from it (pure: no git, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jitops.core.policy import PolicyError, load_policy
from jitops.core.tip import Tip, parse_grant_files, plan_sweep
from jitops.errors import Problem

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = load_policy(
    {
        "policies/policy.yaml": b"version: 1\nroles:\n  staging:\n    description: Staging\n"
        b"    max_duration: 8h\n    requesters: ['*']\n    approvals: []\n"
        b"    vault:\n      policies: [jit-staging]\n"
    }
)


def grant(gid: str, *, expires: datetime | None = None) -> tuple[str, bytes]:
    """A grant file; with ``expires``, an active one with jitops' status block."""
    text = "requester: octocat\nrole: staging\nduration: 1h\nreason: Investigate INC-7 now\n"
    if expires is not None:
        issued = expires - timedelta(hours=1)
        text += (
            "status:\n  state: active\n"
            f"  issued_at: {issued:%Y-%m-%dT%H:%M:%SZ}\n"
            f"  expires_at: {expires:%Y-%m-%dT%H:%M:%SZ}\n"
            f"  token_accessor: acc-{gid}\n  pull_request: 7\n  approved_by: []\n"
        )
    return f"grants/{gid}.yaml", text.encode()


def tip_of(*files: tuple[str, bytes]) -> Tip:
    return Tip("origin/main", parse_grant_files(dict(files)), POLICY, None, POLICY)


def test_the_sweep_expires_what_is_over_soonest_first_and_leaves_the_rest() -> None:
    tip = tip_of(
        grant("late-one", expires=NOW - timedelta(minutes=1)),
        grant("early-one", expires=NOW - timedelta(hours=2)),
        grant("running-one", expires=NOW + timedelta(minutes=1)),
        grant("at-the-second", expires=NOW),
        grant("requested-one"),
    )
    todo = plan_sweep(tip, [], NOW)
    assert [g.id for g in todo.expired] == ["early-one", "late-one", "at-the-second"]
    assert todo.unissued == () and todo.unreadable == ()


def test_a_status_block_jitops_did_not_write_is_never_expired_but_finished_by_the_gate() -> None:
    forged = grant("forged-one", expires=NOW - timedelta(hours=1))
    todo = plan_sweep(tip_of(forged), [forged[0]], NOW)
    assert todo.expired == ()  # its accessor may name anybody's token
    assert todo.unissued == ("grants/forged-one.yaml",)


def test_a_file_that_looks_active_but_cannot_be_read_is_flagged_with_why() -> None:
    broken = ("grants/broken-one.yaml", b"requester: [octocat\nstatus:\n  state: active\n")
    request = ("grants/typo-one.yaml", b"requester: [octocat\n")  # no status: the gate's
    (flagged,) = plan_sweep(tip_of(broken, request), [], NOW).unreadable
    assert flagged[0] == "grants/broken-one.yaml"
    assert flagged[1] and "\n" not in flagged[1]


def test_a_hostile_file_is_a_problem_of_its_own_never_an_error_of_the_run() -> None:
    files = parse_grant_files({"grants/huge-one.yaml": b"duration: " + b"9" * 5000 + b"\n"})
    (f,) = files
    assert f.grant is None and f.problems


def test_the_last_good_policy_is_the_tips_or_the_error_that_none_loads() -> None:
    assert tip_of().last_good_policy() is POLICY
    error = PolicyError([Problem("policies/policy.yaml", 1, "broken")])
    broken = Tip("origin/main", (), None, error, None, error)
    with pytest.raises(PolicyError, match="broken"):
        broken.last_good_policy()
    older = Tip("origin/main", (), None, error, POLICY)  # an invalid tip, a good older policy
    assert older.policy is None and older.last_good_policy() is POLICY


def test_grants_by_id_leave_unreadable_files_out() -> None:
    tip = tip_of(grant("fine-one"), ("grants/bad-one.yaml", b": : :\n"))
    assert list(tip.grants()) == ["fine-one"]
    assert tip.file("grants/bad-one.yaml") is not None and tip.file("grants/nope.yaml") is None


def test_a_scheduled_grant_not_due_is_waiting_in_the_sweep_plan() -> None:
    """`sweep --dry-run` must not say "would issue" of a scheduled grant before its time."""
    text = (
        b"requester: octocat\nrole: orders-db\nduration: 30m\nreason: Investigate INC-7\n"
        b"not_before: 2026-12-08T22:00:00Z\n"
    )
    path = "grants/db-octocat-2.yaml"
    tip = Tip("origin/main", parse_grant_files({path: text}), None)
    early = plan_sweep(tip, [path], datetime(2026, 12, 8, 21, 0, tzinfo=UTC))
    assert early.unissued == (path,)
    ((waiting, why),) = early.waiting
    assert waiting == path and "not due until 2026-12-08T22:00:00Z" in why
    assert plan_sweep(tip, [path], datetime(2026, 12, 8, 22, 0, tzinfo=UTC)).waiting == ()
