"""Users, keys, tokens, organisations and teams through unmodified PyGithub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import github
import pytest

from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import connect

pytestmark = pytest.mark.integration


def test_authenticated_user_is_the_token_owner(client: Callable[[str], github.Github]) -> None:
    me = client("alice").get_user()
    assert me.login == "alice"
    assert me.type == "User"


def test_bot_user_has_bot_type(bot: github.Github) -> None:
    assert bot.get_user("jitops-bot").type == "Bot"


def test_unknown_token_is_bad_credentials(gh: GitHubSandbox) -> None:
    g = connect(gh, "ghp_nope")
    with pytest.raises(github.BadCredentialsException) as err:
        g.get_user("alice")
    assert err.value.status == 401
    assert err.value.data["message"] == "Bad credentials"


def test_request_without_token_needs_authentication(gh: GitHubSandbox) -> None:
    g = connect(gh, None)
    with pytest.raises(github.GithubException) as err:
        g.get_user("alice")
    assert err.value.status == 401
    assert err.value.data["message"] == "Requires authentication"


def test_unknown_user_is_not_found(bot: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException) as err:
        bot.get_user("nobody")
    assert err.value.status == 404
    assert err.value.data["message"] == "Not Found"
    assert "documentation_url" in err.value.data


def test_ssh_keys_are_listed_with_ids(gh: GitHubSandbox, bot: github.Github) -> None:
    first = gh.add_ssh_key("octocat", "ssh-ed25519 AAAAC3Nza octocat@laptop")
    gh.add_ssh_key("octocat", "ssh-rsa AAAAB3Nza octocat@desktop")
    keys = list(bot.get_user("octocat").get_keys())
    assert [k.key for k in keys] == [
        "ssh-ed25519 AAAAC3Nza octocat@laptop",
        "ssh-rsa AAAAB3Nza octocat@desktop",
    ]
    assert keys[0].id == first
    assert list(bot.get_user("alice").get_keys()) == []


def test_organisation_and_team_by_slug(bot: github.Github) -> None:
    org = bot.get_organization("acme")
    assert org.login == "acme"
    team = org.get_team_by_slug("dba")
    assert team.slug == "dba"
    assert team.url.endswith(f"/organizations/{org.id}/team/{team.id}")


def test_team_membership_of_member_and_maintainer(bot: github.Github) -> None:
    org = bot.get_organization("acme")
    membership = org.get_team_by_slug("dba").get_team_membership("alice")
    assert (membership.role, membership.state) == ("member", "active")
    assert org.get_team_by_slug("engineering").get_team_membership("carol").role == "maintainer"


def test_non_member_membership_is_404(bot: github.Github) -> None:
    team = bot.get_organization("acme").get_team_by_slug("dba")
    with pytest.raises(github.UnknownObjectException):
        team.get_team_membership("octocat")


def test_membership_through_the_team_url_form(bot: github.Github, gh: GitHubSandbox) -> None:
    team = bot.get_organization("acme").get_team_by_slug("dba")
    team_url = team.url  # completes the lazy team: /organizations/{org_id}/team/{id}
    full = bot.get_organization("acme").get_team(team.id)
    assert full.url == team_url
    assert full.get_team_membership("bob").role == "member"
    assert gh.count_requests("GET", f"{team_url.split('/api/v3')[1]}/memberships/bob") == 1


def test_unknown_team_is_404(bot: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException):
        bot.get_organization("acme").get_team_by_slug("nope").get_team_membership("alice")


def test_has_in_members(bot: github.Github) -> None:
    team = bot.get_organization("acme").get_team_by_slug("dba")
    assert team.has_in_members(bot.get_user("alice"))
    assert not team.has_in_members(bot.get_user("octocat"))


def test_membership_changes_are_seen_at_once(gh: GitHubSandbox, bot: github.Github) -> None:
    team = bot.get_organization("acme").get_team_by_slug("dba")
    gh.remove_team_member("acme", "dba", "alice")
    with pytest.raises(github.UnknownObjectException):
        team.get_team_membership("alice")
    gh.add_team_member("acme", "dba", "ALICE")
    assert team.get_team_membership("alice").role == "member"


def test_team_members_paginate(gh: GitHubSandbox, bot: github.Github) -> None:
    logins = [f"user{i:02d}" for i in range(35)]
    for login in logins:
        gh.add_user(login)
    gh.add_team("acme", "big", logins)
    members = bot.get_organization("acme").get_team_by_slug("big").get_members()
    assert members.totalCount == 35
    assert [m.login for m in members] == logins


def test_logins_are_case_insensitive(bot: github.Github) -> None:
    assert bot.get_user("OctoCat").login == "octocat"


def test_seed_creates_users_keys_and_teams(tmp_path: Path) -> None:
    with GitHubSandbox(tmp_path / "gh") as sandbox:
        tokens = sandbox.seed(
            {
                "users": ["dave", {"login": "bot", "write": True, "token": "t0k", "keys": ["k1"]}],
                "teams": [{"org": "acme", "slug": "ops", "members": ["dave"]}],
            }
        )
        assert tokens["bot"] == "t0k"
        g = connect(sandbox, "t0k")
        assert [k.key for k in g.get_user("bot").get_keys()] == ["k1"]
        team = g.get_organization("acme").get_team_by_slug("ops")
        assert team.get_team_membership("dave").state == "active"
        g.close()


def test_child_team_members_are_members_of_the_parent(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.add_user("dave")
    gh.add_team("acme", "dba-oncall", ["dave"], parent="dba")
    org = bot.get_organization("acme")
    parent = org.get_team_by_slug("dba")
    child = org.get_team_by_slug("dba-oncall")
    assert child.parent.slug == "dba"
    assert parent.get_team_membership("dave").state == "active"
    assert sorted(m.login for m in parent.get_members()) == ["alice", "bob", "dave"]
    assert parent.has_in_members(bot.get_user("dave"))
    assert parent.members_count == 3
    # membership does not flow the other way
    with pytest.raises(github.UnknownObjectException):
        child.get_team_membership("alice")


def test_pending_membership_is_not_a_member(gh: GitHubSandbox, bot: github.Github) -> None:
    gh.add_user("erin")
    gh.add_team_member("acme", "dba", "erin", pending=True)
    team = bot.get_organization("acme").get_team_by_slug("dba")
    membership = team.get_team_membership("erin")
    assert (membership.state, membership.role) == ("pending", "member")
    assert "erin" not in [m.login for m in team.get_members()]
    assert not team.has_in_members(bot.get_user("erin"))
    gh.accept_team_invitation("acme", "dba", "erin")
    assert team.get_team_membership("erin").state == "active"
