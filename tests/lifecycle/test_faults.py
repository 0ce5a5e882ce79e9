"""Faults during issue and sweep: every re-run converges — no double issue, no access without
a git record, nothing lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jitops.demo.world import DBA, REQUESTER, World
from jitops.ledger import GitError
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.sweep import run_sweep
from jitops.vault import Vault
from jitops.vault_model import RetryPolicy

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


def test_killed_after_delivery_before_the_commit_is_recorded_not_reissued(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after, pr = merged(world, "stg-octocat-3")
    svc = world.services()

    def die(*_a: Any, **_k: Any) -> list[str]:
        raise GitError("killed")

    monkeypatch.setattr(svc.git, "land", die)
    with pytest.raises(GitError):
        run_issue(svc, before=before, after=after)
    assert len(live_tokens(world)) == 1  # access exists, delivery posted, git not yet
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [o.action for o in outcomes] == ["recorded"]
    assert len(live_tokens(world)) == 1  # no second token
    text = world.gh.read_file("main", "grants/stg-octocat-3.yaml") or ""
    assert live_tokens(world)[0].accessor in text
    assert sum("BEGIN AGE ENCRYPTED FILE" in c for c in world.gh.comments(pr)) == 1


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
    from jitops.grant import parse_time

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
