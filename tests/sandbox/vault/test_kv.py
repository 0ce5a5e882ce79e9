"""kv-v2 at secret/ like dev mode: versions, check-and-set, listing, deletes."""

from __future__ import annotations

from collections.abc import Callable

import hvac.exceptions
import pytest

from tests.sandbox.vault.conftest import Backend

pytestmark = pytest.mark.integration


def test_round_trip_with_versions(vault: Backend, unique: Callable[[str], str]) -> None:
    kv = vault.root.secrets.kv.v2
    path = unique("app") + "/db"
    first = kv.create_or_update_secret(path, {"user": "a", "password": "1"})
    assert first["data"]["version"] == 1
    kv.create_or_update_secret(path, {"user": "a", "password": "2"})
    latest = kv.read_secret_version(path, raise_on_deleted_version=True)["data"]
    assert latest["data"] == {"user": "a", "password": "2"}
    assert latest["metadata"]["version"] == 2
    old = kv.read_secret_version(path, version=1, raise_on_deleted_version=True)["data"]
    assert old["data"]["password"] == "1"
    meta = kv.read_secret_metadata(path)["data"]
    assert meta["current_version"] == 2 and set(meta["versions"]) == {"1", "2"}


def test_check_and_set(vault: Backend, unique: Callable[[str], str]) -> None:
    kv = vault.root.secrets.kv.v2
    path = unique("cas")
    kv.create_or_update_secret(path, {"v": "1"}, cas=0)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        kv.create_or_update_secret(path, {"v": "2"}, cas=0)
    kv.create_or_update_secret(path, {"v": "2"}, cas=1)
    assert kv.read_secret_version(path, raise_on_deleted_version=True)["data"]["data"] == {"v": "2"}


def test_list_missing_and_deleted(vault: Backend, unique: Callable[[str], str]) -> None:
    kv = vault.root.secrets.kv.v2
    base = unique("tree")
    kv.create_or_update_secret(f"{base}/a", {"x": "1"})
    kv.create_or_update_secret(f"{base}/sub/b", {"x": "2"})
    assert kv.list_secrets(base)["data"]["keys"] == ["a", "sub/"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.list_secrets(unique("nothing-here"))
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(unique("missing"), raise_on_deleted_version=True)
    kv.delete_latest_version_of_secret(f"{base}/a")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(f"{base}/a", raise_on_deleted_version=True)
    kv.undelete_secret_versions(f"{base}/a", versions=[1])
    assert kv.read_secret_version(f"{base}/a", raise_on_deleted_version=True)["data"]["data"]
    kv.delete_metadata_and_all_versions(f"{base}/a")
    assert kv.list_secrets(base)["data"]["keys"] == ["sub/"]


def test_write_without_data_is_refused(vault: Backend, unique: Callable[[str], str]) -> None:
    answer = vault.raw("POST", f"secret/data/{unique('x')}", vault.root_token, json={})
    assert answer.status_code == 400
    assert answer.json()["errors"] == ["no data provided"]


def test_create_versus_update_capabilities(vault: Backend, unique: Callable[[str], str]) -> None:
    path = unique("cu")
    vault.root.sys.create_or_update_policy(
        "creator-only", f'path "secret/data/{path}" {{ capabilities = ["create"] }}'
    )
    token = vault.root.auth.token.create(policies=["creator-only"], ttl="1h")["auth"]
    client = vault.client(token["client_token"])
    client.secrets.kv.v2.create_or_update_secret(path, {"v": "1"})
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(path, {"v": "2"})


def test_cubbyhole_is_private_to_each_token(vault: Backend) -> None:
    one = vault.client(vault.root.auth.token.create(ttl="1h")["auth"]["client_token"])
    two = vault.client(vault.root.auth.token.create(ttl="1h")["auth"]["client_token"])
    one.write("cubbyhole/note", value="mine")
    assert one.read("cubbyhole/note")["data"] == {"value": "mine"}
    assert two.read("cubbyhole/note") is None  # 404: hvac's read answers None
