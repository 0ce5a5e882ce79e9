from __future__ import annotations

from datetime import timedelta

import pytest

from jitops.core.policy import PolicyError, load_policy
from tests.conftest import EXAMPLE_POLICY

ROLE = """\
  {name}:
    max_duration: {max}
    requesters: ['*']
    approvals: []
    vault:
      policies: [p]
"""


def policy_file(*roles: str, settings: str = "") -> bytes:
    return ("version: 1\n" + settings + "roles:\n" + "".join(roles)).encode()


def errors(files: dict[str, bytes]) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_policy(files)
    return [str(p) for p in info.value.problems]


def test_example_policy_loads() -> None:
    policy = load_policy({"policies/policy.yaml": EXAMPLE_POLICY.read_bytes()})
    assert set(policy.roles) == {"prod-db-readonly", "staging-admin", "prod-break-glass"}
    db = policy.roles["prod-db-readonly"]
    assert db.max_duration == timedelta(hours=4)
    assert db.require_ticket
    assert db.approvals[0].count == 1
    assert str(db.approvals[0].principals[0]) == "@acme/dba"
    assert db.vault_secret == "database/creds/prod-readonly"
    assert policy.roles["staging-admin"].approvals == ()
    assert policy.settings.wrap_ttl == timedelta(hours=1)
    assert policy.settings.vault.token_role == "jitops-grant"


def test_files_are_merged() -> None:
    policy = load_policy(
        {
            "policies/a.yaml": policy_file(ROLE.format(name="alpha", max="1h")),
            "policies/b.yaml": policy_file(ROLE.format(name="beta", max="2h")),
        }
    )
    assert set(policy.roles) == {"alpha", "beta"}
    assert policy.longest_max_duration == timedelta(hours=2)


def test_role_defined_twice_names_both_files() -> None:
    (msg,) = errors(
        {
            "policies/a.yaml": policy_file(ROLE.format(name="alpha", max="1h")),
            "policies/b.yaml": policy_file(ROLE.format(name="alpha", max="2h")),
        }
    )
    assert msg.startswith("policies/b.yaml:3:")
    assert "already defined in policies/a.yaml:3" in msg


def test_invalid_policy_file_is_named_with_line() -> None:
    bad = policy_file(ROLE.format(name="alpha", max="1h").replace("approvals: []", "approvals: 3"))
    (msg,) = errors({"policies/a.yaml": bad})
    assert msg.startswith("policies/a.yaml:6:")
    assert "approvals must be a list" in msg


def test_unknown_field_and_bad_duration_and_bad_principal() -> None:
    text = ROLE.format(name="alpha", max="90") + "    colour: red\n"
    text = text.replace("['*']", "['octocat']")
    msgs = errors({"policies/a.yaml": policy_file(text)})
    joined = "\n".join(msgs)
    assert "policies/a.yaml:4: max_duration 90 has no unit" in joined
    assert "policies/a.yaml:9: unknown field 'colour'" in joined
    assert "'@login', '@org/team-slug' or '*'" in joined


def test_bad_ticket_pattern() -> None:
    (msg,) = errors(
        {
            "policies/a.yaml": policy_file(
                ROLE.format(name="alpha", max="1h"), settings="settings:\n  ticket_pattern: '['\n"
            )
        }
    )
    assert msg.startswith("policies/a.yaml:3: ticket_pattern is not a valid regular expression")


def test_no_files_and_no_roles() -> None:
    assert "no policy files found" in errors({})[0]
    assert "defines no roles" in errors({"policies/a.yaml": b"version: 1\n"})[0]


def test_wrong_version() -> None:
    assert "version must be one of 1" in errors({"policies/a.yaml": b"version: 2\nroles: {}\n"})[0]


def test_webhook_entries_are_checked_where_they_are_written() -> None:
    settings = (
        "settings:\n  notify:\n    - name: siem\n      format: json\n      url_env: SIEM_URL\n"
    )
    (msg,) = errors(
        {"policies/a.yaml": policy_file(ROLE.format(name="alpha", max="1h"), settings=settings)}
    )
    assert msg.startswith("policies/a.yaml:4:")
    assert "secret_env" in msg


def test_bot_login_setting() -> None:
    role = ROLE.format(name="r", max="1h")
    assert load_policy({"policies/a.yaml": policy_file(role)}).settings.bot is None
    for login in ("acme-jitops", "acme-jitops[bot]"):
        settings = f"settings:\n  bot: {login!r}\n"
        policy = load_policy({"policies/a.yaml": policy_file(role, settings=settings)})
        assert policy.settings.bot == login
    bad = policy_file(role, settings="settings:\n  bot: 'two words'\n")
    assert errors({"policies/a.yaml": bad}) == [
        "policies/a.yaml:3: settings.bot 'two words' does not have the expected form "
        "(see `jitops schema` for the exact format)"
    ]


def test_admins_are_principals_and_never_anyone() -> None:
    base = (
        b"version: 1\nsettings:\n  admins: ['@acme/access-admins', '@root']\nroles:\n  r:\n"
        b"    max_duration: 1h\n    requesters: ['*']\n    approvals: []\n"
        b"    vault:\n      policies: [p]\n"
    )
    admins = load_policy({"policies/p.yaml": base}).settings.admins
    assert [str(p) for p in admins] == ["@acme/access-admins", "@root"]
    with pytest.raises(PolicyError, match="admins"):
        load_policy({"policies/p.yaml": base.replace(b"'@root'", b"'*'")})
