"""Vault's field parsing, templates and generators for the database engine (no server needed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from jitops.sandbox.vault.database_values import (
    comma_list,
    expiration_text,
    format_go_duration,
    generate_password,
    generate_username,
    glob_match,
    parse_bool,
    parse_duration,
    render,
    scram_sha256_verifier,
    split_statements,
    string_list,
    with_credentials,
)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("768h", 2764800),
        ("2d", 172800),
        ("", 0),
        (0, 0),
    ],
)
def test_durations_parse_like_vault(given: object, seconds: int) -> None:
    assert parse_duration(given, "default_ttl") == seconds


@pytest.mark.parametrize("given", ["5x", "h", "1h 30m", "-5", -5, True, [1], "1h30"])
def test_bad_durations_name_the_field(given: object) -> None:
    with pytest.raises(ValueError, match='for field "max_ttl"'):
        parse_duration(given, "max_ttl")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (30, "30s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (2764800, "768h0m0s"),
        (3661, "1h1m1s"),
    ],
)
def test_durations_print_like_go(seconds: int, text: str) -> None:
    assert format_go_duration(seconds) == text


def test_lists_booleans_and_globs() -> None:
    assert comma_list("a, b,,c ", "allowed_roles") == ("a", "b", "c")
    assert comma_list(["a", "b,c"], "allowed_roles") == ("a", "b", "c")
    assert comma_list(None, "allowed_roles") == ()
    assert string_list("CREATE ROLE x; GRANT y", "s") == ("CREATE ROLE x; GRANT y",)
    assert string_list(["a", "", "b"], "s") == ("a", "b")
    assert string_list("", "s") == ()
    with pytest.raises(ValueError, match='field "s"'):
        string_list(42, "s")
    assert parse_bool("false", "v") is False
    assert parse_bool("true", "v") is True
    with pytest.raises(ValueError, match='field "v"'):
        parse_bool("maybe", "v")
    assert glob_match("app-*", "app-reader")
    assert glob_match("*", "anything")
    assert glob_match("a?c", "a?c")
    assert not glob_match("a?c", "abc")  # only * is special
    assert not glob_match("app-*", "prod-app-reader")


def test_statements_split_on_semicolons_except_dollar_quoted_bodies() -> None:
    body = "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;"
    assert split_statements(("CREATE ROLE a;  GRANT x TO a ;", body, " ; ")) == [
        "CREATE ROLE a",
        "GRANT x TO a",
        body,
    ]


def test_templates_render_verbatim_and_urls_quote_credentials() -> None:
    text = render("'{{name}}' '{{password}}' {{unknown}}", {"name": "v-x", "password": "p'w"})
    assert text == "'v-x' 'p'w' {{unknown}}"
    url = "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres"
    assert with_credentials(url, "root", "p@ss/word") == (
        "postgresql://root:p%40ss%2Fword@127.0.0.1:5432/postgres"
    )
    dsn = "host=127.0.0.1 user={{username}} password={{password}}"
    assert with_credentials(dsn, "root", "pw") == "host=127.0.0.1 user=root password=pw"


def test_expiration_uses_gos_postgres_layout() -> None:
    moment = datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)
    assert expiration_text(moment) == "2026-01-02 15:04:05+0000"
    east = moment.astimezone(timezone(timedelta(hours=-7)))
    assert expiration_text(east) == "2026-01-02 08:04:05-0700"


def test_passwords_follow_vaults_default_policy() -> None:
    seen = {generate_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert re.fullmatch(r"[A-Za-z0-9-]{20}", password)
        assert re.search(r"[a-z]", password)
        assert re.search(r"[A-Z]", password)
        assert re.search(r"[0-9]", password)
        assert "-" in password


def test_usernames_follow_vaults_default_template() -> None:
    name = generate_username("token", "readonly", 1614294836)
    assert re.fullmatch(r"v-token-readonly-[A-Za-z0-9]{20}-1614294836", name)
    long = generate_username("oidc-someone-very-long", "prod-db-readonly", 1614294836)
    assert long.startswith("v-oidc-som-prod-db--")
    assert len(long) == len("v-oidc-som-prod-db--") + 20 + 1 + 10
    huge = generate_username("x" * 8, "y" * 8, 10**40)
    assert len(huge) == 63


def test_scram_verifier_has_postgresqls_layout_and_keys() -> None:
    salt = b"0123456789abcdef"
    verifier = scram_sha256_verifier("pencil", salt=salt)
    match = re.fullmatch(r"SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)", verifier)
    assert match
    assert base64.b64decode(match[1]) == salt
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64decode(match[2]) == hashlib.sha256(client_key).digest()
    assert scram_sha256_verifier("pencil") != scram_sha256_verifier("pencil")  # random salt
