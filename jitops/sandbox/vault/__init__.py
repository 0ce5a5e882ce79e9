"""An in-memory stand-in for HashiCorp Vault's HTTP API (the parts jitops relies on).

``VaultSandbox`` behaves like ``vault server -dev`` for token auth, ACL policies, kv-v2,
response wrapping, leases, the database engine, JWT and AppRole auth; hvac works against it
unmodified. ``generate_oidc_keypair``/``mint_github_oidc_token`` play GitHub's OIDC issuer.
"""

from jitops.sandbox.vault.oidc import (
    GITHUB_ISSUER,
    OIDCKeyPair,
    generate_oidc_keypair,
    github_claims,
    mint_github_oidc_token,
)
from jitops.sandbox.vault.sandbox import VaultSandbox

__all__ = [
    "GITHUB_ISSUER",
    "OIDCKeyPair",
    "VaultSandbox",
    "generate_oidc_keypair",
    "github_claims",
    "mint_github_oidc_token",
]
