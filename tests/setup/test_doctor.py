"""jitops doctor, Vault part: every finding says what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import VaultConfigError
from jitops.setup.doctor import Finding, failed, vault_findings

if TYPE_CHECKING:
    from tests.fixtures.vault_backend import VaultWorld

pytest_plugins = ["tests.fixtures.vault_backend"]


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def _findings(world: VaultWorld) -> dict[str, Finding]:
    return by_check(vault_findings(world.policy(), world.admin))


def test_no_vault_configured_is_one_failed_finding_with_the_fix() -> None:
    from jitops.core.policy import load_policy
    from tests.conftest import EXAMPLE_POLICY

    policy = load_policy({"policies/policy.yaml": EXAMPLE_POLICY.read_bytes()})

    def connect() -> Vault:
        raise VaultConfigError("no Vault address: set VAULT_ADDR")

    findings = vault_findings(policy, connect)
    assert failed(findings)
    assert findings[0].check == "vault.login"
    assert "VAULT_ADDR" in findings[0].message


@pytest.mark.integration
def test_a_set_up_vault_is_healthy(vault_world: VaultWorld) -> None:
    findings = _findings(vault_world)
    assert not failed(findings.values())
    # what is not ok is said: the test policy's static KV role, and the unpinned address
    assert {f.check for f in findings.values() if not f.ok} == {
        "vault.lease.staging-admin.engine",
        "vault.addr-pin",
    }
    assert "revoking the grant does not end it" in (
        findings["vault.lease.staging-admin.engine"].message
    )
    assert findings["vault.lease.prod-db-readonly.engine"].ok
    assert findings["vault.jwt-config"].ok
    assert "vault.jwt-mount" not in findings  # the mount is jitops' own
    assert findings["vault.secret.staging-admin"].message == (
        "a staging-admin grant token can read secret/data/staging/admin"
    )
    assert "vault.secret.prod-db-readonly" in findings
    assert "vault.secret.prod-break-glass" not in findings  # no secret: nothing to probe
    assert vault_world.grant_tokens() == []  # the probe tokens were revoked


@pytest.mark.integration
def test_doctor_finds_a_missing_policy(vault_world: VaultWorld) -> None:
    admin = vault_world.admin()
    admin._client.adapter.delete("/v1/sys/policies/acl/jit-staging-admin")
    findings = _findings(vault_world)
    missing = findings["vault.policy.jit-staging-admin"]
    assert not missing.ok
    assert "no policy 'jit-staging-admin' (used by role staging-admin)" in missing.message
    assert "vault policy write jit-staging-admin" in missing.fix
    assert 'path "secret/data/staging/admin" { capabilities = ["read"] }' in missing.fix
    assert not findings["vault.secret.staging-admin"].ok


@pytest.mark.integration
def test_doctor_finds_a_token_role_not_covering_a_role(vault_world: VaultWorld) -> None:
    vault_world.admin().write(
        "auth/token/roles/jitops-grant",
        {"allowed_policies": ["jit-prod-db-readonly", "jit-staging-admin"]},
    )
    findings = _findings(vault_world)
    gap = findings["vault.token-role.prod-break-glass"]
    assert not gap.ok
    assert "does not allow jit-prod-admin" in gap.message
    assert "jitops vault setup" in gap.fix


@pytest.mark.integration
def test_doctor_finds_a_token_role_that_gives_grants_the_default_policy(
    vault_world: VaultWorld,
) -> None:
    """A role written before grant tokens lost Vault's default policy (sys/wrapping/wrap)."""
    role = vault_world.admin().read("auth/token/roles/jitops-grant") or {}
    allowed = [p for p in role["allowed_policies"] if p != "jitops-grant-self"]
    vault_world.admin().write(
        "auth/token/roles/jitops-grant",
        {"allowed_policies": allowed, "token_no_default_policy": False},
    )
    found = _findings(vault_world)["vault.token-role"]
    assert not found.ok
    assert "gives tokens Vault's default policy" in found.message
    assert "does not allow 'jitops-grant-self'" in found.message
    assert "jitops vault setup" in found.fix


@pytest.mark.integration
def test_doctor_finds_an_unreadable_secret_without_reading_it(vault_world: VaultWorld) -> None:
    vault_world.admin().write(
        "sys/policies/acl/jit-staging-admin",
        {"policy": 'path "secret/data/elsewhere/*" {\n  capabilities = ["read"]\n}\n'},
    )
    finding = _findings(vault_world)["vault.secret.staging-admin"]
    assert not finding.ok
    assert "cannot read secret/data/staging/admin" in finding.message
    assert 'path "secret/data/staging/admin"' in finding.fix


@pytest.mark.integration
def test_cli_doctor_exits_1_and_prints_fixes(
    vault_world: VaultWorld, access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in vault_world.target.environ().items():
        monkeypatch.setenv(name, value)
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "VAULT_ROLE_ID"):
        monkeypatch.delenv(name, raising=False)
    ok = CliRunner().invoke(cli, ["doctor", "--repo", str(access_repo)])
    assert ok.exit_code == 0, ok.output
    assert "all ok" in ok.output
    vault_world.admin()._client.adapter.delete("/v1/auth/token/roles/jitops-grant")
    bad = CliRunner().invoke(cli, ["doctor", "--repo", str(access_repo)])
    assert bad.exit_code == 1, bad.output
    assert "FAIL  vault.token-role: Vault has no token role 'jitops-grant'" in bad.output
    assert "fix: run `jitops vault setup`" in bad.output
    assert vault_world.target.root_token not in bad.output


@pytest.mark.integration
def test_doctor_finds_a_loosened_issuer_policy(vault_world: VaultWorld) -> None:
    vault_world.admin().write(
        "sys/policies/acl/jitops-issuer",
        {"policy": 'path "secret/*" {\n  capabilities = ["read"]\n}\n'},
    )
    finding = _findings(vault_world)["vault.policy.jitops-issuer"]
    assert not finding.ok
    assert "differs from what `jitops vault setup` writes" in finding.message


@pytest.mark.integration
def test_doctor_warns_when_vault_caps_grants_below_max_duration(
    private_vault_world: VaultWorld,
) -> None:
    world = private_vault_world
    admin = world.admin()
    admin.write("sys/auth/token/tune", {"max_lease_ttl": "1h"})
    # the database engine is mounted by seed_secrets (vault_world)
    admin.write(
        "database/config/orders",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/postgres",
            "username": "vault",
            "password": "unused",
            "verify_connection": False,
            "allowed_roles": ["prod-readonly"],
        },
    )
    admin.write(
        "database/roles/prod-readonly",
        {
            "db_name": "orders",
            "creation_statements": ["SELECT 1"],
            "default_ttl": "15m",
            "max_ttl": "24h",
        },
    )
    findings = vault_findings(world.policy(), world.admin)
    checks = by_check(findings)
    mount = checks["vault.token-mount-ttl"]
    assert mount.warning and not mount.ok
    assert "caps tokens at 1h, shorter than the longest max_duration 8h" in mount.message
    assert "vault auth tune -max-lease-ttl=28800s token/" in mount.fix
    lease = checks["vault.lease.prod-db-readonly"]
    assert lease.warning
    assert "default_ttl 15m" in lease.message
    assert "max_ttl" not in lease.message  # 24h outlasts the role's 2h
    assert not failed(findings), "warnings alone do not fail the doctor"
    from jitops.setup.doctor import render_text

    assert "WARN  vault.lease.prod-db-readonly" in render_text(findings)
    assert "4 warnings" in render_text(findings)  # and the static role, the address pin


@pytest.mark.integration
def test_a_kv_engine_is_refused_even_where_the_path_looks_dynamic(vault_world: VaultWorld) -> None:
    """validate judges the path's shape offline; doctor asks Vault which engine is there: a
    KV engine mounted at team-db/ has no lease, whatever the path looks like."""
    from dataclasses import replace

    admin = vault_world.admin()
    admin.write("sys/mounts/team-db", {"type": "kv", "options": {"version": "1"}})
    admin.write("team-db/creds/ro", {"password": "static-pw"})
    policy = vault_world.policy()
    role = replace(policy.roles["prod-db-readonly"], vault_secret="team-db/creds/ro")
    policy = replace(policy, roles={**policy.roles, "prod-db-readonly": role})
    findings = by_check(vault_findings(policy, vault_world.admin))
    engine = findings["vault.lease.prod-db-readonly.engine"]
    assert not engine.ok and not engine.warning
    assert "team-db/ is a 'kv' engine" in engine.message
    assert "static: true" in engine.fix
    assert failed(findings.values())


@pytest.mark.integration
def test_cli_doctor_refuses_a_kv_role_that_is_not_marked_static(
    vault_world: VaultWorld, access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in vault_world.target.environ().items():
        monkeypatch.setenv(name, value)
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "VAULT_ROLE_ID"):
        monkeypatch.delenv(name, raising=False)
    policy = access_repo / "policies" / "policy.yaml"
    policy.write_text(policy.read_text().replace("      static: true", "      # static"))
    bad = CliRunner().invoke(cli, ["doctor", "--repo", str(access_repo)])
    assert bad.exit_code != 0, bad.output
    assert "role staging-admin reads secret/data/staging/admin" in bad.output
    assert "revoking the grant does not end it" in bad.output
    validate = CliRunner().invoke(cli, ["validate", "--repo", str(access_repo)])
    assert validate.exit_code != 0
    assert "static: true" in validate.output


@pytest.mark.integration
def test_doctor_sees_a_jwt_config_it_did_not_write(vault_world: VaultWorld) -> None:
    from dataclasses import replace

    from jitops.core.policy import VaultSettings

    admin = vault_world.admin()
    admin.write("sys/auth/jwt", {"type": "jwt", "description": "GitLab CI"})
    admin.write(
        "auth/jwt/config",
        {
            "jwt_validation_pubkeys": [vault_world.oidc.public_pem],
            "bound_issuer": "https://gitlab.example.com",
            "default_role": "ci",
        },
    )
    policy = vault_world.policy()
    policy = replace(
        policy, settings=replace(policy.settings, vault=VaultSettings(jwt_mount="jwt"))
    )
    findings = by_check(vault_findings(policy, vault_world.admin))
    config = findings["vault.jwt-config"]
    assert not config.ok and "has a default_role (ci)" in config.message
    assert findings["vault.jwt-mount"].warning
    assert "not created by `jitops vault setup`" in findings["vault.jwt-mount"].message


def test_the_vault_address_pin() -> None:
    from jitops.core.policy import Policy, Settings, VaultSettings
    from jitops.setup.doctor import vault_addr_pin_finding

    unpinned = vault_addr_pin_finding(Policy(roles={}), "https://vault.example:8200")
    assert unpinned.warning and "settings.vault.addr: https://vault.example:8200" in unpinned.fix
    pinned = Policy(roles={}, settings=Settings(vault=VaultSettings(addr="https://v.example")))
    assert vault_addr_pin_finding(pinned, "https://v.example/").ok
    other = vault_addr_pin_finding(pinned, "https://elsewhere.example")
    assert other.warning and "https://elsewhere.example" in other.message
