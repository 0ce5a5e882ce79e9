"""The HTTP surface: exact Content-Type, error bodies, 404/405, sys endpoints, mounts, AppRole."""

from __future__ import annotations

from collections.abc import Callable

import hvac.exceptions
import pytest

from tests.sandbox.vault.conftest import Backend

pytestmark = pytest.mark.integration


def test_content_type_is_exactly_application_json(vault: Backend) -> None:
    ok = vault.raw("GET", "auth/token/lookup-self", vault.root_token)
    denied = vault.raw("GET", "auth/token/lookup-self", "hvs.bogusbogusbogusbogus0000")
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/json"
    assert denied.status_code == 403 and denied.headers["Content-Type"] == "application/json"
    assert "permission denied" in denied.json()["errors"][0]
    # so hvac can read the errors list
    with pytest.raises(hvac.exceptions.Forbidden) as err:
        vault.client("hvs.bogusbogusbogusbogus0000").auth.token.lookup_self()
    assert err.value.errors and "permission denied" in err.value.errors[0]


def test_no_token_is_403_and_unknown_paths_are_404(vault: Backend) -> None:
    assert vault.raw("GET", "secret/data/x").status_code == 403
    missing = vault.raw("GET", "nosuchmount/x", vault.root_token)
    assert missing.status_code == 404 and "errors" in missing.json()


def test_wrong_method_is_405(vault: Backend) -> None:
    answer = vault.raw("DELETE", "auth/token/lookup-self", vault.root_token)
    assert answer.status_code == 405
    assert answer.json()["errors"]


def test_health_seal_status_and_is_authenticated(vault: Backend) -> None:
    health = vault.client().sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
    assert vault.client().sys.read_seal_status()["sealed"] is False
    assert vault.client().sys.is_initialized() is True
    assert vault.root.is_authenticated() is True
    assert vault.client("hvs.bogusbogusbogusbogus0000").is_authenticated() is False


def test_secret_engine_mounts(vault: Backend, unique: Callable[[str], str]) -> None:
    root = vault.root
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["type"] == "kv"
    assert mounts["secret/"]["options"]["version"] == "2"
    assert "cubbyhole/" in mounts and "sys/" in mounts
    path = unique("kv")
    root.sys.enable_secrets_engine("kv", path=path, options={"version": "2"})
    with pytest.raises(hvac.exceptions.InvalidRequest, match="already in use"):
        root.sys.enable_secrets_engine("kv", path=path)
    root.secrets.kv.v2.create_or_update_secret("a", {"b": "c"}, mount_point=path)
    assert root.secrets.kv.v2.read_secret_version(
        "a", mount_point=path, raise_on_deleted_version=True
    )["data"]["data"] == {"b": "c"}
    root.sys.disable_secrets_engine(path)
    assert f"{path}/" not in root.sys.list_mounted_secrets_engines()["data"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.enable_secrets_engine("no-such-engine-type", path=unique("x"))


def test_auth_methods_need_sudo(vault: Backend, unique: Callable[[str], str]) -> None:
    vault.root.sys.create_or_update_policy(
        "auth-admin", 'path "sys/auth/*" { capabilities = ["create", "update"] }'
    )
    token = vault.root.auth.token.create(policies=["auth-admin"], ttl="1h")["auth"]
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.client(token["client_token"]).sys.enable_auth_method("jwt", path=unique("j"))
    path = unique("jwt")
    vault.root.sys.enable_auth_method("jwt", path=path)
    methods = vault.root.sys.list_auth_methods()["data"]
    assert methods[f"{path}/"]["type"] == "jwt" and methods["token/"]["type"] == "token"


def test_approle_login(vault: Backend, unique: Callable[[str], str]) -> None:
    root = vault.root
    path = unique("approle")
    root.sys.enable_auth_method("approle", path=path)
    root.sys.create_or_update_policy("ci", 'path "secret/data/ci/*" { capabilities = ["read"] }')
    root.auth.approle.create_or_update_approle(
        "ci", token_policies=["ci"], token_ttl="10m", mount_point=path
    )
    role_id = root.auth.approle.read_role_id("ci", mount_point=path)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("ci", mount_point=path)["data"]["secret_id"]
    client = vault.client()
    auth = client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=path)
    assert auth["auth"]["policies"] == ["ci", "default"]
    assert auth["auth"]["lease_duration"] <= 600
    assert client.is_authenticated()
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.client().auth.approle.login(role_id=role_id, secret_id="wrong", mount_point=path)


def test_health_answers_head_as_hvac_sends_by_default(vault: Backend) -> None:
    answer = vault.client().sys.read_health_status()
    assert answer.status_code == 200
    assert answer.text == ""


def test_revoke_prefix_on_a_token_role_revokes_its_tokens(
    vault: Backend, unique: Callable[[str], str]
) -> None:
    role = unique("prefixed")
    vault.root.write(f"auth/token/roles/{role}", allowed_policies=["default"], orphan=True)
    made = vault.root.auth.token.create(role_name=role, ttl="1h")["auth"]
    other = vault.root.auth.token.create(ttl="1h")["auth"]
    vault.root.sys.revoke_prefix(f"auth/token/create/{role}")
    assert vault.raw("GET", "auth/token/lookup-self", made["client_token"]).status_code == 403
    assert vault.raw("GET", "auth/token/lookup-self", other["client_token"]).status_code == 200


def test_concurrent_clients_are_served_consistently(standin: Backend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(_: int) -> str:
        client = standin.root
        auth = client.auth.token.create(ttl="1h")["auth"]
        client.auth.token.lookup_accessor(auth["accessor"])
        return str(auth["accessor"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        accessors = list(pool.map(work, range(80)))
    listed = set(standin.root.list("auth/token/accessors")["data"]["keys"])
    assert len(set(accessors)) == 80 and set(accessors) <= listed
