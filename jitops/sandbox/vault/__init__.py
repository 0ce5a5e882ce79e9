"""An in-memory stand-in for HashiCorp Vault's HTTP API (the parts jitops relies on).

``VaultSandbox`` behaves like ``vault server -dev`` and unmodified hvac works against it:

- token store: create (plain, orphan, through a role), lookup(-self/-accessor), renew,
  revoke (also -self/-accessor/-orphan), roles, accessors; TTL, explicit_max_ttl, num_uses,
  periods; children die with their parent; a reaper kills expired tokens within ~0.2 s;
- ACL policies in HCL or JSON (``sys/policies/acl``, legacy ``sys/policy``), Vault's path
  priority rules, ``default`` and ``root``, sudo-protected paths, ``sys/capabilities*``;
- kv-v2 at ``secret/``, kv v1 and per-token ``cubbyhole/``; ``sys/mounts``, ``sys/auth``;
- response wrapping of any response (``X-Vault-Wrap-TTL``), ``sys/wrapping/*``;
- leases owned by the token that read them, ``sys/leases/*``;
- the database engine's routes and leases (SQL side: :mod:`.database`);
- JWT auth (offline: ``jwt_validation_pubkeys``; discovery URLs are stored, never fetched)
  and AppRole auth.

Not there: batch tokens, identity/entities, namespaces, audit devices, sealing, plugins
other than kv/database/jwt/approle, policy parameter constraints (``allowed_parameters``
are parsed but not enforced), ``min/max_wrapping_ttl``, storage across restarts.

``generate_oidc_keypair`` / ``mint_github_oidc_token`` play GitHub's OIDC token issuer.
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
