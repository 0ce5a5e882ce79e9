"""Accounts: users with tokens and SSH keys, organisations and teams with their members."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from jitops_sandbox.github.errors import SandboxError, not_found
from jitops_sandbox.github.model import Org, Team, User


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """Who exists; every lookup by login is case-insensitive, as on GitHub."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or _utcnow
        self._next_id = 1000
        self.users: dict[str, User] = {}
        self.orgs: dict[str, Org] = {}
        self.teams: dict[int, Team] = {}

    def new_id(self) -> int:
        """A fresh id, unique across every kind of object (like GitHub's database ids)."""
        with self.lock:
            self._next_id += 1
            return self._next_id

    # -- users, orgs, teams -----------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        token: str | None = None,
        write: bool = False,
        bot: bool = False,
        name: str | None = None,
        app_id: int | None = None,
        admin: bool = False,
    ) -> User:
        with self.lock:
            key = login.lower()
            if key in self.users or key in self.orgs:
                raise SandboxError(f"login {login} already exists")
            user = User(
                login=login,
                id=self.new_id(),
                token=token or "ghp_" + secrets.token_hex(18),
                write=write,
                bot=bot or app_id is not None,
                name=name,
                app_id=app_id,
                admin=admin,
            )
            self.users[key] = user
            return user

    def user(self, login: str) -> User:
        found = self.users.get(login.lower())
        if found is None:
            raise not_found(f"no user {login}")
        return found

    def user_by_token(self, token: str) -> User | None:
        with self.lock:
            for user in self.users.values():
                if secrets.compare_digest(user.token.encode(), token.encode()):
                    return user
            return None

    def add_org(self, login: str) -> Org:
        with self.lock:
            key = login.lower()
            if key in self.users:
                raise SandboxError(f"{login} is a user; an organisation needs its own login")
            if key not in self.orgs:
                self.orgs[key] = Org(login=login, id=self.new_id())
            return self.orgs[key]

    def org(self, login: str) -> Org:
        found = self.orgs.get(login.lower())
        if found is None:
            raise not_found(f"no organisation {login}")
        return found

    def add_team(self, org: str, slug: str, name: str | None = None) -> Team:
        with self.lock:
            the_org = self.add_org(org)
            if self.find_team(org, slug) is not None:
                raise SandboxError(f"team {org}/{slug} already exists")
            team = Team(id=self.new_id(), org=the_org.login, slug=slug, name=name or slug)
            self.teams[team.id] = team
            return team

    def find_team(self, org: str, slug: str) -> Team | None:
        for team in self.teams.values():
            if team.org.lower() == org.lower() and team.slug.lower() == slug.lower():
                return team
        return None

    def team(self, org: str, slug: str) -> Team:
        found = self.find_team(org, slug)
        if found is None:
            raise not_found(f"no team {org}/{slug}")
        return found

    def children(self, team: Team) -> list[Team]:
        return sorted(
            (t for t in self.teams.values() if t.parent_id == team.id), key=lambda t: t.id
        )

    def effective_members(self, team: Team) -> dict[str, tuple[str, str, bool]]:
        """Active members of ``team`` and of every child team below it (GitHub: "Team members
        will include the members of child teams"): lower login -> (login, role, inherited)."""
        out: dict[str, tuple[str, str, bool]] = {}
        seen: set[int] = set()
        todo = [team]
        while todo:
            current = todo.pop(0)
            if current.id in seen:
                continue
            seen.add(current.id)
            for key, (login, role) in current.members.items():
                if key not in out:
                    out[key] = (login, role, current is not team)
            todo.extend(self.children(current))
        return out

    def team_by_id(self, org_id: int | None, team_id: int) -> Team:
        team = self.teams.get(team_id)
        if team is None or (org_id is not None and self.org(team.org).id != org_id):
            raise not_found()
        return team
