"""The doors' one retry policy: bounded tries, growing waits, never past the deadline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jitops.doors.retry import RetryPolicy


def test_waits_double_up_to_the_cap_and_stop_after_the_last_try() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=2.0, deadline=60.0)
    assert [policy.wait(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, None]


def test_a_wait_that_would_end_past_the_deadline_is_not_taken() -> None:
    policy = RetryPolicy(attempts=10, base_delay=1.0, max_delay=8.0, deadline=10.0)
    assert policy.wait(2, elapsed=7.0) == 2.0
    assert policy.wait(2, elapsed=8.5) is None


def test_a_server_that_says_when_is_waited_for_at_least_that_long() -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.25, max_delay=2.0, deadline=20.0)
    assert policy.wait(1, elapsed=0.0, at_least=5.0) == 5.0
    assert policy.wait(1, elapsed=16.0, at_least=5.0) is None


@given(
    st.integers(1, 8),
    st.floats(0.01, 2.0),
    st.floats(0.01, 10.0),
    st.floats(0.1, 60.0),
    st.floats(0.0, 30.0),
)
def test_all_waits_of_a_request_fit_its_deadline(
    attempts: int, base: float, cap: float, deadline: float, at_least: float
) -> None:
    policy = RetryPolicy(attempts, base, cap, deadline)
    elapsed, tries = 0.0, 1
    while (delay := policy.wait(tries, elapsed, at_least)) is not None:
        elapsed += delay
        tries += 1
    assert elapsed <= deadline and tries <= attempts
