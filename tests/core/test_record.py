"""jitops' own record decides what happens to a grant file on main (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jitops.core.record import (
    Facts,
    Move,
    Spent,
    Token,
    decide,
    due_for_lookup,
    how_spent,
    lookup_round,
    redeliver,
    shrink,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=30)


def move(**kw: object) -> Move:
    return decide(Facts(now=NOW, **kw))[0]  # type: ignore[arg-type]


def test_a_file_jitops_never_recorded_goes_to_the_gate() -> None:
    assert move(action=None) is Move.GATE


@pytest.mark.parametrize("action", ["deny", "expire", "revoke"])
def test_a_decided_id_that_comes_back_is_removed_never_judged(action: str) -> None:
    got, why = decide(Facts(action=action, now=NOW))
    assert got is Move.REMOVE
    assert "new grant id" in why


def test_jitops_record_on_main_stands_while_its_token_is_live_or_vault_is_silent() -> None:
    facts = {"action": "issue", "matches": True, "expires_at": LATER}
    assert move(**facts) is Move.ASK_VAULT
    assert move(**facts, token=Token.LIVE) is Move.KEEP
    assert move(**facts, token=Token.UNKNOWN) is Move.KEEP
    assert move(**facts, check_vault=False) is Move.KEEP  # not in this run's rotation
    assert move(action="issue", matches=True, expires_at=NOW) is Move.KEEP  # the sweep's


def test_a_token_ended_outside_jitops_is_ended_never_denied() -> None:
    facts = {"action": "issue", "matches": True, "expires_at": LATER, "token": Token.GONE}
    assert move(**facts) is Move.ASK_ORIGIN
    got, why = decide(Facts(now=NOW, in_pull_request=False, **facts))  # type: ignore[arg-type]
    assert got is Move.END and "ended outside jitops" in why
    # a status block a rebase merge replayed is no record: the gate judges it
    assert move(**facts, in_pull_request=True) is Move.GATE


def test_a_token_that_expired_while_the_run_went_on_is_left_to_the_sweep() -> None:
    facts = {"action": "issue", "matches": True, "expires_at": LATER, "token": Token.GONE}
    late = LATER + timedelta(seconds=1)
    assert move(**facts, in_pull_request=False, clock=late) is Move.KEEP


def test_a_changed_file_is_restored_while_its_token_lives_and_never_issued_again() -> None:
    facts = {"action": "issue", "matches": False, "expires_at": LATER}
    assert move(**facts) is Move.ASK_VAULT
    assert move(**facts, check_vault=False) is Move.ASK_VAULT  # not jitops' record: not kept
    assert move(**facts, token=Token.LIVE) is Move.RESTORE
    assert move(**facts, token=Token.GONE) is Move.END
    assert move(**facts, token=Token.FOREIGN) is Move.END
    assert move(**facts, token=Token.UNKNOWN) is Move.WAIT
    got, why = decide(Facts(now=NOW, readable=False, token=Token.LIVE, **facts))  # type: ignore[arg-type]
    assert got is Move.END and "damaged" in why
    assert all(
        move(**facts, token=t) is not Move.GATE for t in Token
    )  # an issued grant never goes back through the gate


def test_a_claimed_delivery_is_never_replaced_whatever_its_comment_says() -> None:
    assert redeliver(wrapping=Token.GONE, posted=False) is False  # claimed, comment deleted
    assert redeliver(wrapping=Token.GONE, posted=True) is False
    assert redeliver(wrapping=Token.UNKNOWN, posted=False) is False  # Vault silent: not now
    assert redeliver(wrapping=Token.LIVE, posted=True) is False
    assert redeliver(wrapping=Token.LIVE, posted=False) is True  # the run died before posting
    assert redeliver(wrapping=None, posted=False) is True  # recorded before the trailer existed


def test_a_delivery_shrinks_only_when_vault_says_its_wrapping_token_is_gone() -> None:
    assert shrink(wrapping=Token.GONE, sealed=True) is True
    assert shrink(wrapping=Token.GONE, sealed=False) is False  # shrunk already
    for wrapping in (Token.LIVE, Token.UNKNOWN, Token.FOREIGN, None):  # never on a comment's word
        assert shrink(wrapping=wrapping, sealed=True) is False
    # a shrunk delivery is never delivered again: its wrapping token is gone
    assert redeliver(wrapping=Token.GONE, posted=False) is False


def test_a_gone_wrapping_token_is_called_claimed_only_before_its_ttl_could_run_out() -> None:
    ttl = timedelta(minutes=10)
    assert how_spent(NOW + timedelta(minutes=9), NOW, ttl) is Spent.CLAIMED
    assert how_spent(NOW + ttl, NOW, ttl) is Spent.CLAIMED_OR_EXPIRED
    assert how_spent(NOW + timedelta(days=1), NOW, ttl) is Spent.CLAIMED_OR_EXPIRED


# -- which of jitops' records a run looks up in Vault (a rotation, bounded per run) -----------
SLOT = timedelta(minutes=10)


def test_a_run_looks_up_every_record_when_they_are_few() -> None:
    ids = [f"stg-octocat-{i}" for i in range(5)]
    assert due_for_lookup(ids, NOW, per_run=5) == frozenset(ids)


def test_a_run_looks_up_at_most_its_share_and_a_round_looks_at_every_record() -> None:
    ids = [f"stg-octocat-{i}" for i in range(1000)]
    seen: set[str] = set()
    rounds = lookup_round(len(ids), per_run=5)
    assert rounds == 200
    for n in range(rounds):
        due = due_for_lookup(ids, NOW + n * SLOT, per_run=5, slot=SLOT)
        assert 0 < len(due) <= 5
        seen |= due
    assert seen == set(ids)
    # two runs in one slot (a push and the sweep) look at the same records
    assert due_for_lookup(ids, NOW, per_run=5) == due_for_lookup(ids, NOW + SLOT / 3, per_run=5)


def test_the_rotation_takes_a_last_short_window_too() -> None:
    ids = [f"db-{i:02}" for i in range(7)]
    seen = set().union(*(due_for_lookup(ids, NOW + n * SLOT, per_run=3) for n in range(3)))
    assert seen == set(ids)
