"""The stand-in's own duration parser (it shares no code with jitops' core)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.util import duration_seconds, go_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30),
        ("30", 30),
        ("30s", 30),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1.5h", 5400),
        ("", 0),
        (None, 0),
    ],
)
def test_vault_duration_forms(value: object, seconds: int) -> None:
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["2 hours", "h", "-5s", "1x", True, [1]])
def test_bad_durations_are_400s_naming_the_field(value: object) -> None:
    with pytest.raises(VaultAPIError) as err:
        duration_seconds(value, "ttl")
    assert err.value.status == 400 and "'ttl'" in err.value.errors[0]


def test_go_duration_rendering() -> None:
    assert [go_duration(s) for s in (0, 45, 120, 5400)] == ["0s", "45s", "2m0s", "1h30m0s"]


@given(st.one_of(st.text(max_size=20), st.integers(min_value=0, max_value=10**9)))
def test_the_parser_answers_a_number_or_a_400(value: object) -> None:
    try:
        assert duration_seconds(value) >= 0
    except VaultAPIError as exc:
        assert exc.status == 400


@given(st.integers(min_value=0, max_value=10**7))
def test_go_duration_round_trips(seconds: int) -> None:
    assert duration_seconds(go_duration(seconds)) == seconds
