"""Request context, replies, routes and GitHub-style ``Link`` pagination."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jitops_sandbox.github.errors import APIError, not_found
from jitops_sandbox.github.model import User
from jitops_sandbox.github.render import Renderer
from jitops_sandbox.github.render_accounts import Links
from jitops_sandbox.github.store import Store

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """One authenticated request: ``path`` is without the API prefix and the query string."""

    method: str
    path: str
    query: dict[str, list[str]]
    raw_body: bytes
    user: User
    store: Store
    links: Links
    params: dict[str, str] = field(default_factory=dict)

    @property
    def render(self) -> Renderer:
        return Renderer(self.store, self.links)

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        if not self.raw_body.strip():
            return {}
        try:
            return json.loads(self.raw_body)
        except ValueError as exc:
            raise APIError(400, "Problems parsing JSON") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise APIError(400, "Problems parsing JSON")
        return data

    def int_param(self, name: str) -> int:
        """A numeric path segment; anything else is 404, as on GitHub."""
        try:
            return int(self.params[name])
        except ValueError as exc:
            raise not_found() from exc

    def require_write(self) -> None:
        """Writes to the repository need push access (``add_user(..., write=True)``)."""
        if not self.user.write:
            raise APIError(403, "Resource not accessible by personal access token")


Handler = Callable[[Ctx], Reply]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler, str]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``pattern``; ``{name}`` matches one path segment and
        ``{name+}`` the rest of the path."""

        def group(m: re.Match[str]) -> str:
            return f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"

        regex = re.compile("^" + re.sub(r"\{(\w+)(\+?)\}", group, pattern) + "$")

        def register(handler: Handler) -> Handler:
            self.routes.append((method, regex, handler, pattern))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str], str] | None:
        """The handler, the path parameters and the route template that match."""
        for route_method, regex, handler, pattern in self.routes:
            if route_method != method:
                continue
            found = regex.match(path)
            if found:
                params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                return handler, params, pattern
        return None


def paginate(ctx: Ctx, items: list[Any]) -> Reply:
    """One page of ``items`` with a ``Link`` header like GitHub's (prev, next, last, first)."""
    try:
        per_page = int(ctx.q("per_page") or DEFAULT_PER_PAGE)
        page = int(ctx.q("page") or 1)
    except ValueError:
        per_page, page = DEFAULT_PER_PAGE, 1
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def url(number: int) -> str:
        query = {k: v[-1] for k, v in ctx.query.items() if k != "page"}
        query["page"] = str(number)
        return f"{ctx.links.api}{ctx.path}?{urllib.parse.urlencode(query)}"

    links = []
    if page > 1:
        links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
    headers = {"Link": ", ".join(links)} if links else {}
    return Reply(200, chunk, headers)
