"""Time and risk end to end through the GitHub stand-in, real git and real OpenBao: scheduled
access, extension (both tokens looked at in OpenBao), break-glass and its ratification, and the
black-box attacks on them -- each refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

ROLE = """\
  ops-admin:
    max_duration: 2h
    requesters: ['@acme/engineering']
    approvals: [{from: ['@acme/dba'], count: 1}]
    risk:
      - when: {duration_over: 1h}
        approvals: [{from: ['@acme/security'], count: 1}]
    extend: {max_total: 3h}
    break_glass:
      requesters: ['@acme/sre']
      max_duration: 30m
      ratify: [{from: ['@acme/security'], count: 1}]
      ratify_within: 5s
    vault: {policies: [jit-staging-admin]}
"""
ONCALL = "dave"  # @acme/sre
LEAD = "erin"  # @acme/security


def setup(world: World) -> None:
    text = world.policy_text().replace("roles:\n", "roles:\n" + ROLE, 1)
    world.gh.commit_files("main", {"policies/policy.yaml": text}, author=DBA, message="ops")
    world.gh.add_ssh_key(ONCALL, world.key.public_line)
    world.gh.add_ssh_key("mallory", world.key.public_line)


def grant(requester: str, extra: str = "", duration: str = "30m") -> str:
    return (
        f"requester: {requester}\nrole: ops-admin\nduration: {duration}\n"
        f"reason: Repair the stuck payment queue\n{extra}"
    )


def ask(world: World, author: str, gid: str, text: str, *, approve: str | None = DBA) -> int:
    n = world.gh.open_pr(author, gid, "Access", files={f"grants/{gid}.yaml": text})
    if approve:
        world.gh.review(n, approve, "APPROVED")
    world.gh.merge_pr(n, DBA)
    return n


def one(outcomes: list[Outcome], gid: str) -> Outcome:
    (found,) = [o for o in outcomes if o.grant == gid]
    return found


def live(world: World) -> dict[str, str]:
    """grant id -> accessor of every live grant token in OpenBao (listed with the root token)."""
    return {t.grant_id or "": t.accessor for t in world.grant_tokens()}


def on_main(world: World, gid: str) -> str | None:
    return world.gh.read_file("main", f"grants/{gid}.yaml")


# -- risk tiers ----------------------------------------------------------------------------------
def test_a_long_request_needs_the_added_approver(world: World) -> None:
    setup(world)
    ask(world, REQUESTER, "ops-octocat-long", grant(REQUESTER, duration="90m"))
    found = one(run_issue(world.services()), "ops-octocat-long")
    assert found.action == "denied"
    assert "@acme/security" in found.detail
    assert live(world) == {}


# -- scheduled access ----------------------------------------------------------------------------
def test_scheduled_access_waits_then_issues_when_due(world: World) -> None:
    setup(world)
    start = datetime.now(UTC) + timedelta(hours=1)
    text = grant(REQUESTER, f"not_before: {start.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    ask(world, REQUESTER, "ops-octocat-later", text)
    waited = one(run_issue(world.services()), "ops-octocat-later")
    assert waited.action == "waiting" and "not due until" in waited.detail
    assert live(world) == {} and on_main(world, "ops-octocat-later") is not None
    dry = one(run_sweep(world.services(), dry_run=True), "ops-octocat-later")
    assert dry.action == "waiting" and "not due until" in dry.detail  # never "would issue"
    due = one(run_sweep(world.services(), now=start + timedelta(seconds=1)), "ops-octocat-later")
    assert due.action == "issued"
    assert set(live(world)) == {"ops-octocat-later"}


def test_someone_who_left_the_team_before_the_start_is_denied(world: World) -> None:
    setup(world)
    start = datetime.now(UTC) + timedelta(hours=1)
    text = grant(REQUESTER, f"not_before: {start.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    ask(world, REQUESTER, "ops-octocat-left", text)
    assert one(run_issue(world.services()), "ops-octocat-left").action == "waiting"
    world.gh.remove_team_member("acme", "engineering", REQUESTER)
    found = one(run_issue(world.services(), now=start), "ops-octocat-left")
    assert found.action == "denied" and "octocat may not request role ops-admin" in found.detail
    assert live(world) == {}


def test_a_requester_dropped_from_the_policy_before_the_start_is_denied(world: World) -> None:
    setup(world)
    start = datetime.now(UTC) + timedelta(hours=1)
    text = grant(REQUESTER, f"not_before: {start.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    ask(world, REQUESTER, "ops-octocat-dropped", text)
    assert one(run_issue(world.services()), "ops-octocat-dropped").action == "waiting"
    policy = world.gh.read_file("main", "policies/policy.yaml") or ""
    narrowed = policy.replace(ROLE, ROLE.replace("['@acme/engineering']", "['@acme/sre']", 1))
    assert narrowed != policy
    world.gh.commit_files("main", {"policies/policy.yaml": narrowed}, author=DBA, message="n")
    found = one(run_issue(world.services(), now=start), "ops-octocat-dropped")
    assert found.action == "denied" and "no longer among the requesters" in found.detail
    assert live(world) == {}


def test_not_before_edited_after_approval_is_denied(world: World) -> None:
    """Attack: the DBA approved one start time; the requester pushes another and an admin
    merges: the approval was of another commit, nothing is issued."""
    setup(world)
    first = datetime.now(UTC) + timedelta(days=2)
    gid = "ops-octocat-edit"
    n = world.gh.open_pr(
        REQUESTER,
        gid,
        "Access",
        files={f"grants/{gid}.yaml": grant(REQUESTER, f"not_before: {first:%Y-%m-%dT%H:%M:%SZ}\n")},
    )
    world.gh.review(n, DBA, "APPROVED")
    sooner = datetime.now(UTC) - timedelta(minutes=1)
    world.gh.push_to_pr(
        n, {f"grants/{gid}.yaml": grant(REQUESTER, f"not_before: {sooner:%Y-%m-%dT%H:%M:%SZ}\n")}
    )
    world.gh.merge_pr(n, DBA)
    found = one(run_issue(world.services()), gid)
    assert found.action == "denied" and "gate rule 5" in found.detail
    assert live(world) == {}


# -- extension -----------------------------------------------------------------------------------
def test_extension_delivers_the_new_token_then_revokes_the_old(world: World) -> None:
    setup(world)
    ask(world, REQUESTER, "ops-octocat-one", grant(REQUESTER))
    assert one(run_issue(world.services()), "ops-octocat-one").action == "issued"
    first = live(world)["ops-octocat-one"]
    ask(world, REQUESTER, "ops-octocat-two", grant(REQUESTER, "extends: ops-octocat-one\n"))
    outcomes = run_issue(world.services())
    assert one(outcomes, "ops-octocat-two").action == "issued"
    # after the one issue run: exactly the new token is live, the old one is gone
    tokens = live(world)
    assert set(tokens) == {"ops-octocat-two"}
    assert world.admin().lookup_accessor(first) is None
    assert on_main(world, "ops-octocat-one") is None


def test_an_undelivered_extension_never_ends_the_old_access(world: World) -> None:
    """The delivery of the extension fails: the old token stays live (never a gap); the next
    run delivers the new one and only then ends the old one."""
    from jitops.doors.github import MAX_ATTEMPTS

    setup(world)
    ask(world, REQUESTER, "ops-octocat-gap1", grant(REQUESTER))
    run_issue(world.services())
    ask(world, REQUESTER, "ops-octocat-gap2", grant(REQUESTER, "extends: ops-octocat-gap1\n"))
    world.gh.fail_next(MAX_ATTEMPTS, 502, method="POST", path="/comments")
    first = run_issue(world.services())
    assert one(first, "ops-octocat-gap2").action == "failed"
    assert set(live(world)) == {"ops-octocat-gap1", "ops-octocat-gap2"}
    run_issue(world.services())
    assert set(live(world)) == {"ops-octocat-gap2"}
    assert on_main(world, "ops-octocat-gap1") is None


def test_extending_someone_elses_grant_is_denied(world: World) -> None:
    """Attack: mallory extends octocat's live grant: denied; octocat's token is untouched."""
    setup(world)
    ask(world, REQUESTER, "ops-octocat-mine", grant(REQUESTER))
    run_issue(world.services())
    victim = live(world)["ops-octocat-mine"]
    ask(world, "mallory", "ops-mallory-ext", grant("mallory", "extends: ops-octocat-mine\n"))
    found = one(run_issue(world.services()), "ops-mallory-ext")
    assert found.action == "denied" and "octocat's grant" in found.detail
    assert live(world) == {"ops-octocat-mine": victim}


def test_extending_past_max_total_is_denied(world: World) -> None:
    setup(world)
    ask(world, REQUESTER, "ops-octocat-base", grant(REQUESTER, duration="1h"))
    run_issue(world.services())
    later = datetime.now(UTC) + timedelta(minutes=50)
    ask(world, REQUESTER, "ops-octocat-more", grant(REQUESTER, "extends: ops-octocat-base\n", "1h"))
    run = run_issue(world.services(), now=later + timedelta(hours=1, minutes=20))
    found = one(run, "ops-octocat-more")
    assert found.action == "denied"
    assert set(live(world)) == {"ops-octocat-base"}


# -- break-glass ---------------------------------------------------------------------------------
def test_emergency_is_issued_without_review_capped_and_revoked_when_unratified(
    world: World,
) -> None:
    setup(world)
    gid = "ops-dave-fire"
    ask(world, ONCALL, gid, grant(ONCALL, "emergency: true\n", "2h"), approve=None)
    issued = one(run_issue(world.services()), gid)
    assert issued.action == "issued", issued
    token = world.admin().lookup_accessor(live(world)[gid])
    assert token is not None and token.expire_time is not None
    assert token.expire_time - datetime.now(UTC) <= timedelta(minutes=30)  # capped
    # within the window: awaiting, nothing happens
    assert [o for o in run_sweep(world.services()) if o.grant == gid] == []
    later = datetime.now(UTC) + timedelta(seconds=10)
    found = one(run_sweep(world.services(), now=later), gid)
    assert found.action == "unratified" and "never ratified" in found.detail
    assert live(world) == {}
    svc = world.services()
    log = svc.git.message(svc.tip)
    assert "Jitops-Action: unratified" in log


def test_emergency_ratified_by_a_lead_after_the_merge_stays(world: World) -> None:
    setup(world)
    gid = "ops-dave-ratified"
    n = ask(world, ONCALL, gid, grant(ONCALL, "emergency: true\n"), approve=None)
    run_issue(world.services())
    world.gh.review(n, LEAD, "APPROVED")  # after the merge, within the window
    found = one(run_sweep(world.services(), now=datetime.now(UTC) + timedelta(seconds=10)), gid)
    assert found.action == "ratified" and LEAD in found.detail
    assert set(live(world)) == {gid}


def test_emergency_by_someone_not_on_call_is_denied(world: World) -> None:
    """Attack: an engineer adds emergency: true to skip review: denied, nothing issued."""
    setup(world)
    ask(world, REQUESTER, "ops-octocat-fake", grant(REQUESTER, "emergency: true\n"), approve=None)
    found = one(run_issue(world.services()), "ops-octocat-fake")
    assert found.action == "denied" and "break_glass is open to @acme/sre only" in found.detail
    assert live(world) == {}


def test_the_requester_cannot_ratify_their_own_emergency(world: World) -> None:
    """Attack: carol is on call and in @acme/security; her own approval never ratifies."""
    setup(world)
    world.gh.add_ssh_key("carol", world.key.public_line)
    n = ask(world, "carol", "ops-carol-fire", grant("carol", "emergency: true\n"), approve=None)
    run_issue(world.services())
    world.gh.review(n, "carol", "APPROVED", allow_self_approval=True)
    found = one(
        run_sweep(world.services(), now=datetime.now(UTC) + timedelta(seconds=10)),
        "ops-carol-fire",
    )
    assert found.action == "unratified"
    assert live(world) == {}


def test_a_review_after_the_window_does_not_ratify(world: World) -> None:
    setup(world)
    gid = "ops-dave-late"
    n = ask(world, ONCALL, gid, grant(ONCALL, "emergency: true\n"), approve=None)
    run_issue(world.services())
    world.gh.review(n, LEAD, "APPROVED", at=datetime.now(UTC) + timedelta(seconds=30))
    found = one(run_sweep(world.services(), now=datetime.now(UTC) + timedelta(seconds=40)), gid)
    assert found.action == "unratified"
    assert live(world) == {}


# -- jitops request: bad values are located, exit 1, nothing written -----------------------------
def request(world: World, *args: str, login: str = REQUESTER) -> tuple[int, str]:
    from click.testing import CliRunner

    from jitops.cli import cli

    env = {**world.environ(), "GITHUB_TOKEN": world.gh.token(login)}
    result = CliRunner().invoke(cli, ["request", *args, "--repo", str(world.checkout)], env=env)
    return result.exit_code, result.output


BASE_ARGS = ("--duration", "30m", "--reason", "Repair the stuck payment queue", "--no-pr")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--not-before", "2020-01-01T00:00:00Z"), "is not in the future"),
        (("--not-before", "2099-01-01T00:00:00Z"), "settings.max_lead_time"),
        (("--not-before", "tomorrow"), "not_before"),
        (("--extends", "no-such-grant"), "not a grant jitops issued"),
    ],
)
def test_request_refuses_bad_time_values(world: World, args: tuple[str, ...], said: str) -> None:
    setup(world)
    subprocess_pull(world)
    code, out = request(world, "ops-admin", *BASE_ARGS, *args, "--requester", REQUESTER)
    assert code == 1, out
    assert said in out and "grants/ops-admin-octocat-" in out, out


def test_request_refuses_emergency_on_a_role_without_break_glass(world: World) -> None:
    code, out = request(world, "staging-admin", *BASE_ARGS, "--emergency", "--requester", REQUESTER)
    assert code == 1 and "has no break_glass" in out, out


def test_request_writes_a_scheduled_grant(world: World) -> None:
    setup(world)
    subprocess_pull(world)
    start = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out = request(
        world, "ops-admin", *BASE_ARGS, "--not-before", start, "--requester", REQUESTER
    )
    assert code == 0, out


def subprocess_pull(world: World) -> None:
    import subprocess

    subprocess.run(["git", "pull", "-q", "origin", "main"], cwd=world.checkout, check=True)


# -- audit: the fields, verify's findings and the admin's close ---------------------------------
def audit(world: World, *args: str) -> tuple[int, str]:
    import subprocess

    from click.testing import CliRunner

    from jitops.cli import cli

    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    result = CliRunner().invoke(
        cli, ["audit", "--repo", str(world.checkout), "--ref", "origin/main", *args]
    )
    return result.exit_code, result.output


def test_audit_shows_unratified_until_an_admin_closes_it(world: World) -> None:
    import json

    from jitops.lifecycle.ratify import CloseError, run_close

    setup(world)
    gid = "ops-dave-audit"
    ask(world, ONCALL, gid, grant(ONCALL, "emergency: true\n"), approve=None)
    run_issue(world.services())
    code, out = audit(world, "--format", "json")
    (rec,) = [r for r in json.loads(out) if r["grant"] == gid]
    assert rec["emergency"] is True and rec["ratification"] == "awaiting" and rec["ratify_by"]
    later = datetime.now(UTC) + timedelta(seconds=10)
    assert one(run_sweep(world.services(), now=later), gid).action == "unratified"
    code, out = audit(world, "--format", "json")
    (rec,) = [r for r in json.loads(out) if r["grant"] == gid]
    assert rec["unratified"] is True and rec["ratification"] == "unratified"
    code, out = audit(world, "verify")
    assert code == 1 and f"grant {gid}: emergency access of dave" in out, out
    code, page = audit(world, "--format", "html")
    never = page.split('id="never-ratified">')[1].split("</ul>")[0]
    assert gid in never and "#b0c" in page
    with pytest.raises(CloseError, match="never closes their own"):
        run_close(world.services(), gid, "it was me, I fixed it", actor=ONCALL, now=later)
    with pytest.raises(CloseError, match="not one of the admins"):
        run_close(world.services(), gid, "looks fine to me really", actor="mallory", now=later)
    done = run_close(
        world.services(), gid, "INC-9 postmortem reviewed the access", actor=DBA, now=later
    )
    assert done.action == "closed"
    code, out = audit(world, "verify")
    assert code == 0, out
    code, out = audit(world, "--format", "json")
    (rec,) = [r for r in json.loads(out) if r["grant"] == gid]
    assert rec["ratification"] == "closed" and rec["closed_by"] == DBA


def test_audit_shows_the_extension_chain_and_verify_accepts_it(world: World) -> None:
    import json

    setup(world)
    start = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ask(world, REQUESTER, "ops-octocat-a", grant(REQUESTER))
    run_issue(world.services())
    ask(world, REQUESTER, "ops-octocat-b", grant(REQUESTER, "extends: ops-octocat-a\n"))
    run_issue(world.services())
    ask(world, REQUESTER, "ops-octocat-c", grant(REQUESTER, f"not_before: {start}\n"))
    run_issue(world.services())
    code, out = audit(world, "--format", "json")
    records = {r["grant"]: r for r in json.loads(out)}
    assert records["ops-octocat-b"]["extends"] == "ops-octocat-a"
    assert records["ops-octocat-b"]["chain"] == ["ops-octocat-a"]
    assert records["ops-octocat-b"]["chain_total"] >= 30 * 60
    assert records["ops-octocat-a"]["ended_by"] == "revoke"
    assert records["ops-octocat-c"]["not_before"] == start
    assert records["ops-octocat-c"]["issued_at"] is None  # not due yet
    code, out = audit(world, "verify")
    assert code == 0, out


# -- pr check ------------------------------------------------------------------------------------
def test_pr_check_refuses_extending_someone_elses_grant_on_its_line(world: World) -> None:
    from tests.lifecycle.test_pr_check import check

    setup(world)
    ask(world, REQUESTER, "ops-octocat-pr", grant(REQUESTER))
    run_issue(world.services())
    text = grant("mallory", "extends: ops-octocat-pr\n")
    n = world.gh.open_pr("mallory", "ext", "Access", files={"grants/ops-mallory-pr.yaml": text})
    decision = check(world, n)
    assert decision.validate == "failure"
    (problem,) = [p for p in decision.problems if "octocat's grant" in p.message]
    assert problem.line == 5 and "only your own access" in problem.message


def test_pr_check_of_an_emergency_names_who_must_ratify(world: World) -> None:
    from tests.lifecycle.test_pr_check import check

    setup(world)
    text = grant(ONCALL, "emergency: true\n")
    n = world.gh.open_pr(ONCALL, "fire", "Access", files={"grants/ops-dave-pr.yaml": text})
    decision = check(world, n)
    assert decision.approval == "success", decision.summary
    assert "must be ratified by 1 approval from @acme/security" in decision.comment


# -- the break_glass notification ----------------------------------------------------------------
def test_break_glass_and_unratified_are_notified(tmp_path, hooks) -> None:  # type: ignore[no-untyped-def]
    import json

    from jitops_sandbox.demo.world import World as W

    with W.create(tmp_path, use_postgres=False, webhook_url=hooks[0]) as w:
        setup(w)
        gid = "ops-dave-loud"
        ask(w, ONCALL, gid, grant(ONCALL, "emergency: true\n"), approve=None)
        run_issue(w.services())
        run_sweep(w.services(), now=datetime.now(UTC) + timedelta(seconds=10))
    events = [json.loads(b) for b in hooks[1]]
    kinds = [e.get("event") or e.get("kind") for e in events]
    assert "break_glass" in kinds and "unratified" in kinds, kinds
    loud = next(e for e in events if (e.get("event") or e.get("kind")) == "break_glass")
    assert "must be ratified by" in json.dumps(loud)
