"""Ending a grant early, as a writer would attack it (GitHub stand-in, real OpenBao, real git).

What a deleted grant was comes from jitops' own issue record, never from a pull request's own
commit; ending someone else's access takes their requester or an approval from the role's
approvers or the admins; the manual revoke checks who dispatched it."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core.grant import format_time
from jitops.doors.git import Git
from jitops.lifecycle import prcheck
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

METHODS = ["merge", "squash", "rebase"]
STAGING = "requester: {who}\nrole: staging-admin\nduration: 2h\nreason: Debug the staging deploy\n"
ORDERS = (
    "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
    "reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)


def results(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.grant, o.action) for o in outcomes]


def on_main(world: World, gid: str) -> str | None:
    text = world.gh.read_file("main", f"grants/{gid}.yaml")
    return str(text) if text is not None else None


def accessor_of(world: World, gid: str) -> str:
    return (on_main(world, gid) or "").split("token_accessor: ")[1].split()[0].strip("\"'")


def issued(
    world: World, gid: str, text: str, *, who: str = REQUESTER, approve: bool = False
) -> str:
    """A properly issued grant; returns its accessor."""
    n = world.gh.open_pr(who, f"req-{gid}", "Access", files={f"grants/{gid}.yaml": text})
    if approve:
        world.gh.review(n, DBA, "APPROVED")
    world.gh.merge_pr(n, DBA)
    assert (gid, "issued") in results(run_issue(world.services()))
    acc = accessor_of(world, gid)
    assert world.admin().lookup_accessor(acc) is not None
    return acc


def last_message(world: World) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%B", "main"],
        cwd=world.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def audit_records(world: World, *args: str) -> dict[str, dict[str, object]]:
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    result = CliRunner().invoke(
        cli,
        ["audit", "--repo", str(world.checkout), "--ref", "origin/main", "--format", "json", *args],
    )
    assert result.exit_code == 0, result.output
    return {r["grant"]: r for r in json.loads(result.output)}


# -- finding 2: a live grant cannot be hidden by rewriting its status before deleting it ------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rewrite", ["expired", "another accessor"])
def test_rewriting_the_status_before_deleting_the_file_does_not_hide_a_live_grant(
    world: World, method: str, rewrite: str
) -> None:
    """A two-commit "give my access back" pull request: commit 1 rewrites the status block
    (an expiry in the past, or another grant's accessor), commit 2 deletes the file. With a
    rebase merge ``<deleting commit>^1`` is commit 1; jitops' own issue record decides."""
    world.gh.add_ssh_key("mallory", world.key.public_line)
    decoy = issued(world, "stg-mallory-1", STAGING.format(who="mallory"), who="mallory")
    gid = "stg-octocat-21"
    real = issued(world, gid, STAGING.format(who=REQUESTER))
    text = on_main(world, gid) or ""
    if rewrite == "expired":
        expires = text.split("expires_at: ")[1].split()[0]
        past = format_time(datetime.now(UTC) - timedelta(hours=1))
        forged = text.replace(f"expires_at: {expires}", f"expires_at: {past}")
    else:
        forged = text.replace(real, decoy)
    assert forged != text
    n = world.gh.open_pr(
        REQUESTER, "back", "Give my access back", files={f"grants/{gid}.yaml": forged}
    )
    world.gh.push_to_pr(n, {f"grants/{gid}.yaml": None})
    world.gh.merge_pr(n, DBA, method=method)

    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "revoked")], outcomes
    assert world.admin().lookup_accessor(real) is None  # the real token is gone
    assert world.admin().lookup_accessor(decoy) is not None  # nobody else's token touched
    assert "jitops revoked its Vault token" in last_message(world)
    records = audit_records(world)
    assert records[gid]["ended_by"] == "revoke" and records[gid]["active"] is False
    assert gid not in audit_records(world, "--active")
    assert run_issue(world.services()) == []  # recorded once


# -- finding 5: nobody ends another's access alone ---------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_deleting_someone_elses_grant_without_approval_is_put_back(
    world: World, method: str
) -> None:
    gid = "stg-octocat-22"
    real = issued(world, gid, STAGING.format(who=REQUESTER))
    recorded = on_main(world, gid)
    n = world.gh.open_pr("mallory", "drop", "Tidy up", files={f"grants/{gid}.yaml": None})
    world.gh.merge_pr(n, DBA, method=method)  # an admin merge: no review at all

    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "restored")], outcomes
    assert "mallory is not octocat" in outcomes[0].detail
    assert "@acme/access-admins" in outcomes[0].detail
    assert on_main(world, gid) == recorded  # back as jitops recorded it, byte for byte
    assert world.admin().lookup_accessor(real) is not None  # the access stays
    (said,) = [c for c in world.gh.comments(n) if "early revoke refused" in c]
    assert "`stg-octocat-22`" in said
    assert last_message(world).startswith(f"jitops: restore {gid}\n")

    assert run_issue(world.services()) == []  # decided once: neither revoked nor re-judged
    assert run_sweep(world.services()) == []
    assert world.admin().lookup_accessor(real) is not None
    assert audit_records(world, "--active")[gid]["active"] is True
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    verify = CliRunner().invoke(
        cli, ["audit", "verify", "--repo", str(world.checkout), "--ref", "origin/main"]
    )
    # a rebase's replayed deletion is explained by jitops' own record, which names the pull
    # request GitHub associated with it
    assert verify.exit_code == 0, verify.output
    # it still ends by its expiry, as recorded
    expires = datetime.fromisoformat(str(audit_records(world)[gid]["expires_at"]))
    swept = run_sweep(world.services(), now=expires + timedelta(seconds=1))
    assert results(swept) == [(gid, "expired")]


@pytest.mark.parametrize(
    ("text", "approver", "ends"),
    [
        (STAGING.format(who=REQUESTER), DBA, True),  # an admin (@acme/access-admins)
        (ORDERS, "bob", True),  # an approver of the role (@acme/dba)
        (STAGING.format(who=REQUESTER), "bob", False),  # the staging role names no approver
    ],
)
def test_an_approval_from_the_roles_approvers_or_the_admins_lets_a_writer_end_it(
    world: World, text: str, approver: str, ends: bool
) -> None:
    gid = "stg-octocat-23"
    real = issued(world, gid, text, approve="orders" in text)
    n = world.gh.open_pr("mallory", "drop", "End it", files={f"grants/{gid}.yaml": None})
    world.gh.review(n, approver, "APPROVED")
    world.gh.merge_pr(n, DBA, method="rebase")
    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "revoked" if ends else "restored")], outcomes
    assert (world.admin().lookup_accessor(real) is None) is ends
    if ends:
        assert f"approved by {approver}" in outcomes[0].detail


def test_pr_check_says_who_must_approve_ending_someone_elses_access(world: World) -> None:
    gid = "stg-octocat-24"
    issued(world, gid, STAGING.format(who=REQUESTER))
    n = world.gh.open_pr("mallory", "drop", "End it", files={f"grants/{gid}.yaml": None})

    def check() -> prcheck.PrDecision:
        return prcheck.run(
            Git(world.checkout), world.github(), n, now=datetime.now(UTC), request_reviews=True
        )

    d = check()
    assert (d.kind, d.validate, d.approval) == ("revoke", "success", "pending")
    assert "@acme/access-admins" in d.summary
    states = {s.context: s.state for s in world.gh.statuses(world.gh.head_sha(n))}
    assert states["jitops/approval"] == "pending"
    world.gh.review(n, DBA, "APPROVED")
    assert check().approval == "success"

    own = world.gh.open_pr(REQUESTER, "mine", "Done", files={f"grants/{gid}.yaml": None})
    d = prcheck.run(
        Git(world.checkout), world.github(), own, now=datetime.now(UTC), request_reviews=True
    )
    assert (d.kind, d.approval) == ("revoke", "success")


def revoke_cli(world: World, gid: str, **env: str) -> tuple[int, str]:
    environ = {**world.environ(), "GITHUB_TOKEN": world.gh.token("jitops-bot"), **env}
    args = ["revoke", gid, "--reason", "laptop lost on the train", "--repo", str(world.checkout)]
    result = CliRunner().invoke(cli, args, env=environ)
    return result.exit_code, result.output


def test_the_manual_revoke_checks_who_dispatched_it(world: World) -> None:
    """Anyone with write access can dispatch the sweep workflow; GitHub sets GITHUB_ACTOR to
    who did. Only the grant's requester or one of the admins may end it."""
    gid = "stg-octocat-25"
    real = issued(world, gid, STAGING.format(who=REQUESTER))
    code, out = revoke_cli(world, gid, GITHUB_ACTOR="mallory")
    assert code == 1, out
    assert "mallory may not end octocat's access" in out and "nothing was revoked" in out
    assert world.admin().lookup_accessor(real) is not None and on_main(world, gid) is not None
    # a re-run by a writer of an admin's dispatch: both must be allowed
    rerun = {"GITHUB_ACTOR": DBA, "GITHUB_TRIGGERING_ACTOR": "mallory", "GITHUB_ACTIONS": "true"}
    code, out = revoke_cli(world, gid, **rerun)
    assert code == 1 and "mallory may not end" in out
    assert world.admin().lookup_accessor(real) is not None
    code, out = revoke_cli(world, gid, GITHUB_ACTOR=REQUESTER)  # the requester ends their own
    assert code == 0, out
    assert world.admin().lookup_accessor(real) is None and on_main(world, gid) is None


def test_an_admin_ends_anyones_grant_with_the_manual_revoke(world: World) -> None:
    gid = "stg-octocat-26"
    real = issued(world, gid, STAGING.format(who=REQUESTER))
    code, out = revoke_cli(world, gid, GITHUB_ACTOR="bob")  # a DBA, but not an admin
    assert code == 1 and "@acme/access-admins" in out
    code, out = revoke_cli(world, gid, GITHUB_ACTOR=DBA)  # in @acme/access-admins
    assert code == 0, out
    assert world.admin().lookup_accessor(real) is None


# -- finding 6: one pull request with many grant files -----------------------------------------
def counted(world: World) -> tuple[object, list[int]]:
    """Services whose pushes are counted (each ``land`` that pushed commits)."""
    svc = world.services()
    pushes: list[int] = []
    land = svc.git.land

    def counting(*args: object, **kw: object) -> list[str]:
        shas = land(*args, **kw)  # type: ignore[arg-type]
        if shas:
            pushes.append(len(shas))
        return shas

    svc.git.land = counting  # type: ignore[method-assign]
    return svc, pushes


@pytest.mark.parametrize("method", METHODS)
def test_a_pull_request_of_30_grant_files_is_denied_at_once(world: World, method: str) -> None:
    gids = [f"stg-octocat-m{i:02d}" for i in range(30)]
    files = {f"grants/{g}.yaml": STAGING.format(who=REQUESTER) for g in gids}
    first = dict(list(files.items())[:15])
    n = world.gh.open_pr(REQUESTER, "many", "Everything at once", files=first)
    world.gh.push_to_pr(n, {p: t for p, t in files.items() if p not in first})
    world.gh.merge_pr(n, DBA, method=method)
    svc, pushes = counted(world)
    mark = len(world.gh.server.log)
    outcomes = run_issue(svc)  # type: ignore[arg-type]
    requests = len(world.gh.server.log) - mark
    comments = [c for c in world.gh.comments(n) if "access denied" in c]
    print(
        f"\n30 grant files in one pull request ({method}): {requests} GitHub requests, "
        f"{len(pushes)} pushes ({sum(pushes)} commits), {len(comments)} comments"
    )
    assert sorted(results(outcomes)) == [(g, "denied") for g in gids]
    assert all("gate rule 3" in o.detail for o in outcomes)
    assert all(on_main(world, g) is None for g in gids)
    assert world.grant_tokens() == []
    assert (len(pushes), len(comments)) == (1, 1)
    assert requests <= 12
    assert all(f"`{g}`" in comments[0] for g in gids)
    mark = len(world.gh.server.log)
    assert run_issue(world.services()) == []  # nothing is judged again
    assert len(world.gh.server.log) - mark <= 2


def test_a_run_judges_a_bounded_number_of_grants_and_the_next_continues(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jitops.lifecycle import issue

    monkeypatch.setattr(issue, "MAX_GRANTS_PER_RUN", 3)
    gids = [f"stg-octocat-b{i}" for i in range(5)]
    for g in gids:
        n = world.gh.open_pr(
            REQUESTER, g, "Access", files={f"grants/{g}.yaml": STAGING.format(who=REQUESTER)}
        )
        world.gh.merge_pr(n, DBA)
    said: list[str] = []
    first = run_issue(world.services(say=said.append))
    assert [a for _g, a in results(first)] == ["issued"] * 3 + ["skipped"] * 2
    assert all("the next run continues" in o.detail for o in first[3:])
    assert any("stopped after judging 3 grant file(s)" in m for m in said)
    second = run_issue(world.services())
    assert sorted(results(second)) == [(g, "issued") for g in gids[3:]]
    assert run_issue(world.services()) == []
