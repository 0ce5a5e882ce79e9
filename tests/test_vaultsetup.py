"""vault setup: the plan (pure) and the comparison that makes re-running change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli.vault import vault_group
from jitops.errors import UsageError
from jitops.policy import Policy, load_policy
from jitops.vaultsetup import SetupOptions, Write, differs, issuer_policy_hcl, plan_setup
from tests.conftest import EXAMPLE_POLICY


@pytest.fixture
def policy() -> Policy:
    return load_policy({"policies/policy.yaml": EXAMPLE_POLICY.read_bytes()})


def by_path(writes: list[Write]) -> dict[str, Write]:
    return {w.path: w for w in writes}


def test_plan_token_role_covers_every_role_and_the_longest_duration(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, SetupOptions(repo_name="acme/access")))
    role = writes["auth/token/roles/jitops-grant"].body
    assert role["allowed_policies"] == [
        "jit-prod-admin",
        "jit-prod-db-readonly",
        "jit-staging-admin",
    ]
    assert role["orphan"] is True
    assert role["renewable"] is False
    assert role["token_explicit_max_ttl"] == 8 * 3600  # staging-admin: 8h is the longest


def test_plan_jwt_role_is_bound_to_repository_main_and_workflows(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, SetupOptions(repo_name="acme/access")))
    role = writes["auth/jwt/role/jitops-issuer"].body
    assert role["bound_claims"]["repository"] == "acme/access"
    assert role["bound_claims"]["ref"] == "refs/heads/main"
    assert role["bound_claims"]["workflow_ref"] == [
        "acme/access/.github/workflows/jitops-issue.yml@refs/heads/main",
        "acme/access/.github/workflows/jitops-sweep.yml@refs/heads/main",
    ]
    assert role["bound_claims_type"] == "glob"
    assert role["bound_audiences"] == ["https://github.com/acme"]
    assert role["user_claim"] == "actor"
    assert role["token_policies"] == ["jitops-issuer"]
    assert role["token_ttl"] <= 900


def test_issuer_policy_grants_no_secret_path() -> None:
    hcl = issuer_policy_hcl("jitops-grant")
    paths = [line.split('"')[1] for line in hcl.splitlines() if line.startswith("path ")]
    assert paths == [
        "auth/token/create/jitops-grant",
        "auth/token/lookup-accessor",
        "auth/token/revoke-accessor",
        "auth/token/accessors",
    ]
    assert "sudo" in hcl
    assert "reconcil" in hcl.lower()


def test_plan_refuses_a_bad_repository_name(policy: Policy) -> None:
    with pytest.raises(UsageError, match="OWNER/REPO"):
        plan_setup(policy, SetupOptions(repo_name="not a repo"))


def test_differs_reads_vault_normalised_answers(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, SetupOptions(repo_name="acme/access")))
    role = writes["auth/token/roles/jitops-grant"]
    as_vault_says = {
        "allowed_policies": ["jit-staging-admin", "jit-prod-db-readonly", "jit-prod-admin"],
        "orphan": True,
        "renewable": False,
        "token_explicit_max_ttl": "8h0m0s",
        "token_type": "service",
        "path_suffix": "",
    }
    assert not differs(role, as_vault_says)
    assert differs(role, {**as_vault_says, "renewable": True})
    assert differs(role, {**as_vault_says, "token_explicit_max_ttl": 3600})
    assert differs(role, {**as_vault_says, "allowed_policies": ["jit-prod-admin"]})
    assert differs(role, None)
    jwt = writes["auth/jwt/role/jitops-issuer"]
    stored = json.loads(json.dumps(dict(jwt.body)))
    stored["bound_claims"]["ref"] = ["refs/heads/main"]  # Vault may answer a list
    assert not differs(jwt, stored)
    stored["bound_claims"]["repository"] = "evil/fork"
    assert differs(jwt, stored)


def test_jwt_config_is_kept_when_an_operator_configured_it(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, SetupOptions(repo_name="acme/access")))
    config = writes["auth/jwt/config"]
    assert not differs(config, {"jwks_url": "https://example.test/jwks", "bound_issuer": "x"})
    assert differs(config, {"oidc_discovery_url": "", "jwt_validation_pubkeys": []})


def test_dry_run_without_vault_prints_the_whole_plan(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        vault_group,
        ["setup", "--dry-run", "--repo", str(access_repo), "--repo-name", "acme/access"],
    )
    assert result.exit_code == 0, result.output
    assert 'path "auth/token/create/jitops-grant"' in result.output
    assert '"orphan": true' in result.output
    assert "5 write(s) would be made, nothing written" in result.output


def test_setup_without_vault_says_what_to_set(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        vault_group, ["setup", "--repo", str(access_repo), "--repo-name", "acme/access"]
    )
    assert result.exit_code != 0
    assert "VAULT_ADDR" in str(result.exception)
