"""Faults during issue and sweep: every re-run converges — no double issue, no access without
a git record, nothing lost."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.doors.git import GitError
from jitops.doors.github import GitHubError
from jitops.doors.retry import RetryPolicy
from jitops.doors.vault.client import Vault
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

STAGING = (
    "requester: octocat\nrole: staging-admin\nduration: 1h\n"
    "reason: Debug the staging deploy pipeline\n"
)


def merged(world: World, gid: str) -> tuple[str, str, int]:
    before = world.main_sha()
    n = world.gh.open_pr(REQUESTER, f"r-{gid}", gid, files={f"grants/{gid}.yaml": STAGING})
    return before, world.gh.merge_pr(n, DBA), n


def live_tokens(world: World) -> list[Any]:
    return world.grant_tokens()


def test_vault_unreachable_then_back(world: World) -> None:
    before, after, _ = merged(world, "stg-octocat-1")
    svc = world.services()
    fast = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1, deadline=2)
    svc.connect_vault = lambda policy: Vault("http://127.0.0.1:9", None, retry=fast)
    outcomes = run_issue(svc, before=before, after=after)
    assert [o.action for o in outcomes] == ["failed"]
    assert "status:" not in (world.gh.read_file("main", "grants/stg-octocat-1.yaml") or "")
    assert live_tokens(world) == []
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"]
    assert len(live_tokens(world)) == 1


def test_github_5xx_and_secondary_rate_limit_are_retried(world: World) -> None:
    before, after, _ = merged(world, "stg-octocat-2")
    world.gh.fail_next(2, 502)
    world.gh.rate_limit_next(1, secondary=True, retry_after=1)
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"]


def test_a_push_that_fails_after_the_token_exists_delivers_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record before deliver: no credential leaves before git records its accessor."""
    before, after, pr = merged(world, "stg-octocat-3")
    svc = world.services()

    def die(*_a: Any, **_k: Any) -> list[str]:
        raise GitError("killed")

    monkeypatch.setattr(svc.git, "land", die)
    outcomes = run_issue(svc, before=before, after=after)
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-3", "failed")]
    assert live_tokens(world) == []  # the token made for the failed push was revoked
    assert not any("BEGIN AGE ENCRYPTED FILE" in c for c in world.gh.comments(pr))
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"]
    text = world.gh.read_file("main", "grants/stg-octocat-3.yaml") or ""
    assert [t.accessor in text for t in live_tokens(world)] == [True]
    assert sum("BEGIN AGE ENCRYPTED FILE" in c for c in world.gh.comments(pr)) == 1


def test_recorded_but_never_delivered_is_reissued_with_the_old_token_revoked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after, pr = merged(world, "stg-octocat-6")
    svc = world.services()

    def die(*_a: Any, **_k: Any) -> int:
        raise GitHubError("the run was cancelled")

    monkeypatch.setattr(svc.github, "comment", die)
    outcomes = run_issue(svc, before=before, after=after)
    assert [o.action for o in outcomes] == ["failed"]
    assert "the next run re-issues it" in outcomes[0].detail
    first = world.gh.read_file("main", "grants/stg-octocat-6.yaml") or ""
    (old,) = live_tokens(world)
    assert old.accessor in first  # recorded before any delivery
    assert not any("BEGIN AGE ENCRYPTED FILE" in c for c in world.gh.comments(pr))

    outcomes = run_issue(world.services(), before=None, after=world.main_sha())
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-6", "issued")]
    assert "re-issued" in outcomes[0].detail
    (new,) = live_tokens(world)
    assert new.accessor != old.accessor
    from jitops.core.grant import parse_time

    def expiry(text: str) -> datetime:
        return parse_time(text.split("expires_at: ")[1].split()[0])

    second = world.gh.read_file("main", "grants/stg-octocat-6.yaml") or ""
    assert expiry(second) <= expiry(first)  # a re-issue never extends the approved access
    assert world.admin().lookup_accessor(old.accessor) is None
    assert new.accessor in (world.gh.read_file("main", "grants/stg-octocat-6.yaml") or "")
    assert sum("BEGIN AGE ENCRYPTED FILE" in c for c in world.gh.comments(pr)) == 1
    assert run_issue(world.services()) == []  # delivered: nothing more to do
    # the ledger shows one grant, issued and re-issued, and audit verify finds it consistent
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    verify = CliRunner().invoke(
        cli, ["audit", "--repo", str(world.checkout), "--ref", "origin/main", "verify"]
    )
    assert verify.exit_code == 0, verify.output


def test_the_sweep_finishes_a_push_whose_issue_job_never_ran(world: World) -> None:
    merged(world, "stg-octocat-4")  # no issue run at all (e.g. the workflow was dropped)
    outcomes = run_sweep(world.services())
    assert ("stg-octocat-4", "issued") in [(o.grant, o.action) for o in outcomes]
    assert "status:" in (world.gh.read_file("main", "grants/stg-octocat-4.yaml") or "")


def test_killed_during_sweep_converges_on_rerun(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after, _ = merged(world, "stg-octocat-5")
    run_issue(world.services(), before=before, after=after)
    text = world.gh.read_file("main", "grants/stg-octocat-5.yaml") or ""
    from jitops.core.grant import parse_time

    later = parse_time(text.split("expires_at: ")[1].split()[0]) + timedelta(seconds=1)
    svc = world.services()

    def die(*_a: Any, **_k: Any) -> list[str]:
        raise GitError("killed")

    monkeypatch.setattr(svc.git, "land", die)
    with pytest.raises(GitError):
        run_sweep(svc, now=later)  # token revoked, file not yet removed
    assert live_tokens(world) == []
    outcomes = run_sweep(world.services(), now=later)
    assert ("stg-octocat-5", "expired") in [(o.grant, o.action) for o in outcomes]
    assert "Vault had already ended its token" in next(
        o.detail for o in outcomes if o.action == "expired"
    )
    assert world.gh.read_file("main", "grants/stg-octocat-5.yaml") is None


def test_hostile_files_on_main_stop_nothing_and_get_no_token(world: World) -> None:
    """Per-grant isolation: files pushed straight to main (an admin's or a bypass's mistake)
    are reported and recorded, and every other grant still issues and expires in the same run;
    no Vault token is ever created for them."""
    _, _, pr_a = merged(world, "stg-octocat-7")
    assert [o.action for o in run_issue(world.services())] == ["issued"]
    bad_status = STAGING + (
        "status:\n  state: active\n  approved_by: []\n  issued_at: 12345\n"
        "  expires_at: 99999999999999999999999\n  token_accessor: x\n"
    )
    empty_accessor = STAGING + (
        "status:\n  state: active\n  approved_by: []\n  issued_at: 2020-01-01T00:00:00Z\n"
        '  expires_at: 2020-01-01T01:00:00Z\n  token_accessor: ""\n'
    )
    world.gh.commit_files(
        "main",
        {
            "grants/huge-int-1.yaml": STAGING + "ticket: " + "9" * 5000 + "\n",
            "grants/bad-status-1.yaml": bad_status,
            "grants/Bad_Id.yaml": STAGING,
            "grants/empty-acc-1.yaml": empty_accessor,
        },
        author=DBA,
    )
    _, _, pr_b = merged(world, "stg-octocat-8")
    outcomes = run_issue(world.services())
    got = {o.grant: o.action for o in outcomes}
    assert got.pop("stg-octocat-8") == "issued"
    assert set(got.values()) <= {"denied", "flagged"}, outcomes
    assert len(got) == 4  # each hostile file reported, none crashed the run
    assert "(invalid grant file name)" in got  # never echoed into output or git
    tokens = live_tokens(world)
    assert sorted(t.grant_id for t in tokens) == ["stg-octocat-7", "stg-octocat-8"]

    # an invalid policy on main does not stop expiries
    world.gh.commit_files("main", {"policies/policy.yaml": "version: 1\nroles: 7\n"}, author=DBA)
    later = datetime.now(UTC) + timedelta(hours=2)
    swept = run_sweep(world.services(), now=later)
    expired = sorted(o.grant for o in swept if o.action == "expired")
    assert expired == ["stg-octocat-7", "stg-octocat-8"]
    flagged = [o.grant for o in swept if o.action == "flagged"]
    assert flagged and len(flagged) == len(set(flagged))  # still reported, once each
    assert live_tokens(world) == []
    assert world.gh.read_file("main", "grants/stg-octocat-7.yaml") is None
    assert any("access expired" in c for c in world.gh.comments(pr_a))
    assert any("access expired" in c for c in world.gh.comments(pr_b))


def test_services_repr_shows_no_credential(world: World) -> None:
    import dataclasses

    secrets = {"VAULT_TOKEN": "s.vault-secret-7", "GITHUB_TOKEN": "ghs_github_secret_7"}
    env = {**world.environ(), **secrets}
    svc = dataclasses.replace(world.services(), environ=env)
    policy = world.policy()
    shown = repr(svc) + str(svc) + repr(svc.github) + repr(svc.notifier(policy))
    shown += repr(svc.vault(policy)) + repr(svc)  # connected: the Vault client is held too
    for name, value in env.items():
        if "TOKEN" in name or "SECRET" in name or "HMAC" in name:
            assert value not in shown, name
    assert "VAULT_TOKEN" not in shown and "GITHUB_TOKEN" not in shown
    assert world.gh.token("jitops-bot") not in shown
    assert "acme/access" in shown  # still useful for debugging
