"""Deliveries shrink after use: once Vault says a delivery's wrapping token is gone (claimed,
or its wrap TTL ran out), the next issue or sweep run edits the bot's delivery comment down to
a one-line note with no ciphertext; ``claim`` on it says what happened and what to do. Through
the GitHub stand-in, real git and a real OpenBao."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
import requests

from jitops.delivery.comment import SpentNote, spent_delivery_comment
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.services import read_tip
from jitops.lifecycle.shrink import shrink_deliveries
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import BOT, DBA, REPO, World
from tests.lifecycle.test_lifecycle import _claim, claim
from tests.lifecycle.test_own_record import (
    _as_writer,
    issued,
    last_message,
    live_tokens_of,
    results,
)

pytestmark = pytest.mark.integration

ARMOR = "-----BEGIN AGE ENCRYPTED FILE-----"
SEEN = re.compile(r"by \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def delivery_comment(world: World, gid: str, pr: int) -> tuple[int, str]:
    """The bot's one delivery comment of ``gid``: (its id, its body)."""
    (found,) = [
        (c.id, c.body)
        for c in world.github(DBA).comments(pr)
        if c.author == BOT and f"<!-- jitops:delivery grant={gid} -->" in c.body
    ]
    return found


def visible_lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.strip() and not line.startswith("<!--")]


def wrapping_accessor(world: World) -> str:
    """The ``Jitops-Delivery`` accessor of the newest commit on main (an issue commit)."""
    return last_message(world).split("Jitops-Delivery: ")[1].split()[0]


def test_a_claimed_delivery_shrinks_on_the_next_run_and_claim_explains(world: World) -> None:
    gid = "stg-octocat-81"
    pr, first = issued(world, gid)
    claim(world, gid, pr)  # the requester holds the credential now
    assert ARMOR in delivery_comment(world, gid, pr)[1]

    assert run_issue(world.services()) == []  # a push's run leaves comments alone
    assert ARMOR in delivery_comment(world, gid, pr)[1]
    assert run_sweep(world.services()) == []  # nothing expired, revoked or re-delivered
    _, body = delivery_comment(world, gid, pr)
    assert ARMOR not in body and "AGE ENCRYPTED" not in body
    (line,) = visible_lines(body)  # one line
    assert f"the delivery of `{gid}` was claimed (its single-use wrapping token" in line
    assert SEEN.search(line), line
    assert f"`jitops revoke {gid}`" in line
    assert live_tokens_of(world, gid) == [first]  # the claimed credential still works

    result = _claim(world, pr, gid)
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert f"the delivery of {gid} was claimed" in said
    assert "A delivery opens once" in said and f"jitops revoke {gid}" in said

    # later runs: nothing left to do, and never a re-delivery of a shrunk, claimed delivery
    world.gh.clear_requests()
    assert run_sweep(world.services()) == []
    assert run_issue(world.services()) == []
    assert world.gh.count_requests("PATCH") == 0
    assert delivery_comment(world, gid, pr)[1] == body
    assert live_tokens_of(world, gid) == [first]


def test_an_unclaimed_delivery_whose_wrap_ttl_passed_shrinks_too(world: World) -> None:
    short = world.policy_text().replace("wrap_ttl: 10m", "wrap_ttl: 3s")
    assert short != world.policy_text()
    world.gh.commit_files("main", {"policies/policy.yaml": short}, author=DBA, message="wrap 3s")
    gid = "stg-octocat-82"
    pr, first = issued(world, gid)
    wrapping = wrapping_accessor(world)
    deadline = time.monotonic() + 30
    while world.admin().lookup_accessor(wrapping) is not None:  # OpenBao ends it by its TTL
        assert time.monotonic() < deadline, "the wrapping token outlived its wrap TTL"
        time.sleep(0.25)

    assert run_sweep(world.services()) == []  # nothing expired, revoked or re-delivered
    _, body = delivery_comment(world, gid, pr)
    assert ARMOR not in body
    (line,) = visible_lines(body)
    assert f"the delivery of `{gid}` was claimed or expired by" in line and SEEN.search(line)
    assert live_tokens_of(world, gid) == [first]  # the grant itself is untouched
    assert run_issue(world.services()) == []  # a gone wrapping token is never delivered again
    result = _claim(world, pr, gid)
    assert result.exit_code == 1
    assert f"the delivery of {gid} was claimed or expired by" in " ".join(result.output.split())


def test_an_unclaimed_live_delivery_is_never_touched(world: World) -> None:
    gid = "stg-octocat-83"
    pr, first = issued(world, gid)
    _, before = delivery_comment(world, gid, pr)
    world.gh.clear_requests()
    assert run_issue(world.services()) == []
    assert run_sweep(world.services()) == []
    assert world.gh.count_requests("PATCH") == 0
    assert delivery_comment(world, gid, pr)[1] == before
    assert live_tokens_of(world, gid) == [first]
    claim(world, gid, pr)  # still opens


def _cost(world: World) -> tuple[int, int, int]:
    """The shrink step's own requests in one run: (GitHub requests, of which PATCH, Vault)."""
    svc = world.services()
    svc.git.fetch(svc.remote, svc.branch)
    tip = read_tip(svc)
    assert tip.policy is not None
    vault = svc.vault(tip.policy)  # logged in before counting (a run logs in once anyway)
    world.gh.clear_requests()
    start = vault.request_count
    shrink_deliveries(svc, tip, datetime.now(UTC))
    return len(world.gh.requests), world.gh.count_requests("PATCH"), vault.request_count - start


def test_what_shrinking_costs_a_run(world: World) -> None:
    """Per recent delivery and run: a live one costs a comment listing and one Vault lookup;
    the run that shrinks adds GitHub's pull-request association of the (recent) issue commit
    and the PATCH; a shrunk one costs the listing only (plus ``whoami`` once per run, which
    the re-delivery check of the same run usually made already)."""
    gid = "stg-octocat-84"
    pr, _ = issued(world, gid)
    assert _cost(world) == (2, 0, 1)  # whoami, comments; lookup-accessor
    claim(world, gid, pr)
    assert _cost(world) == (4, 1, 1)  # + commits/{sha}/pulls, PATCH
    assert ARMOR not in delivery_comment(world, gid, pr)[1]
    assert _cost(world) == (2, 0, 0)  # shrunk: nothing asked of Vault


def test_a_comment_a_writer_shrank_while_the_delivery_is_live_is_delivered_afresh(
    world: World,
) -> None:
    """jitops shrinks only what Vault says is gone, so a shrunk comment next to a live wrapping
    token is a writer's edit: ``claim`` repeats what it says, and the next run delivers afresh,
    as for a deleted unclaimed delivery (old token and wrapping token revoked first); it is
    never taken as claimed."""
    gid = "stg-octocat-85"
    pr, first = issued(world, gid)
    comment_id, original = delivery_comment(world, gid, pr)
    (marker,) = [line for line in original.splitlines() if line.startswith("<!-- jitops:issued")]
    forged = spent_delivery_comment(gid, SpentNote("claimed", "2026-01-01T00:00:00Z"), marker)
    url = f"{world.gh.api_url}/repos/{REPO}/issues/comments/{comment_id}"
    got = requests.patch(url, json={"body": forged}, headers=_as_writer(world), timeout=30)
    assert got.status_code == 200

    told = _claim(world, pr, gid)
    assert told.exit_code == 1 and "was claimed" in told.output

    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "issued")] and "re-issued" in outcomes[0].detail
    (second,) = live_tokens_of(world, gid)
    assert second != first
    result = _claim(world, pr, gid)  # the fresh delivery opens
    assert result.exit_code == 0, result.output
