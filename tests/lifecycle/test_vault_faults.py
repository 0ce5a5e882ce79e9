"""Faults between jitops and a real OpenBao: every run converges, nobody holds access git does
not record, and no token reaches any output.

The faults come from a loopback proxy in front of the real server (5xx, resets, timeouts, 429
with Retry-After, an answer lost after the server acted) and from stopping and restarting the
server itself mid-run (raft storage, so its state survives).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jitops.core.grant import parse_time
from jitops.doors.retry import RetryPolicy
from jitops.doors.vault.client import Vault
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.services import Services
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World
from jitops_sandbox.openbao import OpenBaoServer

if TYPE_CHECKING:
    from tests.fixtures.faultproxy import FaultProxy

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.fixtures.faultproxy"]

STAGING = (
    "requester: octocat\nrole: staging-admin\nduration: {d}\n"
    "reason: Debug the staging deploy pipeline\n"
)
FAST = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2, deadline=6)


def merged(world: World, gid: str, duration: str = "1h") -> tuple[str, str, int]:
    before = world.main_sha()
    text = STAGING.format(d=duration)
    n = world.gh.open_pr(REQUESTER, f"r-{gid}", gid, files={f"grants/{gid}.yaml": text})
    return before, world.gh.merge_pr(n, DBA), n


def through(world: World, proxy: FaultProxy, *, timeout: float = 10.0) -> Services:
    """The world's job services, talking to Vault through ``proxy``."""
    svc = world.services()
    environ = world.environ()
    svc.connect_vault = lambda policy: Vault.connect(
        proxy.url, policy.settings.vault, environ, retry=FAST, timeout=timeout
    )
    return svc


def recorded_accessor(world: World, gid: str) -> str | None:
    text = world.gh.read_file("main", f"grants/{gid}.yaml") or ""
    if "token_accessor:" not in text:
        return None
    return text.split("token_accessor:")[1].split()[0].strip("\"'")


def deliveries(world: World, pr: int) -> int:
    return sum(1 for c in world.gh.comments(pr) if "BEGIN AGE ENCRYPTED FILE" in c)


def assert_no_token_in(texts: list[str], proxy: FaultProxy) -> None:
    assert proxy.tokens_seen, "the proxy saw no token: the check would prove nothing"
    for text in texts:
        for token in proxy.tokens_seen:
            assert token not in text


def test_5xx_429_and_resets_are_retried_and_the_grant_issues_once(
    world: World, fault_proxy_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = fault_proxy_factory(world.vault_url)
    before, after, pr = merged(world, "stg-octocat-1")
    proxy.inject("503", path="/v1/auth/jitops-jwt/login")
    proxy.inject("429", path="/v1/auth/token/create/", retry_after=1)
    proxy.inject("reset", path="/v1/secret/data/")
    proxy.inject("502", path="/v1/secret/data/")
    outcomes = run_issue(through(world, proxy), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"], outcomes
    waited = [i for i, (_m, p, s) in enumerate(proxy.log) if s == "429"]
    assert waited, "the 429 was never served"
    accessor = recorded_accessor(world, "stg-octocat-1")
    assert accessor is not None and world.admin().lookup_accessor(accessor) is not None
    assert deliveries(world, pr) == 1
    assert [t.accessor for t in world.grant_tokens()] == [accessor]
    assert_no_token_in([caplog.text, *(o.detail for o in outcomes)], proxy)


def test_a_lost_answer_to_create_leaves_no_access_nobody_holds_and_converges(
    world: World, fault_proxy_factory: Any
) -> None:
    """The server created a token, the answer never came back. The retry creates another; the
    first was never delivered (its wrapping token is gone), git records the second only."""
    proxy = fault_proxy_factory(world.vault_url)
    before, after, pr = merged(world, "stg-octocat-2", duration="4s")
    proxy.inject("lost", path="/v1/auth/token/create/")
    outcomes = run_issue(through(world, proxy), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"], outcomes
    assert proxy.requests_to("/v1/auth/token/create/") == 2
    accessor = recorded_accessor(world, "stg-octocat-2")
    live = {t.accessor for t in world.grant_tokens()}
    assert accessor in live and len(live) == 2  # one recorded + one nobody ever received
    assert deliveries(world, pr) == 1
    again = run_issue(through(world, proxy), before=before, after=after)
    assert again == []  # recorded and delivered: nothing left to do
    assert deliveries(world, pr) == 1
    # both die by their TTL; the sweep then makes git tell the truth
    expires = parse_time(
        (world.gh.read_file("main", "grants/stg-octocat-2.yaml") or "")
        .split("expires_at:")[1]
        .split()[0]
    )
    done = run_sweep(through(world, proxy), now=expires + timedelta(seconds=30))
    assert [(o.grant, o.action) for o in done] == [("stg-octocat-2", "expired")]
    assert world.gh.read_file("main", "grants/stg-octocat-2.yaml") is None


def test_a_timeout_fails_the_run_cleanly_and_the_next_run_issues(
    world: World, fault_proxy_factory: Any
) -> None:
    proxy = fault_proxy_factory(world.vault_url)
    before, after, pr = merged(world, "stg-octocat-3")
    proxy.inject("timeout", times=4, path="/v1/auth/jitops-jwt/login", delay=1.5)
    outcomes = run_issue(through(world, proxy, timeout=1.0), before=before, after=after)
    assert [o.action for o in outcomes] == ["failed"]
    assert "Vault did not answer" in outcomes[0].detail
    assert recorded_accessor(world, "stg-octocat-3") is None
    assert world.grant_tokens() == [] and deliveries(world, pr) == 0
    outcomes = run_issue(through(world, proxy), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"]
    assert deliveries(world, pr) == 1


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[tuple[World, OpenBaoServer]]:
    """A world on an OpenBao with raft storage: stopping it keeps every token and lease."""
    with (
        OpenBaoServer(persistent=True) as server,
        World.create(tmp_path, use_postgres=False, vault=server) as w,
    ):
        yield w, server


def test_a_server_stopped_and_restarted_mid_run_converges(
    restartable: tuple[World, OpenBaoServer], fault_proxy_factory: Any
) -> None:
    world, server = restartable
    proxy = fault_proxy_factory(world.vault_url)  # only watches: collects the tokens it sees
    before, after, pr = merged(world, "stg-octocat-4", duration="3s")
    server.halt()  # Vault is down when the issue job runs
    outcomes = run_issue(through(world, proxy), before=before, after=after)
    assert [o.action for o in outcomes] == ["failed"]
    assert recorded_accessor(world, "stg-octocat-4") is None and deliveries(world, pr) == 0
    server.start()
    outcomes = run_issue(through(world, proxy), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"]
    accessor = recorded_accessor(world, "stg-octocat-4")
    assert accessor is not None
    server.restart()  # a restart keeps the token (and its clock)
    assert world.admin().lookup_accessor(accessor) is not None
    server.halt()  # down when the sweep runs after the expiry: nothing is removed blindly
    later = datetime.now(UTC) + timedelta(seconds=10)
    down = run_sweep(through(world, proxy), now=later)  # that grant fails, the run goes on
    assert [(o.grant, o.action) for o in down] == [("stg-octocat-4", "failed")]
    assert "Vault did not answer" in down[0].detail
    assert world.gh.read_file("main", "grants/stg-octocat-4.yaml") is not None
    server.start()
    swept = run_sweep(through(world, proxy), now=later)
    assert ("stg-octocat-4", "expired") in [(o.grant, o.action) for o in swept]
    assert world.gh.read_file("main", "grants/stg-octocat-4.yaml") is None
    assert world.admin().lookup_accessor(accessor) is None
    assert world.grant_tokens() == []
    assert_no_token_in([o.detail for o in outcomes + swept], proxy)
