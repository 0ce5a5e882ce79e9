"""Who a rule talks about: ``@login``, ``@org/team-slug`` or ``*`` (anyone).

GitHub logins and team slugs compare case-insensitively, so every comparison here folds case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from jitops.errors import JitopsError

_LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_SLUG = r"[A-Za-z0-9_.](?:[A-Za-z0-9_.-]{0,99})"
_USER_RE = re.compile(rf"@({_LOGIN})")
_TEAM_RE = re.compile(rf"@({_LOGIN})/({_SLUG})")
LOGIN_RE = re.compile(rf"{_LOGIN}")

#: Answers "is LOGIN a member of @ORG/SLUG?" (GitHub's view, checked at evaluation time).
TeamLookup = Callable[[str, str, str], bool]


class PrincipalError(JitopsError):
    """Text that names no principal."""


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "team", "anyone"]
    login: str = ""  # user login, or the org of a team (lower-cased)
    slug: str = ""  # team slug (lower-cased)

    @classmethod
    def parse(cls, text: str) -> Principal:
        raw = text.strip()
        if raw == "*":
            return cls("anyone")
        if m := _TEAM_RE.fullmatch(raw):
            return cls("team", m.group(1).lower(), m.group(2).lower())
        if m := _USER_RE.fullmatch(raw):
            return cls("user", m.group(1).lower())
        raise PrincipalError(
            f"{text!r} is not a principal; write '@login', '@org/team-slug' or '*'"
        )

    def __str__(self) -> str:
        if self.kind == "anyone":
            return "*"
        if self.kind == "team":
            return f"@{self.login}/{self.slug}"
        return f"@{self.login}"

    def matches_offline(self, login: str) -> bool | None:
        """True/False when decidable without GitHub; None when team membership is needed."""
        if self.kind == "anyone":
            return True
        if self.kind == "user":
            return self.login == login.lower()
        return None

    def matches(self, login: str, teams: TeamLookup | None) -> bool | None:
        """Whether ``login`` is this principal; None when a team lookup is needed but missing."""
        offline = self.matches_offline(login)
        if offline is not None or teams is None:
            return offline
        return teams(self.login, self.slug, login.lower())


def same_login(a: str, b: str) -> bool:
    return a.lower() == b.lower()
