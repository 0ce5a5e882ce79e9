"""What tests use to watch and disturb the stand-in: the request log and injected faults."""

from __future__ import annotations

import time
from collections.abc import Mapping

from jitops_sandbox.github.model import Fault, RequestRecord
from jitops_sandbox.github.server import GitHubServer
from jitops_sandbox.github.store import Store

_DOCS = "https://docs.github.com/rest"


class Instruments:
    """Mixed into :class:`GitHubSandbox`, which provides ``server`` and ``store``."""

    store: Store

    @property
    def server(self) -> GitHubServer:
        raise NotImplementedError

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far (method, path without prefix, query, status, user)."""
        with self.server._meta:
            return list(self.server.log)

    def count_requests(self, method: str | None = None, path: str | None = None) -> int:
        """Requests matching ``method`` and ``path`` (a ``path`` ending in ``*`` is a prefix)."""

        def hit(r: RequestRecord) -> bool:
            if method is not None and r.method != method.upper():
                return False
            if path is None:
                return True
            return r.path.startswith(path[:-1]) if path.endswith("*") else r.path == path

        return sum(1 for r in self.requests if hit(r))

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the stand-in (each was answered with a 500)."""
        with self.server._meta:
            return list(self.server.errors)

    def clear_requests(self) -> None:
        with self.server._meta:
            self.server.log.clear()

    def fail_next(
        self,
        n: int = 1,
        status: int = 502,
        *,
        message: str = "Server Error",
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests (matching ``method`` and containing ``path``) with
        ``status`` and ``{"message": message}`` instead of serving them."""
        body = {"message": message, "documentation_url": _DOCS}
        self.server.add_fault(Fault(n, status, dict(body), dict(headers or {}), method, path))

    def rate_limit_next(
        self,
        n: int = 1,
        *,
        secondary: bool = True,
        retry_after: int | None = 1,
        reset_in: int = 1,
        status: int = 403,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests as GitHub does when a rate limit is hit (403 or
        429, ``status``): secondary with ``Retry-After: retry_after`` (None: no Retry-After,
        which GitHub also sends), or primary (``X-RateLimit-Remaining: 0`` and
        ``X-RateLimit-Reset`` ``reset_in`` seconds from now, epoch seconds).

        GitHub's docs: rest/using-the-rest-api/rate-limits-for-the-rest-api and
        troubleshooting-the-rest-api ("API rate limit exceeded for user ID", "You have
        exceeded a secondary rate limit")."""
        if status not in (403, 429):
            raise ValueError("GitHub answers a rate limit with 403 or 429")
        if secondary:
            message = (
                "You have exceeded a secondary rate limit. "
                "Please wait a few minutes before you try again."
            )
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        else:
            message = "API rate limit exceeded for user ID 1."
            headers = {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Used": "5000",
                "X-RateLimit-Reset": str(int(time.time()) + reset_in),
                "X-RateLimit-Resource": "core",
            }
        self.fail_next(n, status, message=message, method=method, path=path, headers=headers)
