from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jitops.core.duration import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45m", 2700),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("30s", 30),
        ("1d2h", 93600),
        (" 2h ", 7200),
        ("1h0m", 3600),
    ],
)
def test_parses(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("90", "has no unit"),
        (90, "has no unit"),
        ("-1h", "negative"),
        ("0m", "zero"),
        ("0h0m", "zero"),
        ("1.5h", "not understood"),
        ("2 hours", "not understood"),
        ("1m1h", "largest first"),
        ("1h1h", "largest first"),
        ("", "not understood"),
        ("h", "not understood"),
        (True, "must be text"),
        (None, "must be text"),
        ("99999999d", "absurdly long"),
    ],
)
def test_refuses_with_a_useful_message(text: object, fragment: str) -> None:
    with pytest.raises(DurationError, match=fragment):
        parse_duration(text)


def test_format_round_trips() -> None:
    for text in ["45m", "2h", "1h30m", "1d", "26h", "1h0m1s"]:
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(hours=26)) == "26h"


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.floats()))
def test_never_raises_anything_but_duration_error(value: object) -> None:
    try:
        result = parse_duration(value)
    except DurationError:
        return
    assert result > timedelta(0)


@given(st.integers(min_value=1, max_value=10**7))
def test_format_parse_identity(seconds: int) -> None:
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)
