"""A fake GitHub Actions OIDC issuer for tests and the demo: an RS256 key pair and tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class OIDCKeyPair:
    """``private_pem`` signs; ``public_pem`` goes into ``jwt_validation_pubkeys``."""

    private_pem: str = field(repr=False)
    public_pem: str
    kid: str


def generate_oidc_keypair(bits: int = 2048) -> OIDCKeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return OIDCKeyPair(private_pem, public_pem, uuid.uuid4().hex[:16])


def github_claims(
    repository: str,
    *,
    ref: str = "refs/heads/main",
    workflow: str = "jitops-issue.yml",
    actor: str = "jitops-bot",
    audience: str | None = None,
    lifetime: int = 300,
) -> dict[str, Any]:
    """Claims shaped like a GitHub Actions ID token for a push on ``ref``."""
    owner = repository.split("/")[0]
    issued = int(time.time())
    workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
    return {
        "iss": GITHUB_ISSUER,
        "aud": audience or f"https://github.com/{owner}",
        "sub": f"repo:{repository}:ref:{ref}",
        "actor": actor,
        "event_name": "push",
        "ref": ref,
        "ref_type": "branch",
        "repository": repository,
        "repository_owner": owner,
        "repository_visibility": "private",
        "runner_environment": "github-hosted",
        "run_attempt": "1",
        "run_id": str(issued),
        "workflow": workflow,
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
    }


def mint_github_oidc_token(
    private_key: OIDCKeyPair | str, claims: Mapping[str, Any], *, kid: str | None = None
) -> str:
    """Sign ``claims`` with RS256 (``private_key``: a key pair or a PEM private key)."""
    pem = private_key.private_pem if isinstance(private_key, OIDCKeyPair) else private_key
    key_id = kid or (private_key.kid if isinstance(private_key, OIDCKeyPair) else None)
    headers = {"kid": key_id} if key_id else None
    return pyjwt.encode(dict(claims), pem, algorithm="RS256", headers=headers)
