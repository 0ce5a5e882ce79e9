"""GitHub's JSON shapes for accounts: users, organisations, teams and team memberships."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jitops_sandbox.github.model import Org, SSHKey, Team, User, iso
from jitops_sandbox.github.store import Store

Json = dict[str, Any]


@dataclass(frozen=True)
class Links:
    """``api``: e.g. ``http://127.0.0.1:8080/api/v3``; ``web``: ``http://127.0.0.1:8080``."""

    api: str
    web: str


class AccountRenderer:
    def __init__(self, store: Store, links: Links) -> None:
        self.s = store
        self.api = links.api
        self.web = links.web

    def user(self, login: str | None) -> Json | None:
        if login is None:
            return None
        key = login.lower()
        if key in self.s.orgs:
            return self.org_simple(self.s.orgs[key])
        user = self.s.users.get(key)
        if user is None:
            return None
        url = f"{self.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"{self.web}/avatars/{user.login}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{user.login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Bot" if user.bot else "User",
            "user_view_type": "public",
            "site_admin": False,
        }

    def user_full(self, user: User | Org, *, private: bool = False) -> Json:
        """``public-user`` (``/users/{u}``; exactly its fields, GitHub's description allows
        no others) or, for the token's own account, ``private-user`` (``/user``)."""
        base = self.user(user.login) or {}
        out = {k: v for k, v in base.items()}
        out.update(
            {
                "user_view_type": "private" if private else "public",
                "name": getattr(user, "name", None),
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": "2020-01-01T00:00:00Z",
                "updated_at": "2020-01-01T00:00:00Z",
            }
        )
        if private:
            out.update(
                {
                    "private_gists": 0,
                    "total_private_repos": 0,
                    "owned_private_repos": 0,
                    "disk_usage": 0,
                    "collaborators": 0,
                    "two_factor_authentication": True,
                }
            )
        return out

    def key(self, key: SSHKey) -> Json:
        """GitHub's ``key``: a key as its owner sees it (``GET /user/keys``), shaped like the
        description's example (``verified`` false, ``read_only`` false: deploy keys are the
        read-only kind)."""
        return {
            "key": key.key,
            "id": key.id,
            "url": f"{self.api}/user/keys/{key.id}",
            "title": key.title,
            "created_at": iso(key.created_at),
            "verified": False,
            "read_only": False,
        }

    def key_simple(self, key: SSHKey) -> Json:
        """GitHub's ``key-simple``: another user's public key (``GET /users/{u}/keys``: the id
        and the key, as in the description's example)."""
        return {"id": key.id, "key": key.key}

    def org_simple(self, org: Org) -> Json:
        """An organisation where GitHub shows an account (``simple-user``)."""
        url = f"{self.api}/users/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": f"O_{org.id}",
            "avatar_url": f"{self.web}/avatars/{org.login}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{org.login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Organization",
            "user_view_type": "public",
            "site_admin": False,
        }

    def org(self, org: Org) -> Json:
        url = f"{self.api}/orgs/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": f"O_{org.id}",
            "url": url,
            "repos_url": f"{url}/repos",
            "members_url": f"{url}/members{{/member}}",
            "avatar_url": f"{self.web}/avatars/{org.login}",
            "events_url": f"{url}/events",
            "hooks_url": f"{url}/hooks",
            "issues_url": f"{url}/issues",
            "public_members_url": f"{url}/public_members{{/member}}",
            "description": None,
            "html_url": f"{self.web}/{org.login}",
            "has_organization_projects": False,
            "has_repository_projects": False,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "type": "Organization",
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
            "archived_at": None,
        }

    def team_simple(self, team: Team) -> Json:
        org = self.s.org(team.org)
        url = f"{self.api}/organizations/{org.id}/team/{team.id}"
        return {
            "id": team.id,
            "node_id": f"T_{team.id}",
            "url": url,
            "members_url": f"{url}/members{{/member}}",
            "name": team.name,
            "description": team.description,
            "permission": "pull",
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "html_url": f"{self.web}/orgs/{org.login}/teams/{team.slug}",
            "repositories_url": f"{url}/repos",
            "slug": team.slug,
            "type": "organization",
            "organization_id": org.id,
        }

    def team(self, team: Team) -> Json:
        org = self.s.org(team.org)
        parent = self.s.teams.get(team.parent_id) if team.parent_id is not None else None
        url = f"{self.api}/organizations/{org.id}/team/{team.id}"
        return {
            "id": team.id,
            "node_id": f"T_{team.id}",
            "url": url,
            "html_url": f"{self.web}/orgs/{org.login}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{url}/members{{/member}}",
            "repositories_url": f"{url}/repos",
            "parent": self.team_simple(parent) if parent is not None else None,
            "type": "organization",
            "organization_id": org.id,
            "members_count": len(self.s.effective_members(team)),
            "repos_count": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
            "organization": self.org(org),
        }

    def membership(self, team: Team, login: str) -> Json | None:
        """Active (directly or through a child team) or pending; None: no membership."""
        org = self.s.org(team.org)
        active = self.s.effective_members(team).get(login.lower())
        if active is not None:
            canonical, role, state = active[0], active[1], "active"
        elif login.lower() in team.pending:
            (canonical, role), state = team.pending[login.lower()], "pending"
        else:
            return None
        return {
            "url": f"{self.api}/organizations/{org.id}/team/{team.id}/memberships/{canonical}",
            "role": role,
            "state": state,
        }

    def association(self, login: str) -> str:
        if login.lower() == self.s.owner.lower():
            return "OWNER"
        user = self.s.users.get(login.lower())
        return "COLLABORATOR" if user is not None and user.write else "CONTRIBUTOR"
