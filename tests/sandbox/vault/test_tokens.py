"""Token store contract: orphans, parent/child revocation, TTLs, num_uses, lookups, roles."""

from __future__ import annotations

import time
from collections.abc import Callable

import hvac
import hvac.exceptions
import pytest

from tests.sandbox.vault.conftest import Backend, token_alive, wait_until

pytestmark = pytest.mark.integration


def _create(client: hvac.Client, **kw: object) -> dict[str, object]:
    return dict(client.auth.token.create(**kw)["auth"])


def _policy(vault: Backend, name: str, hcl: str) -> None:
    vault.root.sys.create_or_update_policy(name, hcl)


def test_create_answers_with_an_auth_block(vault: Backend) -> None:
    answer = vault.root.auth.token.create(
        policies=["reader"], ttl="1h", meta={"grant": "g1"}, display_name="jit"
    )
    assert answer["data"] is None and answer["lease_id"] == ""
    auth = answer["auth"]
    assert auth["client_token"] and auth["accessor"]
    assert auth["policies"] == ["default", "reader"]
    assert auth["token_policies"] == ["default", "reader"]
    assert auth["metadata"] == {"grant": "g1"}
    assert 3590 <= auth["lease_duration"] <= 3600
    assert auth["renewable"] is True and auth["orphan"] is False
    assert auth["token_type"] == "service"
    info = vault.root.auth.token.lookup(auth["client_token"])["data"]
    assert info["display_name"] == "token-jit"
    assert info["meta"] == {"grant": "g1"}
    assert info["path"] == "auth/token/create"


def test_orphan_outlives_its_creators_short_token(vault: Backend) -> None:
    _policy(vault, "maker", 'path "auth/token/create*" { capabilities = ["update"] }')
    creator = _create(vault.root, policies=["maker"], ttl="1s")
    maker = vault.client(str(creator["client_token"]))
    orphan = dict(maker.auth.token.create_orphan(policies=["maker"], ttl="1h")["auth"])
    child = _create(vault.client(str(creator["client_token"])), ttl="1h")
    assert orphan["orphan"] is True
    assert wait_until(lambda: not token_alive(vault, str(creator["client_token"])), timeout=4)
    assert token_alive(vault, str(orphan["client_token"]))
    assert wait_until(lambda: not token_alive(vault, str(child["client_token"])), timeout=2)


def test_children_die_with_their_parent_not_with_revoke_orphan(vault: Backend) -> None:
    parent = _create(vault.root, ttl="1h")
    pclient = vault.client(str(parent["client_token"]))
    child = _create(pclient, ttl="1h")
    grandchild = _create(vault.client(str(child["client_token"])), ttl="1h")
    vault.root.auth.token.revoke(str(parent["client_token"]))
    assert not token_alive(vault, str(child["client_token"]))
    assert not token_alive(vault, str(grandchild["client_token"]))

    parent = _create(vault.root, ttl="1h")
    child = _create(vault.client(str(parent["client_token"])), ttl="1h")
    vault.root.auth.token.revoke_and_orphan_children(str(parent["client_token"]))
    assert not token_alive(vault, str(parent["client_token"]))
    assert token_alive(vault, str(child["client_token"]))
    assert vault.root.auth.token.lookup(str(child["client_token"]))["data"]["orphan"] is True


def test_ttl_kills_a_token_within_a_second(vault: Backend) -> None:
    token = str(_create(vault.root, ttl="1s")["client_token"])
    assert token_alive(vault, token)
    start = time.monotonic()
    assert wait_until(lambda: not token_alive(vault, token), timeout=4)
    assert time.monotonic() - start < 2.5
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.client(token).auth.token.lookup_self()
    assert vault.client(token).is_authenticated() is False


def test_explicit_max_ttl_caps_renewal(vault: Backend) -> None:
    auth = _create(vault.root, ttl="2s", explicit_max_ttl="3s")
    client = vault.client(str(auth["client_token"]))
    renewed = client.auth.token.renew_self(increment="1h")
    assert renewed["auth"]["lease_duration"] <= 3
    info = client.auth.token.lookup_self()["data"]
    assert info["explicit_max_ttl"] == 3
    assert wait_until(lambda: not token_alive(vault, str(auth["client_token"])), timeout=5)


def test_renew_of_a_non_renewable_token_is_refused(vault: Backend) -> None:
    auth = _create(vault.root, ttl="1h", renewable=False)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not renewable"):
        vault.client(str(auth["client_token"])).auth.token.renew_self()


def test_num_uses_kills_the_token_after_n_requests(vault: Backend) -> None:
    token = str(_create(vault.root, ttl="1h", num_uses=2)["client_token"])
    client = vault.client(token)
    assert client.auth.token.lookup_self()["data"]["num_uses"] == 1
    client.auth.token.lookup_self()
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup_self()


def test_lookup_of_unknown_token_is_403_bad_token(vault: Backend) -> None:
    with pytest.raises(hvac.exceptions.Forbidden) as err:
        vault.root.auth.token.lookup("hvs.doesnotexist000000000000")
    assert err.value.errors == ["bad token"]


def test_lookup_accessor_hides_the_token_and_refuses_unknown_accessors(vault: Backend) -> None:
    auth = _create(vault.root, ttl="1h", meta={"jitops_grant": "g"})
    data = vault.root.auth.token.lookup_accessor(str(auth["accessor"]))["data"]
    assert data["id"] == "" and data["meta"] == {"jitops_grant": "g"}
    assert data["accessor"] == auth["accessor"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        vault.root.auth.token.lookup_accessor("nosuchaccessor000000000000")
    assert "invalid accessor" in err.value.errors


def test_revoke_accessor_is_idempotent(vault: Backend) -> None:
    auth = _create(vault.root, ttl="1h")
    first = vault.root.auth.token.revoke_accessor(str(auth["accessor"]))
    assert first.status_code == 204
    assert not token_alive(vault, str(auth["client_token"]))
    again = vault.root.auth.token.revoke_accessor(str(auth["accessor"]))
    # current Vault: success with a warning (200), not an error
    assert again["warnings"] == ["No token found with this accessor"]


def test_revoke_of_an_unknown_token_is_204(vault: Backend) -> None:
    assert vault.root.auth.token.revoke("hvs.unknownunknownunknown0").status_code == 204


def test_child_policies_must_be_a_subset_of_the_parent(vault: Backend) -> None:
    _policy(vault, "small", 'path "auth/token/create" { capabilities = ["update"] }')
    parent = vault.client(str(_create(vault.root, policies=["small"], ttl="1h")["client_token"]))
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        parent.auth.token.create(policies=["admin"], ttl="1h")
    assert err.value.errors == ["child policies must be subset of parent"]


def test_no_parent_needs_root_or_sudo(vault: Backend) -> None:
    _policy(vault, "creator", 'path "auth/token/create" { capabilities = ["update"] }')
    creator = vault.client(str(_create(vault.root, policies=["creator"], ttl="1h")["client_token"]))
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        creator.auth.token.create(no_parent=True, ttl="1h")
    assert err.value.errors == ["root or sudo privileges required to create orphan token"]
    assert _create(vault.root, no_parent=True, ttl="1h")["orphan"] is True


def test_token_role_makes_orphans_with_allowed_policies_only(
    vault: Backend, unique: Callable[[str], str]
) -> None:
    role = unique("grants")
    _policy(vault, "jit-db", 'path "database/creds/ro" { capabilities = ["read"] }')
    _policy(
        vault,
        "issuer",
        f'path "auth/token/create/{role}" {{ capabilities = ["create", "update"] }}',
    )
    vault.root.write(
        f"auth/token/roles/{role}",
        allowed_policies=["jit-db"],
        orphan=True,
        renewable=False,
        token_explicit_max_ttl=3600,
    )
    assert vault.root.read(f"auth/token/roles/{role}")["data"]["allowed_policies"] == ["jit-db"]
    issuer = vault.client(str(_create(vault.root, policies=["issuer"], ttl="1h")["client_token"]))
    auth = dict(
        issuer.auth.token.create(role_name=role, policies=["jit-db"], ttl="2h", renewable=False)[
            "auth"
        ]
    )
    assert auth["orphan"] is True and auth["renewable"] is False
    assert auth["policies"] == ["default", "jit-db"]
    assert auth["lease_duration"] <= 3600
    info = vault.root.auth.token.lookup(str(auth["client_token"]))["data"]
    assert info["role"] == role and info["path"] == f"auth/token/create/{role}"
    with pytest.raises(hvac.exceptions.InvalidRequest, match="subset"):
        issuer.auth.token.create(role_name=role, policies=["admin"], ttl="1h")
    # plain create is not granted to the issuer
    with pytest.raises(hvac.exceptions.Forbidden):
        issuer.auth.token.create(policies=["jit-db"], ttl="1h")
    assert role in vault.root.list("auth/token/roles")["data"]["keys"]


def test_accessor_listing_needs_sudo(vault: Backend) -> None:
    _policy(vault, "lister", 'path "auth/token/accessors" { capabilities = ["list"] }')
    _policy(vault, "sudoer", 'path "auth/token/accessors" { capabilities = ["list", "sudo"] }')
    auth = _create(vault.root, ttl="1h")
    plain = vault.client(str(_create(vault.root, policies=["lister"], ttl="1h")["client_token"]))
    sudo = vault.client(str(_create(vault.root, policies=["sudoer"], ttl="1h")["client_token"]))
    with pytest.raises(hvac.exceptions.Forbidden):
        plain.list("auth/token/accessors")
    assert auth["accessor"] in sudo.list("auth/token/accessors")["data"]["keys"]


def test_no_default_policy_and_periodic_tokens(vault: Backend) -> None:
    auth = _create(vault.root, policies=["reader"], no_default_policy=True, ttl="1h")
    assert auth["policies"] == ["reader"]
    # without the default policy the token cannot even look itself up
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.client(str(auth["client_token"])).auth.token.lookup_self()
    _policy(vault, "creator2", 'path "auth/token/create" { capabilities = ["update"] }')
    creator = vault.client(
        str(_create(vault.root, policies=["creator2"], ttl="1h")["client_token"])
    )
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        creator.auth.token.create(period="1h")
    assert err.value.errors == ["root or sudo privileges required to create periodic token"]
    periodic = _create(vault.root, policies=["reader"], period="10m")
    info = vault.root.auth.token.lookup(str(periodic["client_token"]))["data"]
    assert info["period"] == 600 and 590 <= info["ttl"] <= 600


def test_renew_self_extends_a_short_token(vault: Backend) -> None:
    auth = _create(vault.root, ttl="2s")
    client = vault.client(str(auth["client_token"]))
    renewed = client.auth.token.renew_self(increment="1h")
    assert 3590 <= renewed["auth"]["lease_duration"] <= 3600
    time.sleep(2.2)
    assert token_alive(vault, str(auth["client_token"]))


def test_role_path_suffix_and_restricted_use_parents(
    vault: Backend, unique: Callable[[str], str]
) -> None:
    role = unique("suffixed")
    vault.root.write(f"auth/token/roles/{role}", path_suffix="v2", allowed_policies=["default"])
    auth = _create(vault.root, role_name=role, ttl="1h")
    info = vault.root.auth.token.lookup(str(auth["client_token"]))["data"]
    assert info["path"] == f"auth/token/create/{role}/v2"
    limited = vault.client(str(_create(vault.root, ttl="1h", num_uses=5)["client_token"]))
    with pytest.raises(hvac.exceptions.InvalidRequest) as err:
        limited.auth.token.create(ttl="1h")
    assert err.value.errors == ["restricted use token cannot generate child tokens"]
