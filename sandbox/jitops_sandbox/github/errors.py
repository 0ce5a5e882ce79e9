"""The errors of the GitHub stand-in (it imports nothing from jitops, so it has its own)."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Misuse of the stand-in's Python API (an unknown user, a merge conflict, ...)."""


class APIError(SandboxError):
    """Answer the current request with ``status`` and a GitHub-shaped error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | list[str] | None = None,
        documentation_url: str = "https://docs.github.com/rest",
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        # ``detail`` is for people reading a failed test; it never reaches the HTTP body
        super().__init__(f"{message} ({detail})" if detail else message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        out["documentation_url"] = self.documentation_url
        out["status"] = str(self.status)
        return out


def not_found(detail: str | None = None) -> APIError:
    return APIError(404, "Not Found", detail=detail)


def validation_failed(*errors: dict[str, Any], documentation_url: str | None = None) -> APIError:
    return APIError(
        422,
        "Validation Failed",
        errors=list(errors),
        documentation_url=documentation_url or "https://docs.github.com/rest",
    )
