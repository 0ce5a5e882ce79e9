"""The error every part of the Vault stand-in raises to answer a request with an error."""

from __future__ import annotations


class VaultAPIError(Exception):
    """Answer the current request with ``status`` and ``{"errors": [...]}``, as Vault does."""

    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(", ".join(errors))
        self.status = status
        self.errors = list(errors)
