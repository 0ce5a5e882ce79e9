"""The one error root of jitops.

Every error a user can cause or meet is a :class:`JitopsError`: it carries a message that
says what happened and what to do, and the exit code the CLI uses. Subclasses live next to the
code that raises them. A secret value never enters a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_BUG = 3


class JitopsError(Exception):
    """Root of every jitops error; ``str(err)`` is the user-facing message."""

    exit_code: int = EXIT_REJECTED

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(JitopsError):
    """The command was called wrongly (exit 2)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Problem:
    """One located finding: ``path:line: message``.

    ``path`` is relative to the access repository root when there is one. ``line`` is 1-based;
    0 means "the file as a whole".
    """

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" | "warning" | "notice"
    #: which rule found it, when the finder names one (``check_grant``: see
    #: :data:`jitops.core.checks.CODES`); not part of equality
    code: str = field(default="", compare=False)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ProblemsError(JitopsError):
    """An error made of one or more located problems (bad input files)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Secret:
    """A secret value (password, token, wrapping token) that never prints itself.

    ``str()``, ``repr()`` and f-strings all give ``***``; only code that must hand the value on
    (to Vault, to age, to the requester's terminal) calls :meth:`reveal`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
