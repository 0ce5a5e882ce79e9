"""jitops' own record decides; what a writer can edit is only a request.

Each test is an attack (or an accident) a repository writer can cause after a grant was issued,
through the GitHub stand-in (merge, squash and rebase merges as GitHub does them), real git and
a real OpenBao: the grant file put back as it was requested, the delivery comment edited or
deleted, the token ended in Vault behind jitops' back, the repository renamed, the status block
damaged. jitops' own commits and Vault's record of the token decide what happens next."""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core.grant import parse_time
from jitops.doors.git import Git
from jitops.lifecycle.audit import load_history
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REPO, REQUESTER, World
from tests.lifecycle.test_lifecycle import claim

pytestmark = pytest.mark.integration

METHODS = ["merge", "squash", "rebase"]
STAGING = (
    "requester: octocat\nrole: staging-admin\nduration: 1h\nreason: Debug the staging deploy\n"
)


def results(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.grant, o.action) for o in outcomes]


def on_main(world: World, gid: str) -> str | None:
    text = world.gh.read_file("main", f"grants/{gid}.yaml")
    return str(text) if text is not None else None


def accessor_of(world: World, gid: str) -> str:
    text = on_main(world, gid) or ""
    return text.split("token_accessor: ")[1].split()[0].strip("\"'")


def issued(world: World, gid: str, method: str = "merge") -> tuple[int, str]:
    """An approved grant, merged and issued: (its pull request, its token's accessor)."""
    n = world.gh.open_pr(REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": STAGING})
    world.gh.merge_pr(n, DBA, method=method)
    assert results(run_issue(world.services())) == [(gid, "issued")]
    return n, accessor_of(world, gid)


def live_tokens_of(world: World, gid: str) -> list[str]:
    """The accessors of every live Vault token of ``gid`` (listed with the root token)."""
    return sorted(t.accessor for t in world.grant_tokens() if t.grant_id == gid)


def audit_record(world: World, gid: str) -> dict[str, Any]:
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    history = load_history(Git(world.checkout), "origin/main")
    return history.records[gid].to_json()


def audit_json(world: World, *args: str) -> str:
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    result = CliRunner().invoke(
        cli, ["audit", "--repo", str(world.checkout), "--ref", "origin/main", *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def last_message(world: World) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%B", "main"],
        cwd=world.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


# -- finding 1: one approval, one credential ----------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_restoring_the_requested_bytes_never_issues_a_second_token(
    world: World, method: str
) -> None:
    """A merged pull request puts ``grants/<id>.yaml`` back to the bytes first requested (the
    status block stripped): the original pull request's approval must not buy a second token.
    jitops puts its recorded status back; Vault holds exactly the one token it issued."""
    gid = "stg-octocat-70"
    _, first = issued(world, gid, method)
    before = audit_record(world, gid)
    time.sleep(1.1)  # git's commit times have one-second resolution: a later second
    m = world.gh.open_pr(REQUESTER, "again", "Restore", files={f"grants/{gid}.yaml": STAGING})
    world.gh.merge_pr(m, DBA, method=method)
    assert "status:" not in (on_main(world, gid) or "")

    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "restored")], outcomes
    assert live_tokens_of(world, gid) == [first]  # one grant, one live credential
    assert accessor_of(world, gid) == first  # jitops' record is back on main
    assert audit_record(world, gid) == before  # the audit record is unchanged
    assert run_issue(world.services()) == []  # nothing left to do
    # and again, before its expiry: still the one token
    k = world.gh.open_pr(REQUESTER, "again2", "Restore", files={f"grants/{gid}.yaml": STAGING})
    world.gh.merge_pr(k, DBA, method=method)
    assert results(run_issue(world.services())) == [(gid, "restored")]
    assert live_tokens_of(world, gid) == [first]


def test_an_ended_grant_whose_file_comes_back_is_removed_not_judged(world: World) -> None:
    """After the grant expired (jitops removed the file), a pull request adds the very same
    bytes again: the id was decided; the file is removed and nothing is issued."""
    gid = "stg-octocat-71"
    issued(world, gid)
    expiry = parse_time((on_main(world, gid) or "").split("expires_at: ")[1].split()[0])
    later = expiry + timedelta(seconds=1)
    assert ("stg-octocat-71", "expired") in results(run_sweep(world.services(), now=later))
    m = world.gh.open_pr(REQUESTER, "back", "Again", files={f"grants/{gid}.yaml": STAGING})
    world.gh.merge_pr(m, DBA)
    outcomes = run_issue(world.services(), now=later)
    assert [o.action for o in outcomes if o.grant == gid] == ["revoked"], outcomes
    assert "already ended" in outcomes[0].detail
    assert on_main(world, gid) is None
    assert live_tokens_of(world, gid) == []
    assert audit_record(world, gid)["ended_by"] != "deny"


# -- finding 4: the delivery comment is not the record of a delivery ----------------------------


def _comment_url(world: World, pr: int) -> str:
    (delivery,) = [
        c for c in world.github(DBA).comments(pr) if "BEGIN AGE ENCRYPTED FILE" in c.body
    ]
    return f"{world.gh.api_url}/repos/{REPO}/issues/comments/{delivery.id}"


WRITER = "wendy"


def _as_writer(world: World) -> dict[str, str]:
    """A repository writer: GitHub lets anyone with write access edit or delete any comment
    ("If you have write permissions to a repository, you can hide, edit, or delete comments",
    https://docs.github.com/en/communities/moderating-comments-and-conversations)."""
    world.gh.add_user(WRITER, write=True)
    return {"Authorization": f"token {world.gh.token(WRITER)}"}


@pytest.mark.parametrize("how", ["edit", "delete"])
def test_a_claimed_delivery_is_never_replaced_when_its_comment_changes(
    world: World, how: str
) -> None:
    gid = "stg-octocat-72"
    pr, first = issued(world, gid)
    claim(world, gid, pr)  # the requester holds the credential now
    url = _comment_url(world, pr)
    if how == "edit":
        got = requests.patch(
            url, json={"body": "nothing here"}, headers=_as_writer(world), timeout=30
        )
        assert got.status_code == 200
    else:
        assert requests.delete(url, headers=_as_writer(world), timeout=30).status_code == 204
    outcomes = run_issue(world.services())
    assert outcomes == [], outcomes
    assert live_tokens_of(world, gid) == [first]  # the claimed credential still works
    assert accessor_of(world, gid) == first


def test_a_deleted_unclaimed_delivery_is_replaced_and_the_old_one_no_longer_opens(
    world: World,
) -> None:
    """Nobody claimed it and the comment is gone: the requester could never claim it, so jitops
    delivers afresh (the unclaimed token and its wrapping token are revoked first)."""
    gid = "stg-octocat-73"
    pr, first = issued(world, gid)
    from jitops.delivery.comment import extract_sealed

    old_comment = extract_sealed(world.gh.comments(pr), gid)
    assert (
        requests.delete(_comment_url(world, pr), headers=_as_writer(world), timeout=30).status_code
        == 204
    )
    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "issued")] and "re-issued" in outcomes[0].detail
    (second,) = live_tokens_of(world, gid)
    assert second != first
    # the deleted delivery's wrapping token was revoked with its grant token
    from jitops.delivery import seal as deliver
    from jitops.doors.vault.client import Vault

    assert old_comment is not None
    payload = deliver.unseal_first(old_comment, [world.key.private], grant_id=gid)
    with pytest.raises(Exception, match=r"already unwrapped|expired"):
        Vault(payload.vault_addr, namespace=payload.vault_namespace).unwrap(payload.wrapping_token)
    claim(world, gid, pr)  # the new delivery opens


# -- finding 8: a token ended outside jitops is recorded as ended, never as denied --------------


def test_a_token_revoked_in_vault_by_an_admin_is_recorded_as_ended(world: World) -> None:
    gid = "stg-octocat-74"
    pr, first = issued(world, gid)
    assert world.admin().revoke_accessor(first)
    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "revoked")], outcomes
    assert "ended outside jitops" in outcomes[0].detail
    assert on_main(world, gid) is None
    message = last_message(world)
    assert "Jitops-Action: revoke" in message and "ended outside jitops" in message
    record = audit_record(world, gid)
    assert record["ended_by"] == "revoke" and "ended outside jitops" in record["end_reason"]
    assert not any("access denied" in c for c in world.gh.comments(pr))
    assert gid not in audit_json(world, "--active", "--format", "json")


def vault_requests(svc: Any) -> int:
    return sum(int(v.request_count) for v in svc._vaults.values())


def one_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs look up one of jitops' records each (the rotation's share, made small to test it
    with a few grants instead of more than ``LOOKUPS_PER_RUN``)."""
    from jitops.core import record
    from jitops.lifecycle import issue as issue_module

    monkeypatch.setattr(
        issue_module, "due_for_lookup", functools.partial(record.due_for_lookup, per_run=1)
    )


def test_a_run_asks_vault_about_its_share_of_records_not_about_every_active_grant(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost of noticing tokens ended outside jitops does not grow with the active grants:
    a run with nothing to issue logs in and looks up its share of jitops' records, one here."""
    for i in range(3):
        issued(world, f"stg-octocat-8{i}")
    one_per_run(monkeypatch)
    svc = world.services()
    assert run_issue(svc) == []
    assert vault_requests(svc) == 2  # the login and one lookup, not three


def test_a_token_ended_outside_jitops_is_recorded_within_one_round_of_the_rotation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 8 with more active grants than a run looks up: within ``lookup_round`` slots
    (one run in each), the token an admin revoked in Vault is recorded as ended, with that
    reason, and the others stand."""
    from jitops.core.record import LOOKUP_SLOT, lookup_round

    gids = [f"stg-octocat-9{i}" for i in range(3)]
    for gid in gids:
        issued(world, gid)
    assert world.admin().revoke_accessor(accessor_of(world, gids[1]))
    one_per_run(monkeypatch)
    start = datetime.now(UTC)
    ended: list[Outcome] = []
    for n in range(lookup_round(len(gids), per_run=1)):
        run = run_issue if n % 2 else run_sweep  # a push's run or the scheduled sweep
        ended += run(world.services(), now=start + n * LOOKUP_SLOT)
    assert results(ended) == [(gids[1], "revoked")], ended
    assert "ended outside jitops" in ended[0].detail
    assert on_main(world, gids[1]) is None
    assert all(on_main(world, gid) for gid in (gids[0], gids[2]))
    assert audit_record(world, gids[1])["ended_by"] == "revoke"


def test_a_token_that_expires_during_the_run_is_not_denied(world: World) -> None:
    """``now`` is read once when a run starts; the token expires before its lookup: the grant
    is left for the sweep to record as expired, never sent back through the gate."""
    gid = "stg-octocat-75"
    _, first = issued(world, gid)
    assert world.admin().revoke_accessor(first)  # Vault has ended it, as its TTL would
    expiry = parse_time((on_main(world, gid) or "").split("expires_at: ")[1].split()[0])
    started = expiry - timedelta(seconds=2)  # the run started just before the expiry
    svc = world.services()
    svc.clock = lambda: expiry + timedelta(seconds=1)  # the clock when Vault is asked
    outcomes = run_issue(svc, now=started)
    assert all(o.action != "denied" for o in outcomes), outcomes
    assert [o.action for o in outcomes if o.grant == gid] in ([], ["expired"]), outcomes
    swept = run_sweep(world.services(), now=expiry + timedelta(seconds=1))
    if on_main(world, gid) is not None or any(o.grant == gid for o in swept):
        assert (gid, "expired") in results(swept)
    assert on_main(world, gid) is None
    assert audit_record(world, gid)["ended_by"] == "expire"


# -- finding 10: repository rename, damaged status time ------------------------------------------


def test_a_renamed_repository_keeps_its_active_grants(world: World) -> None:
    gid = "stg-octocat-76"
    _, first = issued(world, gid)
    renamed = dataclasses.replace(world.services(), repository="acme/access-renamed")
    assert run_issue(renamed) == []  # the repository id matches: nothing denied or revoked
    assert live_tokens_of(world, gid) == [first]
    assert "status:" in (on_main(world, gid) or "")
    later = datetime.now(UTC) + timedelta(hours=2)
    swept = run_sweep(renamed, now=later)
    assert (gid, "expired") in results(swept)
    assert live_tokens_of(world, gid) == []


def test_a_damaged_status_time_ends_the_grant_cleanly(world: World) -> None:
    gid = "stg-octocat-77"
    issued(world, gid)
    text = on_main(world, gid) or ""
    damaged = text.replace("expires_at: ", "expires_at: soon-", 1)
    world.gh.commit_files("main", {f"grants/{gid}.yaml": damaged}, author=DBA)
    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "revoked")], outcomes
    assert "damaged" in outcomes[0].detail
    assert live_tokens_of(world, gid) == []
    assert on_main(world, gid) is None
    assert gid not in audit_json(world, "--active", "--format", "json")
    assert run_issue(world.services()) == []  # not flagged forever


def test_a_grant_another_run_issued_meanwhile_is_never_denied(
    world: World, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs on two checkouts (an issue run and a sweep outside one concurrency group):
    run A lists two unissued grants; run B issues both; A then issues the first (it finds it
    recorded meanwhile) and must not judge the second's file, which now carries B's status
    block, by the gate: that was a deny by rule 4 of a grant B had delivered. Found by
    benchmarks/soak.py."""
    from jitops.lifecycle import issue as issue_module

    first, second = "stg-octocat-r1", "stg-octocat-r2"
    for gid in (first, second):
        n = world.gh.open_pr(REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": STAGING})
        world.gh.merge_pr(n, DBA)
    other = dataclasses.replace(world.services(), git=Git(world.gh.clone(tmp_path / "b")))
    listed = issue_module.pending_files

    def then_b_runs(svc: Any, tip: Any, now: datetime, **kw: Any) -> Any:
        out = listed(svc, tip, now, **kw)
        if svc.git.root == world.checkout:  # run A: B runs between A's listing and judging
            assert sorted(results(run_issue(other))) == [(first, "issued"), (second, "issued")]
        return out

    monkeypatch.setattr(issue_module, "pending_files", then_b_runs)
    a = results(run_issue(world.services()))
    assert (second, "denied") not in a, a
    assert all(action == "skipped" for _gid, action in a), a
    monkeypatch.undo()
    # both stay issued: one live token each, the ledger says issued, never denied
    for gid in (first, second):
        assert live_tokens_of(world, gid) == [accessor_of(world, gid)]
        assert audit_record(world, gid)["ended_by"] is None
