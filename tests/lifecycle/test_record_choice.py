"""Which grant files at the tip a run acts on, decided from the tip and jitops' own record alone
(no git, no server): the pure half of `issue`'s and the sweep's choice of unissued grants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jitops.core.record import Move, Token, decide
from jitops.core.tip import parse_grant_files
from jitops.core.trailers import LedgerEntry
from jitops.lifecycle.issue import record_facts
from jitops.lifecycle.landing import OwnRecord
from tests.core.test_tip import grant

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def issued(gid: str, expires: datetime) -> tuple[str, bytes, OwnRecord]:
    """A grant file as jitops' issue commit wrote it, and that record."""
    path, data = grant(gid, expires=expires)
    (f,) = parse_grant_files({path: data})
    entry = LedgerEntry("issue", gid, "octocat", "staging", pull_request=7, expires_at=expires)
    return path, data, OwnRecord(entry, "c" * 40, "c" * 40, data, f.grant, None)


def move(data: bytes, found: OwnRecord, **vault: object) -> Move:
    (f,) = parse_grant_files({f"grants/{found.entry.grant}.yaml": data})
    facts = record_facts(f, found, NOW, check_vault=bool(vault.get("check_vault", True)))
    if "token" in vault:
        facts = type(facts)(**{**facts.__dict__, "token": vault["token"]})
    return decide(facts)[0]


def test_a_file_that_is_jitops_record_stands_unasked_when_the_rotation_skips_it() -> None:
    _path, data, found = issued("db-one", NOW + timedelta(hours=1))
    assert move(data, found, check_vault=False) is Move.KEEP


def test_an_issue_run_asks_vault_about_an_unexpired_record_and_keeps_a_live_token() -> None:
    _path, data, found = issued("db-two", NOW + timedelta(hours=1))
    assert move(data, found) is Move.ASK_VAULT
    assert move(data, found, token=Token.LIVE) is Move.KEEP


def test_a_status_block_changed_on_main_is_put_back_while_the_token_lives() -> None:
    _path, data, found = issued("db-three", NOW + timedelta(hours=1))
    longer = data.replace(b"expires_at: 2026-12-01T13", b"expires_at: 2026-12-09T13")
    assert longer != data
    assert move(longer, found, token=Token.LIVE) is Move.RESTORE
    assert move(longer, found, token=Token.GONE) is Move.END


def test_a_damaged_file_with_a_live_token_ends_the_grant() -> None:
    _path, _data, found = issued("db-four", NOW + timedelta(hours=1))
    assert move(b"requester: [\n", found, token=Token.LIVE) is Move.END


def test_an_expired_record_stands_without_asking_vault() -> None:
    _path, data, found = issued("db-five", NOW - timedelta(minutes=1))
    assert move(data, found) is Move.KEEP  # the sweep expires it; Vault is not asked


def test_a_file_naming_a_denied_grant_again_is_removed_whatever_it_says() -> None:
    _path, data, found = issued("db-six", NOW + timedelta(hours=1))
    denied = OwnRecord(replace(found.entry, action="deny"), "d" * 40)
    assert move(data, denied, check_vault=False) is Move.REMOVE


def test_a_changed_file_waits_while_vault_cannot_say_whether_its_token_lives() -> None:
    _path, data, found = issued("db-seven", NOW + timedelta(hours=1))
    changed = data.replace(b"pull_request: 7", b"pull_request: 8")
    assert move(changed, found, token=Token.UNKNOWN) is Move.WAIT


def test_a_status_block_github_ties_to_a_pull_request_goes_back_to_the_gate() -> None:
    _path, data, found = issued("db-eight", NOW + timedelta(hours=1))
    (f,) = parse_grant_files({f"grants/{found.entry.grant}.yaml": data})
    facts = replace(record_facts(f, found, NOW, check_vault=True), token=Token.GONE)
    assert decide(facts)[0] is Move.ASK_ORIGIN  # Vault has no such token: who wrote it?
    move_, why = decide(replace(facts, in_pull_request=True))
    assert move_ is Move.GATE and why == "the status block came in with a pull request"
