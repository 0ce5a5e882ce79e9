"""A status block or a ledger commit that came in through a pull request is never taken for
jitops' own: Vault's record of a token, not git's, decides what jitops revokes, re-issues or
trusts. Each case was a working attack (GitHub stand-in, real OpenBao, real git) before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jitops.core.grant import format_time
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

ORDERS = (
    "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
    "reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)
STAGING = "requester: {who}\nrole: staging-admin\nduration: {d}\nreason: Debug the staging deploy\n"


def accessor_of(world: World, gid: str) -> str:
    text = world.gh.read_file("main", f"grants/{gid}.yaml") or ""
    return text.split("token_accessor: ")[1].split()[0].strip("\"'")


def status(pr: int, accessor: str, issued: datetime, expires: datetime) -> str:
    return (
        f"status:\n  state: active\n  pull_request: {pr}\n  approved_by: [alice]\n"
        f"  issued_at: {format_time(issued)}\n  expires_at: {format_time(expires)}\n"
        f'  token_accessor: "{accessor}"\n'
    )


def jitops_shaped(action: str, gid: str, pr: int, expires: datetime) -> str:
    """A commit message exactly like jitops' own (any author can write one)."""
    return (
        f"jitops: {action} {gid}\n\nAccess of octocat.\n\nJitops-Action: {action}\n"
        f"Jitops-Grant: {gid}\nJitops-Requester: octocat\nJitops-Role: staging-admin\n"
        f"Jitops-Pull-Request: {pr}\nJitops-Approved-By: alice\n"
        f"Jitops-Expires-At: {format_time(expires)}\n"
    )


def victim(world: World) -> str:
    """mallory's live, properly issued grant; returns its accessor."""
    world.gh.add_ssh_key("mallory", world.key.public_line)
    text = STAGING.format(who="mallory", d="1h")
    n = world.gh.open_pr("mallory", "victim", "Access", files={"grants/stg-mallory-1.yaml": text})
    world.gh.merge_pr(n, DBA)
    assert [(o.grant, o.action) for o in run_issue(world.services())] == [
        ("stg-mallory-1", "issued")
    ]
    acc = accessor_of(world, "stg-mallory-1")
    assert world.admin().lookup_accessor(acc) is not None
    return acc


def jitops_tokens(world: World) -> set[str]:
    return {t.grant_id or "" for t in world.grant_tokens()}


@pytest.mark.parametrize("gid", ["db-octocat-7", "ab"])  # "ab" breaks the id rule: flagged
def test_a_forged_status_is_never_re_delivered_and_revokes_nobody(world: World, gid: str) -> None:
    stolen = victim(world)
    now = datetime.now(UTC)
    n = world.gh.open_pr(REQUESTER, "x", "Access", files={f"grants/{gid}.yaml": ORDERS})
    forged = ORDERS + status(n, stolen, now, now + timedelta(minutes=30))
    expires = now + timedelta(minutes=30)
    msg = jitops_shaped("issue", gid, n, expires)
    world.gh.push_to_pr(n, {f"grants/{gid}.yaml": forged}, message=msg)
    world.gh.merge_pr(n, DBA, method="rebase")  # no DBA review: the role needs one
    svc = world.services()
    status_sha = world.main_sha()
    real = svc.github.pulls_for_commit
    # GitHub has not associated the replayed commit with its pull request yet
    svc.github.pulls_for_commit = lambda sha: [] if sha == status_sha else real(sha)  # type: ignore[method-assign]
    outcomes = run_issue(svc)
    assert all(o.action != "issued" for o in outcomes), outcomes
    assert world.admin().lookup_accessor(stolen) is not None  # the victim keeps access
    assert jitops_tokens(world) == {"stg-mallory-1"}  # nothing was issued for the forgery
    assert not any("BEGIN AGE ENCRYPTED FILE" in c for c in world.gh.comments(n))


def test_a_forged_status_landed_over_an_hour_ago_goes_through_the_gate(world: World) -> None:
    now = datetime.now(UTC)
    gid = "db-octocat-8"
    n = world.gh.open_pr(REQUESTER, "x", "Access", files={f"grants/{gid}.yaml": ORDERS})
    expires = now + timedelta(hours=2)
    forged = ORDERS + status(n, "nonexistent-accessor", now + timedelta(hours=3), expires)
    world.gh.push_to_pr(
        n, {f"grants/{gid}.yaml": forged}, message=jitops_shaped("issue", gid, n, expires)
    )
    world.gh.queue_pr(n, "mallory", method="rebase")  # no DBA review
    world.gh.land_queued(n)
    outcomes = run_issue(world.services(), now=now + timedelta(minutes=65))
    assert [(o.grant, o.action) for o in outcomes] == [(gid, "denied")], outcomes
    assert jitops_tokens(world) == set()
    assert world.gh.read_file("main", f"grants/{gid}.yaml") is None  # off main: no record


def test_an_empty_pull_request_cannot_revoke_anybody(world: World) -> None:
    stolen = victim(world)
    now = datetime.now(UTC)
    forged = STAGING.format(who="octocat", d="1h") + status(
        1, stolen, now, now + timedelta(hours=5)
    )
    n = world.gh.open_pr(REQUESTER, "noop", "Tidy", files={"grants/zz-octocat-9.yaml": forged})
    world.gh.push_to_pr(n, {"grants/zz-octocat-9.yaml": None})  # the net diff is empty
    world.gh.merge_pr(n, DBA, method="rebase")
    run_issue(world.services())
    assert world.admin().lookup_accessor(stolen) is not None


def test_a_forged_expire_commit_does_not_keep_a_token_alive(world: World) -> None:
    gid = "stg-octocat-5"
    text = STAGING.format(who="octocat", d="8h")
    n = world.gh.open_pr(REQUESTER, "a", "Access", files={f"grants/{gid}.yaml": text})
    world.gh.merge_pr(n, DBA)
    assert [o.action for o in run_issue(world.services())] == ["issued"]
    acc = accessor_of(world, gid)
    m = world.gh.open_pr(REQUESTER, "hide", "Tidy", files={"docs/notes.md": "x\n"})
    msg = jitops_shaped("expire", gid, n, datetime.now(UTC))
    world.gh.push_to_pr(m, {f"grants/{gid}.yaml": None}, message=msg)
    world.gh.queue_pr(m, "mallory", method="rebase", enforce_protection=False)
    world.gh.land_queued(m)
    later = datetime.now(UTC) + timedelta(minutes=65)  # past every recheck window
    outcomes = run_issue(world.services(), now=later)
    assert (gid, "revoked") in [(o.grant, o.action) for o in outcomes], outcomes
    assert world.admin().lookup_accessor(acc) is None
    assert run_issue(world.services(), now=later) == []  # recorded once
    run_sweep(world.services(), now=later)
    assert world.admin().lookup_accessor(acc) is None
