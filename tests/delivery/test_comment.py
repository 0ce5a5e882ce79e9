"""The delivery comment: what the requester reads, and finding the latest block again."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.delivery.comment import (
    SpentNote,
    extract_sealed,
    find_spent,
    holds_sealed,
    render_delivery_comment,
    spent_delivery_comment,
    spent_note,
)


def _armor(seed: bytes) -> str:
    body = base64.b64encode(b"age-encryption.org/v1\n" + seed).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "\n".join(
            ["-----BEGIN AGE ENCRYPTED FILE-----", *lines, "-----END AGE ENCRYPTED FILE-----"]
        )
        + "\n"
    )


ARMOR_1 = _armor(b"first delivery" * 5)
ARMOR_2 = _armor(b"second delivery" * 7)


def _comment(grant_id: str = "prod-db-ro-octocat-1123", armored: str = ARMOR_1) -> str:
    return render_delivery_comment(
        grant_id=grant_id,
        requester="octocat",
        role="prod-db-readonly",
        expires_at=datetime(2026, 11, 23, 14, 0, 0, 123, tzinfo=timezone(timedelta(hours=2))),
        armored=armored,
        wrap_ttl_seconds=5400,
        key_fingerprints=["SHA256:inq1Zx8vl2AyCIGqIpIDPWT0zPcAZdEOPBKFE8ug3n8"],
    )


def test_comment_says_who_what_until_when_and_how_to_claim() -> None:
    text = _comment()
    assert text.splitlines()[0] == "<!-- jitops:delivery grant=prod-db-ro-octocat-1123 -->"
    assert "@octocat has **prod-db-readonly** until **2026-11-23T12:00:00Z**" in text
    assert "- `SHA256:inq1Zx8vl2AyCIGqIpIDPWT0zPcAZdEOPBKFE8ug3n8`" in text
    assert "claimed **once**, within **1h 30m**" in text
    assert "jitops claim prod-db-ro-octocat-1123" in text
    assert "age -d -i ~/.ssh/id_ed25519 delivery.age" in text
    assert "VAULT_ADDR=<vault_addr> vault unwrap <wrapping_token>" in text
    assert "cat > delivery.age" in text
    assert "jitops revoke prod-db-ro-octocat-1123" in text
    assert "```\n" + ARMOR_1 + "```\n" in text  # the block, fenced, exactly as age writes it


def test_comment_refuses_a_grant_id_that_could_break_the_marker() -> None:
    with pytest.raises(ValueError, match="not a grant id"):
        _comment(grant_id="x --> <b>")


def test_extract_finds_the_latest_delivery_of_that_grant() -> None:
    bodies = [
        "LGTM",
        _comment(armored=ARMOR_1),
        _comment(grant_id="someone-else", armored=ARMOR_2),
        "a reviewer quoting:\n> -----BEGIN AGE ENCRYPTED FILE-----",
    ]
    assert extract_sealed(bodies, "prod-db-ro-octocat-1123") == ARMOR_1
    assert extract_sealed(bodies, "someone-else") == ARMOR_2
    assert extract_sealed(bodies, "prod-db-ro") is None  # a prefix is another grant
    assert extract_sealed([*bodies, _comment(armored=ARMOR_2)], "prod-db-ro-octocat-1123") == (
        ARMOR_2
    )


def test_extract_tolerates_edits_around_the_block_and_skips_damaged_ones() -> None:
    edited = "Note from an admin: re-issued.\r\n\r\n" + _comment(armored=ARMOR_2).replace(
        "\n", "\r\n"
    )
    cut = _comment(armored=ARMOR_2).split("-----END")[0]
    assert extract_sealed([_comment(), edited], "prod-db-ro-octocat-1123") == ARMOR_2
    assert extract_sealed([_comment(), cut], "prod-db-ro-octocat-1123") == ARMOR_1
    no_marker = ARMOR_2
    assert extract_sealed([no_marker], "prod-db-ro-octocat-1123") is None


@settings(max_examples=300 if os.environ.get("CI") else 150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(),
            st.text(alphabet="<!-jitops:delivery grant=>BEGIN AGE END-\n\r ABCab+/=0"),
            st.builds(lambda a, b: a + _comment() + b, st.text(), st.text()),
        ),
        max_size=5,
    ),
    st.sampled_from(["prod-db-ro-octocat-1123", "x", ""]),
)
def test_extract_never_crashes_on_any_comment_text(bodies: list[str], grant_id: str) -> None:
    found = extract_sealed(bodies, grant_id)
    assert found is None or found.startswith("-----BEGIN AGE ENCRYPTED FILE-----\n")
    if grant_id == "prod-db-ro-octocat-1123" and any(_comment() in b for b in bodies[-1:]):
        assert found is not None


@given(st.text(), st.text())
def test_extract_finds_our_block_inside_arbitrary_text(before: str, after: str) -> None:
    body = before + "\n" + _comment(armored=ARMOR_2) + "\n" + after
    if "jitops:delivery" in after:
        return  # text after it may claim to be a later delivery
    assert extract_sealed([body], "prod-db-ro-octocat-1123") == ARMOR_2


def test_times_render_in_utc_even_when_naive() -> None:
    naive = render_delivery_comment(
        grant_id="g",
        requester="o",
        role="r",
        expires_at=datetime(2026, 1, 2, 3, 4, 5),  # naive means UTC
        armored=ARMOR_1,
        wrap_ttl_seconds=45,
        key_fingerprints=[],
    )
    assert "until **2026-01-02T03:04:05Z**" in naive
    assert "within **45s**" in naive


def test_a_static_secret_is_not_said_to_end_with_the_grant() -> None:
    leased = render_delivery_comment(
        grant_id="g",
        requester="o",
        role="r",
        expires_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        armored=ARMOR_1,
        wrap_ttl_seconds=45,
        key_fingerprints=[],
    )
    assert "Vault ends the access by itself then" in leased
    static = render_delivery_comment(
        grant_id="g",
        requester="o",
        role="r",
        expires_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        armored=ARMOR_1,
        wrap_ttl_seconds=45,
        key_fingerprints=[],
        static_secret="secret/data/staging/admin",
    )
    assert "Vault ends the access by itself" not in static
    assert "**not** the static secret `secret/data/staging/admin`" in static
    assert "rotate it after the grant ends" in static


def test_a_spent_delivery_is_one_line_with_no_ciphertext_and_keeps_its_markers() -> None:
    marker = "<!-- jitops:issued grant=g-1 accessor=acc issued_at=x expires_at=y -->"
    note = spent_note("claimed-or-expired", datetime(2026, 11, 30, 12, 0, 5, 900, tzinfo=UTC))
    assert note == SpentNote("claimed-or-expired", "2026-11-30T12:00:05Z")
    body = spent_delivery_comment("g-1", note, marker)
    assert "AGE ENCRYPTED" not in body and not holds_sealed(body, "g-1")
    visible = [line for line in body.splitlines() if not line.startswith("<!--")]
    assert len(visible) == 1
    assert "claimed or expired by 2026-11-30T12:00:05Z" in visible[0]
    assert "`jitops revoke g-1`" in visible[0]
    assert marker in body and "<!-- jitops:delivery grant=g-1 -->" in body
    assert find_spent(body, "g-1") == note
    assert find_spent(body, "g-2") is None
    claimed = spent_delivery_comment("g-1", SpentNote("claimed", "2026-11-30T12:00:05Z"), marker)
    assert "was claimed (its single-use wrapping token was used" in claimed


def test_a_spent_note_refuses_what_could_break_its_markers() -> None:
    with pytest.raises(ValueError, match="not a grant id"):
        spent_delivery_comment("G 1 -->", SpentNote("claimed", "2026-11-30T12:00:05Z"), "")
    with pytest.raises(ValueError, match="not a spent delivery note"):
        spent_delivery_comment("g-1", SpentNote("claimed -->", "2026-11-30T12:00:05Z"), "")
    with pytest.raises(ValueError, match="not a spent delivery note"):
        spent_delivery_comment("g-1", SpentNote("claimed", "soon -->"), "")
