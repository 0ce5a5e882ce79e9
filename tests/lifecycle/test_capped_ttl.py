"""A grant longer than Vault allows is recorded with the expiry Vault actually granted, and the
run says why (real OpenBao whose token mount caps TTLs at 30 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jitops.core.grant import read_grant
from jitops.lifecycle.issue import run_issue
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[World]:
    # its own server: OpenBao keeps the root namespace's token TTL limits for every namespace
    with World.create(tmp_path, use_postgres=False) as w:
        admin = w.admin()
        admin.write("sys/auth/token/tune", {"max_lease_ttl": "30s"})
        admin.close()
        yield w


@pytest.mark.parametrize("role", ["staging-admin", "vault-operator"])
def test_a_capped_grant_records_vaults_expiry_and_says_why(capped: World, role: str) -> None:
    gid = f"cap-octocat-{role}"
    text = f"requester: {REQUESTER}\nrole: {role}\nduration: 1h\nreason: Rotate the certificates\n"
    before = capped.main_sha()
    n = capped.gh.open_pr(REQUESTER, f"r-{gid}", gid, files={f"grants/{gid}.yaml": text})
    after = capped.gh.merge_pr(n, DBA)
    [outcome] = run_issue(capped.services(), before=before, after=after)
    assert outcome.action == "issued", outcome
    assert "Vault capped the token at 30s instead of the 1h asked for" in outcome.detail
    raw = capped.gh.read_file("main", f"grants/{gid}.yaml") or ""
    grant, _ = read_grant(raw.encode(), f"grants/{gid}.yaml")
    assert grant is not None and grant.status is not None
    recorded = grant.status.expires_at - grant.status.issued_at
    assert 29 <= recorded.total_seconds() <= 32, recorded
    info = capped.admin().lookup_accessor(grant.status.token_accessor)
    assert info is not None and info.expire_time is not None
    assert abs((info.expire_time - grant.status.expires_at).total_seconds()) < 3
