"""Two access repositories sharing one OpenBao never revoke, or even look up, each other's
tokens: jitops touches only the accessors its own git records (DESIGN 4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World
from jitops_sandbox.openbao import OpenBaoServer
from tests.fixtures.vault_backend import OidcIssuer

pytestmark = pytest.mark.integration


def issue(world: World, gid: str, duration: str) -> str:
    text = (
        f"requester: {REQUESTER}\nrole: staging-admin\nduration: {duration}\n"
        "reason: Debug the staging deploy pipeline\n"
    )
    before = world.main_sha()
    n = world.gh.open_pr(REQUESTER, f"r-{gid}", gid, files={f"grants/{gid}.yaml": text})
    after = world.gh.merge_pr(n, DBA)
    [outcome] = run_issue(world.services(), before=before, after=after)
    assert outcome.action == "issued", outcome
    raw = world.gh.read_file("main", f"grants/{gid}.yaml") or ""
    return raw.split("token_accessor:")[1].split()[0].strip("\"'")


@pytest.fixture
def two(tmp_path: Path, oidc: OidcIssuer) -> Iterator[tuple[World, World]]:
    # one server, one set-up (same token role, issuer policy and OIDC issuer), two repositories
    with (
        OpenBaoServer() as server,
        World.create(
            tmp_path / "a", use_postgres=False, vault=server, jwt_pubkeys=(oidc.public_pem,)
        ) as a,
        World.create(
            tmp_path / "b", use_postgres=False, vault=server, jwt_pubkeys=(oidc.public_pem,)
        ) as b,
    ):
        yield a, b


def test_a_sweep_touches_only_its_own_repositorys_tokens(two: tuple[World, World]) -> None:
    a, b = two
    # a1's token is still live in Vault when the sweep (run for a later time) expires it, so
    # the sweep both looks it up and revokes it, however long the set-up took
    issue(a, "stg-octocat-a1", "5m")
    a_long = issue(a, "stg-octocat-a2", "1h")
    issue(b, "stg-octocat-b1", "5m")
    b_long = issue(b, "stg-octocat-b2", "1h")
    svc = a.services()
    outcomes = run_sweep(svc, now=datetime.now(UTC) + timedelta(minutes=10))
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-a1", "expired")]
    (vault,) = svc._vaults.values()  # the run's one Vault
    # one lookup (Vault confirms the accessor is that grant's token) and one revoke; the
    # rotation's look at a2, A's one active grant (up to five a run); and the shrink step's
    # one wrapping-token lookup per recent delivery (a1, a2: both unclaimed, so both live,
    # and both comments untouched). Nothing of B's is asked about.
    assert vault.request_count == 2 + 1 + 2
    assert sum("AGE ENCRYPTED FILE" in c for c in a.gh.comments(1) + a.gh.comments(2)) == 2
    admin = b.admin()
    assert admin.lookup_accessor(b_long) is not None
    assert admin.lookup_accessor(a_long) is not None
    assert b.gh.read_file("main", "grants/stg-octocat-b1.yaml") is not None  # B's git untouched
