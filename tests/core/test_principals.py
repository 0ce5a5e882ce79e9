from __future__ import annotations

import pytest

from jitops.core.principals import Principal, PrincipalError, same_login


def test_parse_kinds() -> None:
    assert Principal.parse("*").kind == "anyone"
    user = Principal.parse("@OctoCat")
    assert (user.kind, user.login, str(user)) == ("user", "octocat", "@octocat")
    team = Principal.parse("@Acme/DBA")
    assert (team.kind, team.login, team.slug, str(team)) == ("team", "acme", "dba", "@acme/dba")


@pytest.mark.parametrize("bad", ["octocat", "@", "@a/b/c", "@-bad", "**", "@acme/"])
def test_parse_refuses(bad: str) -> None:
    with pytest.raises(PrincipalError, match="is not a principal"):
        Principal.parse(bad)


def test_matching_is_case_insensitive_and_teams_need_a_lookup() -> None:
    assert Principal.parse("@octocat").matches("OCTOCAT", None) is True
    assert Principal.parse("@octocat").matches("hubot", None) is False
    assert Principal.parse("*").matches("anyone", None) is True
    team = Principal.parse("@acme/dba")
    assert team.matches("alice", None) is None  # undecidable offline
    members = {("acme", "dba"): {"alice"}}
    assert team.matches("Alice", lambda o, s, u: u in members.get((o, s), set())) is True
    assert team.matches("bob", lambda o, s, u: u in members.get((o, s), set())) is False
    assert same_login("Alice", "aLICE")
