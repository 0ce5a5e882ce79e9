"""End to end with a real PostgreSQL: a login issued under a 3-second grant stops working.

vault setup -> database engine config and role -> issue (as the issuer) -> unwrap (as the
requester) -> psycopg login works -> wait, with no jitops process running -> the login is
refused: Vault's token TTL revoked the lease, and the lease revocation dropped the role.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from jitops.doors.vault.model import VaultError

if TYPE_CHECKING:
    from tests.fixtures.vault_backend import VaultWorld

pytest_plugins = ["tests.fixtures.vault_backend", "tests.fixtures.postgres"]

CREATION = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT pg_read_all_data TO "{{name}}";'
)


def _login(postgres: Any, username: str, password: str) -> int:
    with psycopg.connect(postgres.dsn(username, password), connect_timeout=3) as conn:
        row = conn.execute("SELECT 1").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.integration
@pytest.mark.postgres
def test_postgres_login_dies_with_the_grant(vault_world: VaultWorld, postgres: Any) -> None:
    admin = vault_world.admin()
    # the database engine is mounted by seed_secrets (vault_world)
    admin.write(
        "database/config/orders",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": postgres.connection_url_template(),
            "username": postgres.superuser,
            "password": postgres.superuser_password,
            "allowed_roles": ["prod-readonly"],
        },
    )
    admin.write(
        "database/roles/prod-readonly",
        {
            "db_name": "orders",
            "creation_statements": [CREATION],
            "default_ttl": "1h",  # longer than the grant: the grant token's TTL must win
            "max_ttl": "24h",
        },
    )
    issuer = vault_world.client(vault_world.token(["jitops-issuer"], "60s"))
    issued = issuer.issue(
        grant_id="prod-db-ro-octocat-1",
        requester="octocat",
        role=vault_world.policy().roles["prod-db-readonly"],
        duration=timedelta(seconds=3),
        pull_request=1,
        wrap_ttl=timedelta(minutes=1),
        token_role="jitops-grant",
    )
    assert issued.requests == 2
    issuer.close()

    creds = vault_world.client().unwrap(issued.wrapping_token)
    username = creds.values["username"].reveal()
    password = creds.values["password"].reveal()
    assert creds.lease_id
    assert creds.lease_id.startswith("database/creds/prod-readonly/")
    assert _login(postgres, username, password) == 1

    deadline = time.monotonic() + 20
    refused: Exception | None = None
    while time.monotonic() < deadline:
        try:
            _login(postgres, username, password)
        except psycopg.OperationalError as exc:
            refused = exc
            break
        time.sleep(0.25)
    assert refused is not None, "the PostgreSQL login still works after the grant expired"
    assert admin.lookup_accessor(issued.accessor) is None
    with pytest.raises(VaultError):
        admin.write("sys/leases/lookup", {"lease_id": creds.lease_id})
