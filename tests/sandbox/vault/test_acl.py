"""ACL contract: deny by default, exact 403 wording, glob priority, policy CRUD, sudo paths."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import hvac
import hvac.exceptions
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.sandbox.vault.acl import ACL, parse_policy
from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.hcl import HCLError, parse
from tests.sandbox.vault.conftest import Backend

DENIED = "1 error occurred:\n\t* permission denied\n\n"

POLICY = """
# readers of the app's secrets
path "secret/data/app/*" {
  capabilities = ["read"]
}
path "secret/data/app/admin" {   // one secret is off limits
  capabilities = ["deny"]
}
/* listing */
path "secret/metadata/app/*" { capabilities = ["list"] }
"""


def _client(vault: Backend, *policies: str) -> hvac.Client:
    auth = vault.root.auth.token.create(policies=list(policies), ttl="1h")["auth"]
    return vault.client(auth["client_token"])


@pytest.mark.integration
def test_a_token_can_do_only_what_its_policies_grant(vault: Backend) -> None:
    vault.root.sys.create_or_update_policy("app-reader", POLICY)
    kv = vault.root.secrets.kv.v2
    kv.create_or_update_secret("app/db", {"password": "x"})
    kv.create_or_update_secret("app/admin", {"password": "y"})
    kv.create_or_update_secret("other/db", {"password": "z"})
    reader = _client(vault, "app-reader")
    got = reader.secrets.kv.v2.read_secret_version("app/db", raise_on_deleted_version=True)
    assert got["data"]["data"] == {"password": "x"}
    assert reader.secrets.kv.v2.list_secrets("app")["data"]["keys"] == ["admin", "db"]
    attempts: list[Callable[[], object]] = [
        lambda: reader.secrets.kv.v2.read_secret_version(
            "app/admin", raise_on_deleted_version=True
        ),
        lambda: reader.secrets.kv.v2.read_secret_version("other/db", raise_on_deleted_version=True),
        lambda: reader.secrets.kv.v2.create_or_update_secret("app/db", {"password": "w"}),
        lambda: reader.sys.list_mounted_secrets_engines(),
        lambda: reader.sys.create_or_update_policy("mine", 'path "*" { capabilities = ["sudo"] }'),
    ]
    for denied in attempts:
        with pytest.raises(hvac.exceptions.Forbidden) as err:
            denied()
        assert err.value.errors == [DENIED]
    # the default policy still lets the token look itself up
    assert reader.auth.token.lookup_self()["data"]["policies"] == ["app-reader", "default"]


@pytest.mark.integration
def test_capabilities_self_reports_the_winning_rule(vault: Backend) -> None:
    vault.root.sys.create_or_update_policy(
        "prio",
        """
        path "secret/data/*" { capabilities = ["read"] }
        path "secret/data/team/+/config" { capabilities = ["update"] }
        path "secret/data/team/a*" { capabilities = ["list"] }
        path "secret/data/team/b/config" { capabilities = ["create"] }
        """,
    )
    client = _client(vault, "prio")
    paths = [
        "secret/data/x",
        "secret/data/team/z/config",
        "secret/data/team/a/config",
        "secret/data/team/b/config",
        "sys/mounts",
    ]
    body = client.adapter.post("/v1/sys/capabilities-self", json={"paths": paths})
    caps = body["data"]
    assert caps["secret/data/x"] == ["read"]
    assert caps["secret/data/team/z/config"] == ["update"]
    # a later first wildcard wins over an earlier one ("team/a*" beats "team/+/config")
    assert caps["secret/data/team/a/config"] == ["list"]
    assert caps["secret/data/team/b/config"] == ["create"]
    assert caps["sys/mounts"] == ["deny"]


@pytest.mark.integration
def test_policy_crud_and_the_builtin_policies(vault: Backend) -> None:
    root = vault.root
    root.sys.create_or_update_policy("crud-me", 'path "a/b" { capabilities = ["read"] }')
    assert "crud-me" in root.sys.list_acl_policies()["data"]["keys"]
    text = root.sys.read_acl_policy("crud-me")["data"]["policy"]
    assert 'path "a/b"' in text
    assert "default" in root.sys.list_policies()["data"]["policies"]
    root.sys.delete_acl_policy("crud-me")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.sys.read_acl_policy("crud-me")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.delete_policy("default")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.create_or_update_policy("root", 'path "*" { capabilities = ["read"] }')
    with pytest.raises(hvac.exceptions.InvalidRequest, match="failed to parse policy"):
        root.sys.create_or_update_policy("broken", 'path "x" { capabilities = ["read"')


# -- the parser and matcher without a server --------------------------------------------------


def test_hcl_parser_reads_blocks_comments_and_objects() -> None:
    doc = parse(
        '# comment\npath "a/*" {\n  capabilities = ["read", "list"] // trailing\n'
        '  allowed_parameters = { "ttl" = [] }\n}\n/* block */\npath "b" { policy = "write" }\n'
    )
    assert doc["path"]["a/*"]["capabilities"] == ["read", "list"]
    assert doc["path"]["a/*"]["allowed_parameters"] == {"ttl": []}
    assert parse_policy("p", 'path "b" { policy = "write" }')[0].capabilities >= {"create"}


def test_json_policies_are_accepted() -> None:
    rules = parse_policy("j", '{"path": {"secret/*": {"capabilities": ["read"]}}}')
    assert ACL([rules]).allows("secret/x", "read")


def test_unknown_capabilities_are_refused() -> None:
    with pytest.raises(VaultAPIError, match='invalid capability "reed"'):
        parse_policy("p", 'path "x" { capabilities = ["reed"] }')


def test_deny_in_any_policy_wins_on_the_same_path() -> None:
    grant = parse_policy("a", 'path "s/x" { capabilities = ["read"] }')
    deny = parse_policy("b", 'path "s/x" { capabilities = ["deny"] }')
    assert not ACL([grant, deny]).allows("s/x", "read")
    assert ACL([grant]).allows("s/x", "read")


def test_plus_matches_exactly_one_segment() -> None:
    acl = ACL([parse_policy("p", 'path "s/+/x" { capabilities = ["read"] }')])
    assert acl.allows("s/a/x", "read")
    assert not acl.allows("s/a/b/x", "read")
    assert not acl.allows("s/x", "read")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_the_policy_parser_never_crashes(text: str) -> None:
    try:
        parse_policy("fuzz", text)
    except VaultAPIError as exc:
        assert exc.status == 400
        assert exc.errors[0].startswith("failed to parse policy")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_the_hcl_tokenizer_fails_only_with_hcl_errors(text: str) -> None:
    with contextlib.suppress(HCLError):
        parse(text)


@pytest.mark.integration
def test_listing_with_or_without_a_trailing_slash(vault: Backend) -> None:
    vault.root.sys.create_or_update_policy(
        "lister", 'path "secret/metadata/team/*" { capabilities = ["list"] }'
    )
    vault.root.secrets.kv.v2.create_or_update_secret("team/x", {"a": "b"})
    client = _client(vault, "lister")
    for path in ("secret/metadata/team", "secret/metadata/team/"):
        answer = vault.raw("LIST", path, client.token)
        assert answer.status_code == 200, path
        assert answer.json()["data"]["keys"] == ["x"]
    assert vault.raw("LIST", "secret/metadata/other/", client.token).status_code == 403


_SEGMENT = st.text(alphabet="abc", min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=4), st.integers(min_value=0, max_value=3))
def test_an_exact_rule_beats_every_wildcard_rule(segments: list[str], cut: int) -> None:
    path = "/".join(segments)
    prefix = "/".join(segments[: min(cut, len(segments) - 1)])
    glob = (prefix + "/" if prefix else "") + "*"
    plus = "/".join("+" if i == cut % len(segments) else s for i, s in enumerate(segments))
    policy = (
        f'path "{glob}" {{ capabilities = ["read"] }}\n'
        f'path "{plus}" {{ capabilities = ["list"] }}\n'
        f'path "{path}" {{ capabilities = ["update"] }}\n'
    )
    acl = ACL([parse_policy("p", policy)])
    assert acl.capabilities(path) == frozenset({"update"})
