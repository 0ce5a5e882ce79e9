"""Does a role's credential die with its grant? (pure)

jitops' promise is that access ends in Vault: the grant token is created with
``ttl = explicit_max_ttl = duration``, and revoking it revokes every lease it created (Vault
revokes a token's leases with it). That holds for a role without ``vault.secret`` (the token is
the credential) and for a dynamic secret, whose read creates a lease (``database/creds/ROLE``).
A read with no lease — a KV v1 or v2 secret, a database *static* role, a certificate issued
without a lease — returns a value that outlives the token: revoking the grant does not end it,
and it has to be rotated. Such a role must say so: ``vault.static: true``.

Offline (``validate`` on ``policies/``, and every load of the policy), which engine is mounted
at a path cannot be known: any engine can be mounted at any path. The rule is therefore one of
shape, and errs towards asking: a secret counts as leased only when its path has the shape of
a dynamic-credential read of the engines that lease what they return —
``<mount>/creds/<role>`` (database, aws, azure, consul, nomad, rabbitmq, mongodbatlas, ldap,
alicloud) or a GCP service-account key (``<mount>/roleset/<name>/key``,
``<mount>/static-account/<name>/key``). Every other path needs ``static: true``. ``doctor``
then asks Vault which engine is really mounted there (:func:`engine_leases`), so a KV engine
mounted at ``database/`` is refused there.
"""

from __future__ import annotations

import re

#: secret engines whose dynamic-credential reads return a lease that revoking the token ends
LEASED_ENGINES = frozenset(
    {
        "database",
        "aws",
        "azure",
        "gcp",
        "consul",
        "nomad",
        "rabbitmq",
        "mongodbatlas",
        "ldap",
        "openldap",
        "alicloud",
    }
)
_SHAPES = (
    re.compile(r"\A(?P<mount>.+?)/creds/[^/]+\Z"),
    re.compile(r"\A(?P<mount>.+?)/(?:roleset|static-account)/[^/]+/key\Z"),
)
ROTATE = "revoking the grant does not end it; rotate it after the grant ends"


def leased_shape(path: str) -> bool:
    """Whether ``path`` has the shape of a read that creates a lease (see the module)."""
    clean = path.strip().strip("/")
    return any(s.match(clean) for s in _SHAPES)


def engine_leases(engine_type: str, path: str) -> bool:
    """Whether a read of ``path`` on an engine of ``engine_type`` (as Vault's ``sys/mounts``
    names it) returns a lease: a leasing engine *and* a dynamic-credential path."""
    return engine_type in LEASED_ENGINES and leased_shape(path)


def unleased_message(role: str, path: str) -> str:
    """Why a role whose secret is not leased is refused, and the ways out."""
    return (
        f"role {role} reads {path}, which is not a dynamic credential (no lease): {ROTATE}. "
        "Give it a credential that dies with the grant (a leased engine's creds/ROLE, e.g. "
        "database/creds/NAME, or no vault.secret: the grant token itself is the credential), "
        "or, if it must be a static secret, say so with `static: true` under vault"
    )


def static_note(path: str) -> str:
    """What every output says about a role marked ``static: true``."""
    return f"{path} is a static secret: {ROTATE}"
