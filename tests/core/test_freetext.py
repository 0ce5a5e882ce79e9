"""The free-text lint: every kind is caught, ordinary operational text passes, nothing echoes."""

from __future__ import annotations

import json
import random
import string
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.core import freetext
from jitops.core.checks import check_grant
from jitops.core.grant import Grant
from jitops.core.policy import load_policy
from jitops.core.schema import schema
from tests.conftest import EXAMPLE_POLICY

_rng = random.Random(23)  # fixed: the table is the same on every run
RANDOM_KEY = "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(32))
RANDOM_B64 = "".join(_rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))

#: (kind, text holding one of that kind). Values are made up or published examples.
CAUGHT = [
    ("private_key", "pasting -----BEGIN OPENSSH PRIVATE KEY----- from the bastion"),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----"),
    ("private_key", "-----BEGIN PRIVATE KEY-----"),
    ("aws_access_key", "the job uses AKIAIOSFODNN7EXAMPLE and fails"),
    ("aws_access_key", "ASIAY34FZKBOKMUTVV7A"),
    ("github_token", "ci token ghp_" + "a1B2c3D4e5" * 3 + "abcdef broke"),
    ("github_token", "gho_" + "Z9y8X7w6V5" * 3 + "u4T3s2"),
    ("github_token", "ghs_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("github_token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"),
    ("vault_token", "use hvs.CAESIJ1234567890abcdefghijklmnopqrstUVWX"),
    ("vault_token", "hvb.AAAAAQJ1234567890abcdefghijklmnopqrst"),
    ("vault_token", "the old s.Abcdefghijklmnopqrstuvwx token"),
    ("slack_token", "bot xoxb-1234567890-1234567890-abcdefghijklmnop"),
    ("slack_token", "xoxp-2222222222-3333333333-4444444444-abcdefabcdef"),
    ("slack_token", "post to https://hooks.slack.com/services/T0000/B0000/XXXXXXXX"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("url_credentials", "connect postgresql://admin:hunter2@db.example.com/orders"),
    ("url_credentials", "https://deploy:pa55word@registry.acme.internal/v2/"),
    ("high_entropy", f"the password is {RANDOM_KEY}"),
    ("high_entropy", f"aws secret {RANDOM_B64}"),
    ("email", "customer jane.doe@example.com complained"),
    ("email", "ping ops+oncall@acme.co.uk"),
    ("phone", "call the customer on +44 20 7946 0958"),
    ("phone", "their number is (415) 555-2671"),
    ("phone", "+49 30 901820"),
    ("payment_card", "card 4111 1111 1111 1111 was declined"),
    ("payment_card", "5555-5555-5555-4444"),
    ("payment_card", "378282246310005"),
    ("payment_card", "amex 3782 822463 10005"),
    ("iban", "refund to DE89 3704 0044 0532 0130 00 today"),
    ("iban", "GB82WEST12345698765432"),
    ("iban", "FR1420041010050500013M02606"),
    ("iban", "AZ75 NABZ ABCD EFGH IJKL MNOP QRST"),  # a BBAN of letters only: no digit run
]

#: Operational text that must pass (each must match no kind at all).
BENIGN = [
    "Investigate incident INC-1234 affecting the orders service in region 3",
    "JIRA-99",
    "OPS-42 follow-up",
    "slow queries on db-1.prod.acme.internal since 09:40",
    "backfill orders.line_items and public.customers_2024",
    "revert a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    "job 123e4567-e89b-12d3-a456-426614174000 is stuck",
    "need 2h30m, maybe 1d",
    "since 2026-11-23T10:00:00Z",
    "outage on 2026-05-23 14:30 UTC",
    "upgrade from v1.2.3 to 14.10.0-rc.1",
    "hosts 10.0.0.1, 192.168.100.200 and fe80::1ff:fe23:4567:890a",
    "https://github.com/acme/platform-infra/pull/1234",
    "read OrdersLineItemsArchive2024",
    "migration 20261123101500_add_index failed",
    "epoch 1764590400000",
    "clone ssh://git@github.com/acme/repo and git@github.com:acme/repo.git",
    "orders_line_items_archive_2024_q3_backfill",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "order 12345678 refund",
    "between 2490-01-01 0839-01-07",
    "see https://acme.atlassian.net/browse/OPS-12345",
]


@pytest.mark.parametrize(("kind", "text"), CAUGHT)
def test_each_kind_is_caught(kind: str, text: str) -> None:
    assert kind in freetext.scan(text)


@pytest.mark.parametrize("text", BENIGN)
def test_operational_text_passes(text: str) -> None:
    assert freetext.scan(text) == []


def test_every_kind_has_a_caught_example() -> None:
    assert {kind for kind, _ in CAUGHT} == set(freetext.KINDS)


def test_check_digits_decide_cards_and_ibans() -> None:
    assert freetext.scan("card 4111 1111 1111 1112") == []  # Luhn fails
    assert freetext.scan("DE88 3704 0044 0532 0130 00") == []  # IBAN check digits fail
    assert freetext.scan("+44 20 7946 095") == []  # too short for a UK number


# -- a property: ticket ids, hostnames, table names, SHAs, UUIDs, durations, dates, versions and
# addresses, in any order and any number, never trip the lint
_word = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=10)
_benign_token = st.one_of(
    st.builds(
        lambda p, n: f"{p}-{n}",
        st.sampled_from(["INC", "JIRA", "OPS", "SEC"]),
        st.integers(1, 99999),
    ),
    st.builds(lambda a, n, b: f"{a}-{n}.{b}.acme.internal", _word, st.integers(0, 99), _word),
    st.builds(lambda a, b: f"{a}.{b}_{a}", _word, _word),
    st.binary(min_size=20, max_size=20).map(bytes.hex),
    st.uuids().map(str),
    st.builds(lambda h, m: f"{h}h{m}m", st.integers(0, 48), st.integers(0, 59)),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.dates().map(lambda d: d.isoformat()),
    st.builds(lambda *v: "v{}.{}.{}".format(*v), *[st.integers(0, 99)] * 3),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    _word,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_benign_token, min_size=1, max_size=12), st.sampled_from([" ", ", ", "; "]))
def test_benign_texts_never_trip_the_lint(tokens: list[str], sep: str) -> None:
    text = sep.join(tokens)
    assert freetext.scan(text) == [], text


_ascii_text = st.text(
    alphabet=string.ascii_letters + string.digits + " .-()/+@:_=\n" + "AZ0123456789",
    max_size=120,
)


@settings(max_examples=500, deadline=None)
@given(_ascii_text, st.sampled_from([text for _, text in CAUGHT] + BENIGN + [""]), _ascii_text)
def test_the_quick_look_never_hides_what_the_full_look_finds(
    before: str, middle: str, after: str
) -> None:
    text = before + middle + after
    assert freetext.scan(text) == freetext._scan(text)


# -- judging a grant: path:line, field, kind; never the text
def _grant(reason: str, ticket: str | None = "INC-1234") -> Grant:
    return Grant(
        id="db-octocat-1",
        path="grants/db-octocat-1.yaml",
        requester="octocat",
        role="prod-db-readonly",
        duration=timedelta(hours=2),
        duration_text="2h",
        reason=reason,
        ticket=ticket,
        lines={"reason": 4, "ticket": 5},
    )


def _policy(extra: str = "") -> object:
    text = EXAMPLE_POLICY.read_text().replace("settings:\n", "settings:\n" + extra, 1)
    return load_policy({"policies/policy.yaml": text.encode()})


@pytest.mark.parametrize(("kind", "text"), CAUGHT)
def test_check_grant_names_field_line_and_kind_never_the_text(kind: str, text: str) -> None:
    problems = check_grant(_grant(f"Debug the orders service: {text}"), _policy())  # type: ignore[arg-type]
    mine = [p for p in problems if "free text" in p.message]
    assert mine, problems
    assert all(p.line == 4 and p.severity == "error" for p in mine)
    assert any(f"reason contains {freetext.KINDS[kind]} ({kind})" in p.message for p in mine)
    for p in problems:
        for secret_part in _sensitive_parts(text):
            assert secret_part not in str(p), (secret_part, str(p))


def _sensitive_parts(text: str) -> list[str]:
    """The words of ``text`` that carry the value (long enough not to be ordinary words)."""
    words = text.replace("(", " ").replace(")", " ").split()
    return [w for w in words if sum(c.isdigit() for c in w) >= 3 or len(w) >= 16 or "@" in w]


def test_a_refused_ticket_is_not_quoted_by_the_ticket_pattern_message() -> None:
    problems = check_grant(_grant("Debug the orders service", "4111111111111111"), _policy())  # type: ignore[arg-type]
    text = "\n".join(map(str, problems))
    assert "ticket contains a payment card number (payment_card)" in text
    assert "does not match the ticket pattern" in text  # still said, without the value
    assert "4111" not in text


def test_a_policy_may_allow_kinds() -> None:
    reason = "customer jane.doe@example.com, +44 20 7946 0958, key " + RANDOM_KEY
    strict = check_grant(_grant(reason), _policy())  # type: ignore[arg-type]
    kinds = ("(email)", "(phone)", "(high_entropy)")
    assert {m for p in strict for m in kinds if m in p.message} == set(kinds)
    lenient = _policy("  free_text:\n    allow: [email, phone]\n")
    found = check_grant(_grant(reason), lenient)  # type: ignore[arg-type]
    assert [p for p in found if "free text" in p.message and "(high_entropy)" in p.message]
    assert not [p for p in found if "(email)" in p.message or "(phone)" in p.message]


def test_the_policy_schema_knows_exactly_the_lint_kinds() -> None:
    prop = schema("policy")["properties"]["settings"]["properties"]["free_text"]
    assert prop["properties"]["allow"]["items"]["enum"] == list(freetext.KINDS)


def test_an_unknown_kind_in_allow_is_a_policy_error() -> None:
    from jitops.core.policy import PolicyError

    with pytest.raises(PolicyError, match="free_text"):
        _policy("  free_text:\n    allow: [emails]\n")


@pytest.mark.parametrize("name", ["grant", "policy", "policy-test"])
def test_the_editor_copies_of_the_schemas_match(name: str) -> None:
    from tests.conftest import ROOT

    shipped = json.loads((ROOT / f"jitops/schemas/{name}.schema.json").read_text())
    editor = json.loads((ROOT / f".jitops/{name}.schema.json").read_text())
    assert shipped == editor
