"""The one retry policy of the doors that talk HTTP (GitHub and Vault).

A failed request (a 5xx answer, a rate limit, a connection that failed) is tried again at most
``attempts`` times in all, waiting ``base_delay`` seconds, then twice as long each time up to
``max_delay``, and never past ``deadline`` seconds after the first try: a CI job never hangs
on a server that is down. A server that says when to come back (``Retry-After``) is waited for
at least that long.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries per request, backing off, never past ``deadline`` seconds."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 2.0
    deadline: float = 20.0

    def wait(
        self, attempt: int, elapsed: float | None = None, at_least: float = 0.0
    ) -> float | None:
        """How long to wait after failed try number ``attempt`` (from 1), or None when no try
        is left: the attempts are used up, or (given the ``elapsed`` seconds since the first
        try) the wait would end past the deadline."""
        if attempt >= self.attempts:
            return None
        delay = max(min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1)), at_least)
        if elapsed is not None and elapsed + delay > self.deadline:
            return None
        return delay
