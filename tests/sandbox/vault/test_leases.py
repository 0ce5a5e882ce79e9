"""Leases: owned by the reading token, revoked with it; sys/leases codes and bodies.

Dynamic secrets come from the database mount wired to a fake engine (the PostgreSQL engine
has its own tests), so these run on the stand-in; the unknown-lease answers are contract.
"""

from __future__ import annotations

import logging
from typing import Any

import hvac
import hvac.exceptions
import pytest

from tests.sandbox.vault.conftest import Backend, wait_until
from tests.sandbox.vault.fakes import FakeEngine

pytestmark = pytest.mark.integration

READER = 'path "database/creds/ro" { capabilities = ["read"] }'


def _database(standin: Backend, **role: Any) -> FakeEngine:
    root = standin.root
    root.sys.enable_secrets_engine("database", path="database")
    engine = standin.engines[-1]
    root.write("database/config/pg", connection_url="postgresql://{{username}}@db/app")
    root.write("database/roles/ro", db_name="pg", creation_statements=["CREATE ROLE"], **role)
    root.sys.create_or_update_policy("db-ro", READER)
    return engine


def _reader(standin: Backend, ttl: str = "1h") -> hvac.Client:
    auth = standin.root.auth.token.create(policies=["db-ro"], ttl=ttl)["auth"]
    return standin.client(auth["client_token"])


def test_creds_come_with_a_lease_owned_by_the_reader(standin: Backend) -> None:
    engine = _database(standin, default_ttl=600, max_ttl=1200)
    reader = _reader(standin)
    creds = reader.secrets.database.generate_credentials("ro")
    assert creds["lease_id"].startswith("database/creds/ro/")
    assert len(creds["lease_id"].rsplit("/", 1)[1]) == 24
    assert creds["renewable"] is True and creds["lease_duration"] == 600
    assert set(creds["data"]) == {"username", "password"}
    assert creds["data"]["username"] in engine.live_users
    # hvac sends display_name "token", stored as "token-token" and truncated to 8 characters
    assert creds["data"]["username"].startswith("v-token-to-ro-")
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.read("database/roles/ro")


def test_token_ttl_revokes_every_lease_it_read(standin: Backend) -> None:
    engine = _database(standin)
    reader = _reader(standin, ttl="1s")
    users = [reader.secrets.database.generate_credentials("ro")["data"]["username"] for _ in "ab"]
    listed = standin.root.list("sys/leases/lookup/database/creds/ro")["data"]["keys"]
    assert len(listed) == 2
    assert wait_until(lambda: set(users) <= set(engine.revoked), timeout=4)
    assert not engine.live_users
    assert standin.root.list("sys/leases/lookup/database/creds/ro") is None  # 404: no leases


def test_a_lease_dies_at_the_end_of_its_own_ttl(standin: Backend) -> None:
    engine = _database(standin, default_ttl=1, max_ttl=5)
    reader = _reader(standin)
    creds = reader.secrets.database.generate_credentials("ro")
    assert creds["lease_duration"] == 1
    assert wait_until(lambda: creds["data"]["username"] in engine.revoked, timeout=3)
    assert reader.is_authenticated()
    with pytest.raises(hvac.exceptions.InvalidRequest):
        reader.sys.read_lease(creds["lease_id"])


def test_listing_leases_needs_sudo(standin: Backend) -> None:
    _database(standin)
    reader = _reader(standin)
    lease_id = reader.secrets.database.generate_credentials("ro")["lease_id"]
    assert standin.root.list("sys/leases/lookup/database/creds/ro")["data"]["keys"] == [
        lease_id.rsplit("/", 1)[1]
    ]
    assert standin.root.list("sys/leases/lookup")["data"]["keys"] == ["database/"]
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.list("sys/leases/lookup/database/creds/ro")


def test_revoking_the_token_or_its_parent_revokes_its_leases(standin: Backend) -> None:
    engine = _database(standin)
    standin.root.sys.create_or_update_policy(
        "maker", 'path "auth/token/create" { capabilities = ["update"] }'
    )
    parent = standin.root.auth.token.create(policies=["db-ro", "maker"], ttl="1h")["auth"]
    child = standin.client(parent["client_token"]).auth.token.create(ttl="1h")["auth"]
    user = standin.client(child["client_token"]).secrets.database.generate_credentials("ro")
    standin.root.auth.token.revoke_accessor(parent["accessor"])
    assert user["data"]["username"] in engine.revoked


def test_lookup_renew_revoke(standin: Backend) -> None:
    engine = _database(standin, default_ttl=60, max_ttl=90)
    reader = _reader(standin)
    lease_id = reader.secrets.database.generate_credentials("ro")["lease_id"]
    looked = reader.sys.read_lease(lease_id)["data"]
    assert looked["id"] == lease_id and looked["renewable"] is True
    assert 55 <= looked["ttl"] <= 60 and looked["last_renewal"] is None
    renewed = reader.sys.renew_lease(lease_id, increment=3600)
    assert renewed["lease_id"] == lease_id and renewed["renewable"] is True
    assert renewed["lease_duration"] <= 90 and renewed["warnings"]
    assert reader.sys.read_lease(lease_id)["data"]["last_renewal"]
    answer = standin.root.sys.revoke_lease(lease_id)
    assert answer.status_code == 202 and answer.text == ""
    assert engine.revoked and not engine.live_users
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        standin.root.sys.read_lease(lease_id)
    assert err.value.errors == ["invalid lease"]


def test_sync_revoke_and_revoke_prefix(standin: Backend) -> None:
    engine = _database(standin)
    reader = _reader(standin)
    first = reader.secrets.database.generate_credentials("ro")["lease_id"]
    sync = standin.raw(
        "PUT", "sys/leases/revoke", standin.root_token, json={"lease_id": first, "sync": True}
    )
    assert sync.status_code == 204
    for _ in range(2):
        reader.secrets.database.generate_credentials("ro")
    assert standin.root.sys.revoke_prefix("database/creds/ro").status_code == 202
    assert len(engine.revoked) == 3
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.sys.revoke_prefix("database/creds/ro")  # sudo path


def test_a_failing_backend_revocation_is_logged_and_the_rest_goes_on(
    standin: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _database(standin)
    reader = _reader(standin)
    reader.secrets.database.generate_credentials("ro")
    engine.fail_revoke = True
    with caplog.at_level(logging.WARNING):
        assert standin.root.sys.revoke_prefix("database/creds").status_code == 202
    assert "database unreachable" in caplog.text
    engine.fail_revoke = False
    assert reader.secrets.database.generate_credentials("ro")["data"]["username"]


def test_database_role_and_config_routes(standin: Backend) -> None:
    engine = _database(standin)
    root = standin.root
    assert root.list("database/roles")["data"]["keys"] == ["ro"]
    assert root.read("database/roles/ro")["data"]["db_name"] == "pg"
    assert "password" not in root.read("database/config/pg")["data"]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="empty database name"):
        root.write("database/roles/bad", creation_statements=["x"])
    root.delete("database/roles/ro")
    assert engine.list_roles() == []
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown role"):
        root.secrets.database.generate_credentials("ro")
    root.sys.disable_secrets_engine("database")
    assert engine.closed


def test_unknown_leases(vault: Backend) -> None:
    root = vault.root
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        root.sys.read_lease("database/creds/ro/unknownunknownunknown000")
    assert err.value.errors == ["invalid lease"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        root.sys.renew_lease("database/creds/ro/unknownunknownunknown000")
    assert err.value.errors == ["lease not found"]
    assert root.sys.revoke_lease("database/creds/ro/unknownunknownunknown000").status_code == 202
    empty = vault.raw("PUT", "sys/leases/lookup", vault.root_token, json={"lease_id": ""})
    assert empty.status_code == 400
    assert empty.json()["errors"] == ["lease_id must be specified"]
