"""JWT auth contract with GitHub-Actions-like tokens: real signatures, claims and bindings."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import hvac
import hvac.exceptions
import pytest

from jitops.sandbox.vault import (
    GITHUB_ISSUER,
    OIDCKeyPair,
    generate_oidc_keypair,
    github_claims,
    mint_github_oidc_token,
)
from tests.sandbox.vault.conftest import Backend

pytestmark = pytest.mark.integration

REPO = "acme/access"
AUDIENCE = "https://github.com/acme"


@pytest.fixture(scope="module")
def keys() -> OIDCKeyPair:
    return generate_oidc_keypair()


@pytest.fixture(scope="module")
def other_keys() -> OIDCKeyPair:
    return generate_oidc_keypair()


@pytest.fixture
def jwt_mount(vault: Backend, keys: OIDCKeyPair, unique: Callable[[str], str]) -> str:
    mount = unique("jwt")
    root = vault.root
    root.sys.enable_auth_method("jwt", path=mount)
    root.write(
        f"auth/{mount}/config", jwt_validation_pubkeys=[keys.public_pem], bound_issuer=GITHUB_ISSUER
    )
    root.sys.create_or_update_policy(
        "jitops-issuer", 'path "auth/token/create/x" { capabilities = ["update"] }'
    )
    root.write(
        f"auth/{mount}/role/issuer",
        role_type="jwt",
        user_claim="actor",
        bound_audiences=[AUDIENCE],
        bound_claims_type="glob",
        bound_claims={
            "repository": REPO,
            "ref": "refs/heads/main",
            "workflow_ref": [f"{REPO}/.github/workflows/jitops-*.yml@refs/heads/main"],
        },
        token_policies=["jitops-issuer"],
        token_ttl=600,
        token_max_ttl=1200,
    )
    return mount


def _login(vault: Backend, mount: str, token: str, role: str = "issuer") -> dict[str, Any]:
    client = vault.client()
    return dict(client.auth.jwt.jwt_login(role=role, jwt=token, path=mount)["auth"])


def _refused(vault: Backend, mount: str, token: str, role: str = "issuer") -> list[str]:
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        _login(vault, mount, token, role)
    return list(err.value.errors)


def test_the_right_token_logs_in(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    token = mint_github_oidc_token(keys, github_claims(REPO, actor="octo-bot"))
    auth = _login(vault, jwt_mount, token)
    assert auth["policies"] == ["default", "jitops-issuer"]
    assert auth["token_policies"] == ["default", "jitops-issuer"]
    assert auth["metadata"] == {"role": "issuer"}
    assert 590 <= auth["lease_duration"] <= 600
    assert auth["orphan"] is True
    info = vault.root.auth.token.lookup(auth["client_token"])["data"]
    assert info["display_name"] == f"{jwt_mount}-octo-bot"
    assert info["path"] == f"auth/{jwt_mount}/login"


def test_a_wrong_signature_is_refused(
    vault: Backend, jwt_mount: str, other_keys: OIDCKeyPair
) -> None:
    forged = mint_github_oidc_token(other_keys, github_claims(REPO))
    assert _refused(vault, jwt_mount, forged) == [
        "no known key successfully validated the token signature"
    ]


def test_a_wrong_audience_is_refused(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    token = mint_github_oidc_token(keys, github_claims(REPO, audience="https://github.com/evil"))
    assert _refused(vault, jwt_mount, token) == [
        "error validating claims: aud claim does not match any bound audience"
    ]


def test_another_repository_is_refused(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    token = mint_github_oidc_token(keys, {**github_claims("evil/access"), "aud": AUDIENCE})
    assert _refused(vault, jwt_mount, token) == [
        'error validating claims: claim "repository" does not match any associated bound '
        "claim values"
    ]


def test_a_branch_workflow_is_refused(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    claims = github_claims(REPO, ref="refs/heads/feature", workflow="jitops-issue.yml")
    (error,) = _refused(vault, jwt_mount, mint_github_oidc_token(keys, claims))
    # Vault checks bound claims in map order: ref or workflow_ref may be named
    assert error.startswith("error validating claims: claim ")
    assert error.endswith("does not match any associated bound claim values")


def test_expired_tokens_are_refused(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    claims = github_claims(REPO)
    claims.update(iat=int(time.time()) - 3600, nbf=int(time.time()) - 3600)
    claims["exp"] = int(time.time()) - 1800
    (error,) = _refused(vault, jwt_mount, mint_github_oidc_token(keys, claims))
    assert error.startswith("error validating claims:") and error.endswith("(exp)")


def test_missing_role_and_missing_token(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    token = mint_github_oidc_token(keys, github_claims(REPO))
    assert _refused(vault, jwt_mount, token, role="nope") == ['role "nope" could not be found']
    answer = vault.raw("POST", f"auth/{jwt_mount}/login", json={"role": "issuer"})
    assert answer.status_code == 400
    assert answer.json()["errors"] == ["missing token"]


def test_role_validation(vault: Backend, jwt_mount: str) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest, match="bound constraint"):
        vault.root.write(f"auth/{jwt_mount}/role/loose", role_type="jwt", user_claim="actor")
    read = vault.root.read(f"auth/{jwt_mount}/role/issuer")["data"]
    assert read["bound_claims_type"] == "glob"
    assert read["bound_audiences"] == [AUDIENCE]
    assert read["token_policies"] == ["jitops-issuer"]


def test_a_subject_binding(vault: Backend, jwt_mount: str, keys: OIDCKeyPair) -> None:
    vault.root.write(
        f"auth/{jwt_mount}/role/by-sub",
        role_type="jwt",
        user_claim="actor",
        bound_audiences=[AUDIENCE],
        bound_subject=f"repo:{REPO}:ref:refs/heads/main",
        token_policies=["jitops-issuer"],
    )
    good = mint_github_oidc_token(keys, github_claims(REPO))
    assert _login(vault, jwt_mount, good, role="by-sub")["client_token"]
    bad = mint_github_oidc_token(keys, github_claims(REPO, ref="refs/heads/dev"))
    (error,) = _refused(vault, jwt_mount, bad, role="by-sub")
    assert error.startswith("error validating claims:") and error.endswith("(sub)")


def test_a_token_from_another_issuer_is_refused(
    vault: Backend, jwt_mount: str, keys: OIDCKeyPair
) -> None:
    claims = {**github_claims(REPO), "iss": "https://evil.example"}
    (error,) = _refused(vault, jwt_mount, mint_github_oidc_token(keys, claims))
    assert error.startswith("error validating claims:") and error.endswith("(iss)")


def test_clock_skew_leeway_accepts_a_token_expired_seconds_ago(
    vault: Backend, jwt_mount: str, keys: OIDCKeyPair
) -> None:
    claims = github_claims(REPO)
    claims["exp"] = int(time.time()) - 10
    assert _login(vault, jwt_mount, mint_github_oidc_token(keys, claims))["client_token"]


def test_a_garbage_token_is_a_parse_error(vault: Backend, jwt_mount: str) -> None:
    (error,) = _refused(vault, jwt_mount, "not.a.jwt")
    assert error.startswith("error parsing token:")
