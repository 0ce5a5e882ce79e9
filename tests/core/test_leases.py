"""Leased by default: a role's credential must die with its grant, or the role says static."""

from __future__ import annotations

import pytest

from jitops.core.leases import engine_leases, leased_shape
from jitops.core.policy import PolicyError, load_policy
from tests.conftest import ROOT

ROLE = """\
version: 1
roles:
  r:
    max_duration: 1h
    requesters: ['*']
    approvals: []
    vault:
      policies: [p]
      secret: {secret}{static}
"""


def load(secret: str, static: str = "") -> object:
    text = ROLE.format(secret=secret, static=f"\n      static: {static}" if static else "")
    return load_policy({"policies/policy.yaml": text.encode()})


@pytest.mark.parametrize(
    "path",
    [
        "database/creds/ro",
        "team-a/postgres/creds/orders-ro",
        "aws/creds/deploy",
        "gcp/roleset/viewer/key",
        "gcp/static-account/ci/key",
    ],
)
def test_dynamic_credential_paths_are_leased(path: str) -> None:
    assert leased_shape(path)
    load(path)  # no static needed


@pytest.mark.parametrize(
    "path",
    [
        "secret/data/staging/admin",  # KV v2
        "kv/staging/admin",  # KV v1
        "database/static-creds/app",  # a database static role: rotated, never leased
        "database/creds/ro/extra",
        "pki/issue/web",
        "creds/x",  # no mount before creds/
    ],
)
def test_a_secret_without_a_lease_is_refused_unless_the_role_says_static(path: str) -> None:
    with pytest.raises(PolicyError) as info:
        load(path)
    (problem,) = info.value.problems
    assert "revoking the grant does not end it" in problem.message
    assert "static: true" in problem.message
    assert problem.line == 7  # the role's vault: block
    role = load(path, "true").roles["r"]  # type: ignore[attr-defined]
    assert role.vault_static


def test_the_engine_mounted_there_decides_online() -> None:
    # a KV engine mounted at database/ has the shape but no lease: doctor asks Vault
    assert not engine_leases("kv", "database/creds/ro")
    assert engine_leases("database", "database/creds/ro")
    assert not engine_leases("database", "database/static-creds/ro")


def test_every_example_in_the_repository_is_leased() -> None:
    """The repository's example policy hands out nothing that outlives a grant."""
    policy = load_policy({"policies/policy.yaml": (ROOT / "policies/policy.yaml").read_bytes()})
    assert not [r.name for r in policy.roles.values() if r.vault_static]


def test_the_pr_comment_says_a_static_secret_must_be_rotated() -> None:
    from datetime import timedelta

    from jitops.core.grant import Grant
    from jitops.core.prcomment import grant_comment
    from tests.conftest import EXAMPLE_POLICY

    policy = load_policy({"policies/policy.yaml": EXAMPLE_POLICY.read_bytes()})
    for role, static in (("staging-admin", True), ("prod-db-readonly", False)):
        grant = Grant("g-1", "grants/g-1.yaml", "octocat", role, timedelta(hours=1), "1h", "r")
        body = grant_comment(grant, None, [], policy, "valid", None)
        said = "revoking the grant does not end it; rotate it after the grant ends" in body
        assert said is static, body
