"""Response wrapping contract: any response wraps; unwrap once; lookup, rewrap, wrap."""

from __future__ import annotations

import time

import hvac.exceptions
import pytest

from tests.sandbox.vault.conftest import Backend, token_alive

pytestmark = pytest.mark.integration

INVALID = ["wrapping token is not valid or does not exist"]


def test_a_wrapped_token_unwraps_exactly_once(vault: Backend) -> None:
    wrapped = vault.root.auth.token.create(policies=["default"], ttl="1h", wrap_ttl="60s")
    assert wrapped["data"] is None and wrapped["auth"] is None
    info = wrapped["wrap_info"]
    assert info["ttl"] == 60
    assert info["creation_path"] == "auth/token/create"
    assert info["token"] and info["accessor"] and info["wrapped_accessor"]
    assert info["creation_time"]
    anonymous = vault.client()
    inner = anonymous.sys.unwrap(info["token"])
    token = inner["auth"]["client_token"]
    assert inner["auth"]["accessor"] == info["wrapped_accessor"]
    assert token_alive(vault, token)
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        anonymous.sys.unwrap(info["token"])
    assert err.value.errors == INVALID


def test_any_read_can_be_wrapped(vault: Backend) -> None:
    vault.root.secrets.kv.v2.create_or_update_secret("wrapped/x", {"k": "v"})
    answer = vault.root.adapter.get("/v1/secret/data/wrapped/x", wrap_ttl="30s")
    assert answer["data"] is None
    token = answer["wrap_info"]["token"]
    assert answer["wrap_info"]["creation_path"] == "secret/data/wrapped/x"
    assert not answer["wrap_info"].get("wrapped_accessor")  # not an auth response
    assert vault.client().sys.unwrap(token)["data"]["data"] == {"k": "v"}


def test_unknown_and_expired_wrapping_tokens_are_refused(vault: Backend) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        vault.client().sys.unwrap("hvs.notawrappingtoken0000000")
    assert err.value.errors == INVALID
    info = vault.root.auth.token.create(ttl="1h", wrap_ttl="1s")["wrap_info"]
    time.sleep(1.6)
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        vault.client().sys.unwrap(info["token"])
    assert err.value.errors == INVALID


def test_unwrap_with_the_wrapping_token_as_client_token(vault: Backend) -> None:
    info = vault.root.auth.token.create(ttl="1h", wrap_ttl="60s")["wrap_info"]
    answer = vault.client(info["token"]).sys.unwrap()
    assert answer["auth"]["client_token"]


def test_lookup_is_unauthenticated_and_rewrap_invalidates_the_old_token(vault: Backend) -> None:
    info = vault.root.auth.token.create(ttl="1h", wrap_ttl="120s")["wrap_info"]
    looked = vault.raw("POST", "sys/wrapping/lookup", json={"token": info["token"]})
    assert looked.status_code == 200
    data = looked.json()["data"]
    assert data["creation_path"] == "auth/token/create"
    assert data["creation_ttl"] == 120
    rewrapped = vault.root.adapter.post("/v1/sys/wrapping/rewrap", json={"token": info["token"]})
    fresh = rewrapped["wrap_info"]
    assert fresh["token"] != info["token"] and fresh["ttl"] == 120
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.client().sys.unwrap(info["token"])
    assert vault.client().sys.unwrap(fresh["token"])["auth"]["client_token"]


def test_sys_wrapping_wrap_wraps_arbitrary_data(vault: Backend) -> None:
    answer = vault.root.sys.wrap(payload={"note": "hello"}, ttl="60s")
    token = answer["wrap_info"]["token"]
    assert answer["wrap_info"]["creation_path"] == "sys/wrapping/wrap"
    assert vault.client().sys.unwrap(token)["data"] == {"note": "hello"}
