"""vault setup: the plan (pure) and the comparison that makes re-running change nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from jitops.cli import cli
from jitops.core.policy import Policy, VaultSettings, load_policy
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import VaultLoginError, VaultPermissionError
from jitops.errors import UsageError
from jitops.setup.vault import SetupOptions, Write, differs, issuer_policy_hcl, plan_setup
from tests.conftest import EXAMPLE_POLICY

if TYPE_CHECKING:
    from tests.fixtures.vault_backend import OidcIssuer, VaultTarget, VaultWorld

pytest_plugins = ["tests.fixtures.vault_backend"]


@pytest.fixture
def policy() -> Policy:
    return load_policy({"policies/policy.yaml": EXAMPLE_POLICY.read_bytes()})


def by_path(writes: list[Write]) -> dict[str, Write]:
    return {w.path: w for w in writes}


IDS = {"repository_id": "690001", "repository_owner_id": "4200001"}
ID_ARGS = ["--repository-id", IDS["repository_id"], "--repository-owner-id", "4200001"]


def opts(**kw: object) -> SetupOptions:
    return SetupOptions(**{"repo_name": "acme/access", **IDS, **kw})  # type: ignore[arg-type]


def test_plan_token_role_covers_every_role_and_the_longest_duration(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, opts()))
    role = writes["auth/token/roles/jitops-grant"].body
    assert role["allowed_policies"] == [
        "jit-prod-admin",
        "jit-prod-db-readonly",
        "jit-staging-admin",
        "jitops-grant-self",  # lookup/revoke itself: every grant token carries it
    ]
    assert role["token_no_default_policy"] is True  # no sys/wrapping/wrap for grantees
    assert 'path "sys/wrapping' not in writes["sys/policies/acl/jitops-grant-self"].body["policy"]
    assert role["orphan"] is True
    assert role["renewable"] is False
    assert role["token_explicit_max_ttl"] == 8 * 3600  # staging-admin: 8h is the longest


def test_plan_jwt_role_is_bound_to_repository_main_and_workflows(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, opts()))
    role = writes["auth/jitops-jwt/role/jitops-issuer"].body
    assert role["bound_claims"]["repository"] == "acme/access"
    assert role["bound_claims"]["repository_id"] == "690001"
    assert role["bound_claims"]["repository_owner_id"] == "4200001"
    assert role["bound_claims"]["environment"] == "jitops"
    assert role["bound_claims"]["runner_environment"] == "github-hosted"
    assert role["bound_claims"]["ref"] == "refs/heads/main"
    assert role["bound_claims"]["workflow_ref"] == [
        "acme/access/.github/workflows/jitops-issue.yml@refs/heads/main",
        "acme/access/.github/workflows/jitops-sweep.yml@refs/heads/main",
    ]
    assert role["bound_claims_type"] == "glob"
    assert role["bound_audiences"] == ["https://github.com/acme"]
    assert role["user_claim"] == "repository_id"
    assert role["token_policies"] == ["jitops-issuer"]
    assert role["token_ttl"] <= 900


def test_issuer_policy_grants_no_secret_path() -> None:
    hcl = issuer_policy_hcl("jitops-grant")
    paths = [line.split('"')[1] for line in hcl.splitlines() if line.startswith("path ")]
    assert paths == [
        "auth/token/create/jitops-grant",
        "auth/token/lookup-accessor",
        "auth/token/revoke-accessor",
    ]
    assert '"sudo"' not in hcl  # git records every accessor first: nothing is ever listed
    assert '"list"' not in hcl


@pytest.mark.parametrize(
    ("field", "value"),
    [("repository_id", ""), ("repository_owner_id", "12a"), ("repository_id", "1\n")],
)
def test_plan_needs_githubs_numeric_ids(policy: Policy, field: str, value: str) -> None:
    with pytest.raises(UsageError, match="numeric id") as info:
        plan_setup(policy, opts(**{field: value}))
    assert "gh api repos/acme/access" in str(info.value)


def test_plan_refuses_a_bad_repository_name(policy: Policy) -> None:
    with pytest.raises(UsageError, match="OWNER/REPO"):
        plan_setup(policy, opts(repo_name="not a repo"))


def test_differs_reads_vault_normalised_answers(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, opts()))
    role = writes["auth/token/roles/jitops-grant"]
    as_vault_says = {
        "allowed_policies": [
            "jit-staging-admin",
            "jitops-grant-self",
            "jit-prod-db-readonly",
            "jit-prod-admin",
        ],
        "token_no_default_policy": True,
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
    jwt = writes["auth/jitops-jwt/role/jitops-issuer"]
    stored = json.loads(json.dumps(dict(jwt.body)))
    stored["bound_claims"]["ref"] = ["refs/heads/main"]  # Vault may answer a list
    assert not differs(jwt, stored)
    stored["bound_claims"]["repository"] = "evil/fork"
    assert differs(jwt, stored)


def test_a_jwt_config_trusting_another_issuer_is_replaced(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, opts()))
    config = writes["auth/jitops-jwt/config"]
    github = "https://token.actions.githubusercontent.com"
    assert not differs(config, {"oidc_discovery_url": github, "bound_issuer": github})
    assert differs(config, {"jwks_url": "https://example.test/jwks", "bound_issuer": github})
    assert differs(config, {"oidc_discovery_url": "https://evil.test", "bound_issuer": github})
    assert differs(config, {"oidc_discovery_url": "", "jwt_validation_pubkeys": []})
    keyed = by_path(plan_setup(policy, opts(jwt_validation_pubkeys=("PEM-A\n",))))
    pinned = keyed["auth/jitops-jwt/config"]
    assert not differs(pinned, {"jwt_validation_pubkeys": ["PEM-A"], "bound_issuer": github})
    assert differs(pinned, {"jwt_validation_pubkeys": ["PEM-B"], "bound_issuer": github})


def test_dry_run_without_vault_prints_the_whole_plan(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        cli,
        [
            "vault",
            "setup",
            "--dry-run",
            "--repo",
            str(access_repo),
            "--repo-name",
            "acme/access",
            *ID_ARGS,
        ],
    )
    assert result.exit_code == 0, result.output
    assert 'path "auth/token/create/jitops-grant"' in result.output
    assert '"orphan": true' in result.output
    assert "6 write(s) would be made, nothing written" in result.output


def test_setup_without_vault_says_what_to_set(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        cli,
        ["vault", "setup", "--repo", str(access_repo), "--repo-name", "acme/access", *ID_ARGS],
    )
    assert result.exit_code != 0
    assert "VAULT_ADDR" in result.output


# --- against a real OpenBao server ----------------------------------------------------------


@pytest.mark.integration
def test_setup_twice_changes_nothing(vault_world: VaultWorld) -> None:
    again = vault_world.run_setup()
    assert {a.outcome for a in again} == {"unchanged"}, [(a.write.what, a.outcome) for a in again]


@pytest.mark.integration
def test_dry_run_writes_nothing(bare_vault_world: VaultWorld) -> None:
    world = bare_vault_world
    planned = world.run_setup(dry_run=True)
    assert [a.outcome for a in planned] == ["would create"] * 6
    admin = world.admin()
    assert admin.read("auth/token/roles/jitops-grant") is None
    assert admin.read("sys/policies/acl/jitops-issuer") is None


@pytest.mark.integration
def test_cli_setup_then_dry_run_reports_unchanged(
    vault_backend: VaultTarget,
    oidc: OidcIssuer,
    access_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in vault_backend.environ().items():
        monkeypatch.setenv(name, value)
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "VAULT_ROLE_ID"):
        monkeypatch.delenv(name, raising=False)
    pem = tmp_path / "issuer.pem"
    pem.write_text(oidc.public_pem)
    args = [
        "vault",
        "setup",
        "--repo",
        str(access_repo),
        "--repo-name",
        "acme/access",
        "--jwt-validation-pubkey",
        str(pem),
        *ID_ARGS,
    ]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "6 write(s) made" in first.output
    second = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert second.exit_code == 0, second.output
    assert "0 write(s) would be made" in second.output
    assert "unchanged  token role 'jitops-grant'" in second.output
    assert vault_backend.root_token not in first.output + second.output


def _jwt_login(world: VaultWorld) -> Vault:
    env = {
        "VAULT_ADDR": world.target.url,
        "VAULT_NAMESPACE": world.target.namespace or "",
        "GITHUB_REPOSITORY_OWNER": "acme",
        **world.oidc.environ(),
    }
    return Vault.connect(None, VaultSettings(), env)


@pytest.mark.integration
def test_the_right_github_token_logs_in_and_can_issue(vault_world: VaultWorld) -> None:
    issuer = _jwt_login(vault_world)
    assert vault_world.oidc.audiences_asked == ["https://github.com/acme"]
    assert issuer.login_method == "jwt"
    issued = issuer.issue(
        grant_id="g-jwt",
        requester="octocat",
        role=vault_world.policy().roles["staging-admin"],
        duration=timedelta(seconds=30),
        pull_request=7,
        wrap_ttl=timedelta(minutes=1),
        token_role="jitops-grant",
    )
    assert issuer.request_count == 3  # login, create, wrapped read: within the 4 budget
    assert issued.accessor
    with pytest.raises(VaultPermissionError):
        issuer.read("secret/data/staging/admin")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"repository": "evil/fork"}, "another repository"),
        ({"ref": "refs/heads/feature"}, "another branch"),
        ({"workflow_ref": "acme/access/.github/workflows/ci.yml@refs/heads/main"}, "workflow"),
        ({"aud": "https://github.com/evil"}, "wrong audience"),
        ({"repository_id": "999"}, "a re-created repository of the same name"),
        ({"repository_owner_id": "999"}, "a re-registered owner name"),
        ({"environment": "staging"}, "a job outside the jitops environment"),
        ({"runner_environment": "self-hosted"}, "a self-hosted runner"),
        ("bad-signature", "a forged signature"),
    ],
)
def test_a_wrong_github_token_is_refused(
    vault_world: VaultWorld, change: object, what: str
) -> None:
    if change == "bad-signature":
        vault_world.oidc.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        assert isinstance(change, dict)
        vault_world.oidc.claims.update(change)
    with pytest.raises(VaultLoginError, match="login was refused"):
        _jwt_login(vault_world)


@pytest.mark.integration
def test_a_config_pointing_elsewhere_is_updated_and_the_new_issuer_works(
    vault_world: VaultWorld, oidc: OidcIssuer
) -> None:
    """An operator's earlier config trusted other keys: setup replaces it (and says so) instead
    of silently keeping it, and afterwards the repository's own tokens log in."""
    from jitops_sandbox.demo.oidc import OidcIssuer as Issuer

    other = Issuer.create("acme/access")
    admin = vault_world.admin()
    admin.write(
        "auth/jitops-jwt/config",
        {"jwt_validation_pubkeys": [other.public_pem], "bound_issuer": "https://elsewhere"},
    )
    with pytest.raises(VaultLoginError):
        _jwt_login(vault_world)
    applied = {a.write.what: a.outcome for a in vault_world.run_setup()}
    config = [v for k, v in applied.items() if k.startswith("JWT auth config")]
    assert config == ["updated"]
    assert _jwt_login(vault_world).login_method == "jwt"
    stored = admin.read("auth/jitops-jwt/config") or {}
    assert [k.strip() for k in stored["jwt_validation_pubkeys"]] == [oidc.public_pem.strip()]


def test_setup_refuses_both_key_and_discovery_url(
    access_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = tmp_path / "k.pem"
    pem.write_text("x")
    result = CliRunner().invoke(
        cli,
        [
            "vault",
            "setup",
            "--dry-run",
            "--repo",
            str(access_repo),
            "--repo-name",
            "acme/access",
            *ID_ARGS,
            "--jwt-validation-pubkey",
            str(pem),
            "--oidc-discovery-url",
            "https://ghe.example/_services/token",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "not both" in result.output


def test_a_ghes_discovery_url_is_also_the_bound_issuer(
    access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        monkeypatch.delenv(name, raising=False)
    url = "https://ghe.example/_services/token"
    result = CliRunner().invoke(
        cli,
        [
            "vault",
            "setup",
            "--dry-run",
            "--repo",
            str(access_repo),
            "--repo-name",
            "acme/access",
            *ID_ARGS,
            "--oidc-discovery-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert f'"bound_issuer": "{url}"' in result.output
    assert f'"oidc_discovery_url": "{url}"' in result.output


# --- a Vault shared with other teams ----------------------------------------------------------


def test_plan_uses_a_mount_of_its_own_and_one_entity_per_repository(policy: Policy) -> None:
    writes = by_path(plan_setup(policy, opts()))
    assert "sys/auth/jitops-jwt" in writes  # never the shared jwt/ by default
    assert "jitops" in writes["sys/auth/jitops-jwt"].body["description"]
    role = writes["auth/jitops-jwt/role/jitops-issuer"].body
    # one Vault entity for the repository's issuer, not one per person who merges; the merger
    # stays visible as alias metadata in Vault's audit log
    assert role["user_claim"] == "repository_id"
    assert role["claim_mappings"] == {"actor": "github_actor", "run_id": "github_run_id"}
    named = [w.path.removesuffix("/config").rsplit("/", 1)[-1] for w in writes.values()]
    assert all("jitops" in name for name in named), named


def _other_team(world: VaultWorld, mount: str, description: str) -> dict[str, object]:
    """Another team's JWT mount: its own issuer, its own default role."""
    from jitops_sandbox.demo.oidc import OidcIssuer as Issuer

    other = Issuer.create("other/team")
    config = {
        "jwt_validation_pubkeys": [other.public_pem],
        "bound_issuer": "https://gitlab.example.com",
        "default_role": "ci-deploy",
    }
    admin = world.admin()
    try:
        admin.write(f"sys/auth/{mount}", {"type": "jwt", "description": description})
        admin.write(f"auth/{mount}/config", config)
        admin.write(
            f"auth/{mount}/role/ci-deploy",
            {
                "role_type": "jwt",
                "user_claim": "sub",
                "bound_audiences": ["x"],
                "bound_subject": "project:1",
                "token_policies": ["default"],
            },
        )
        return dict(admin.read(f"auth/{mount}/config") or {})
    finally:
        admin.close()


@pytest.mark.integration
def test_another_teams_jwt_mount_stays_untouched(bare_vault_world: VaultWorld) -> None:
    """jwt/ configured for another issuer with a default role: setup (default mount) leaves
    it exactly as it was and logs in through a mount of its own."""
    world = bare_vault_world
    before = _other_team(world, "jwt", "GitLab CI")
    applied = world.run_setup()
    assert {a.outcome for a in applied} == {"created"}
    admin = world.admin()
    assert admin.read("auth/jwt/config") == before
    assert (admin.read("auth/jwt/role/ci-deploy") or {}).get("bound_subject") == "project:1"
    assert admin.read("auth/jwt/role/jitops-issuer") is None
    mounts = admin.read("sys/auth") or {}
    assert "jitops" in str(mounts["jitops-jwt/"]["description"])
    world.seed_secrets()
    assert _jwt_login(world).login_method == "jwt"


@pytest.mark.integration
def test_setup_refuses_to_replace_a_config_it_did_not_write(
    bare_vault_world: VaultWorld, access_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pointed at the shared jwt/ mount (settings.vault.jwt_mount: jwt), setup says what it
    found and how to proceed, and writes nothing there."""
    world = bare_vault_world
    before = _other_team(world, "jwt", "GitLab CI")
    policy_file = access_repo / "policies" / "policy.yaml"
    policy_file.write_text(
        policy_file.read_text().replace("settings:\n", "settings:\n  vault: {jwt_mount: jwt}\n", 1)
    )
    for name, value in world.target.environ().items():
        monkeypatch.setenv(name, value)
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "VAULT_ROLE_ID"):
        monkeypatch.delenv(name, raising=False)
    pem = access_repo.parent / "issuer.pem"
    pem.write_text(world.oidc.public_pem)
    args = ["vault", "setup", "--repo", str(access_repo), "--repo-name", "acme/access"]
    args += [*ID_ARGS, "--jwt-validation-pubkey", str(pem)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0, result.output
    assert "auth/jwt/config was not written by jitops" in result.output
    assert "bound_issuer https://gitlab.example.com" in result.output
    assert "default_role ci-deploy" in result.output
    assert "settings.vault.jwt_mount" in result.output
    admin = world.admin()
    assert admin.read("auth/jwt/config") == before
    assert admin.read("auth/jwt/role/jitops-issuer") is None
