"""claim: the delivery identity is a GitHub App bot, and `--format env` is safe to eval."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.doors.vault.model import Unwrapped, WrapLookup
from jitops.errors import Secret
from jitops.lifecycle.claim import (
    ClaimError,
    ExpectedDelivery,
    check_token,
    check_wrapping,
    delivery_bot,
    delivery_namespace,
    find_delivery,
    render,
    show,
    unwrap_address,
)
from jitops.lifecycle.issue import run_issue
from jitops_sandbox.demo.world import DBA, REQUESTER, World, write_kv2
from tests.delivery.test_comment import ARMOR_1

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BASH = shutil.which("bash")


def _secret(values: dict[str, str], lease: int = 3600, lease_id: str = "") -> Unwrapped:
    """A dynamic secret: a lease id, which Vault revokes with the grant token."""
    return Unwrapped(
        kind="secret",
        values={k: Secret(v) for k, v in values.items()},
        lease_id=lease_id or "database/creds/ro/abc123",
        lease_duration=lease,
    )


def _static(values: dict[str, str], lease: int = 0) -> Unwrapped:
    """A KV read: no lease id (KV v1 still answers a lease_duration, its refresh hint)."""
    return Unwrapped(
        kind="secret", values={k: Secret(v) for k, v in values.items()}, lease_duration=lease
    )


@pytest.mark.parametrize("lease", [0, 2764800])
def test_a_secret_without_a_lease_is_said_to_outlive_the_grant(tmp_path: Path, lease: int) -> None:
    """KV v1 answers lease_duration 768h with no lease: claim used to print "expires at ...;
    Vault ends it by itself then", which is false for a static secret."""
    claimed = _static({"password": "pw"}, lease)
    text = render("g-1", claimed, "text", NOW)
    assert "Vault ends it by itself" not in text
    assert "does not end it; it must be rotated" in text
    data = json.loads(render("g-1", claimed, "json", NOW))
    assert data["static"] is True and data["expires_at"] is None
    assert "rotated" in data["note"]
    out, note = show("g-1", claimed, "env", NOW)
    assert "JITOPS_EXPIRES_AT" not in out
    assert note is not None and "must be rotated" in note
    assert _eval(tmp_path, out, '"$JITOPS_PASSWORD"').split("\0")[0] == "pw"
    leased = render("g-1", _secret({"password": "pw"}), "text", NOW)
    assert "Vault ends it by itself then" in leased and "rotated" not in leased


def _eval(tmp_path: Path, script: str, show: str) -> str:
    """Run `eval "$(...)"` in bash inside ``tmp_path`` and print the variables in ``show``."""
    assert BASH is not None, "bash is needed to prove the output is safe to eval"
    (tmp_path / "out.env").write_text(script)
    done = subprocess.run(
        [BASH, "-c", f'eval "$(cat out.env)"; printf "%s\\0" {show}'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


HOSTILE_VALUES = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; echo '",
    'x"; touch PWNED; "',
    "line one\ntouch PWNED",
    "\\'$(touch PWNED)",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_eval_of_a_hostile_value_creates_nothing_and_keeps_the_value(
    tmp_path: Path, value: str
) -> None:
    out = render("g-1", _secret({"password": value}), "env", NOW)
    got = _eval(tmp_path, out, '"$JITOPS_PASSWORD"')
    assert got.split("\0")[0] == value
    assert list(tmp_path.iterdir()) == [tmp_path / "out.env"], "eval ran something"


@pytest.mark.parametrize(
    "key", ["A;touch PWNED;B", "x$(touch PWNED)", "a b", "ä", "1=2 touch PWNED", "\n"]
)
def test_a_hostile_field_name_is_kept_out_of_eval_and_shown_on_the_terminal(
    tmp_path: Path, key: str
) -> None:
    """The delivery is used up once unwrapped: a field ``--format env`` cannot export is not
    lost, it is shown on stderr as escaped JSON (never in the eval'd stdout)."""
    out, note = show("g-1", _secret({"username": "u", key: "v$(touch PWNED)"}), "env", NOW)
    got = _eval(tmp_path, out, '"$JITOPS_USERNAME"')
    assert got.split("\0")[0] == "u"
    assert list(tmp_path.iterdir()) == [tmp_path / "out.env"], "eval ran something"
    assert note is not None and "NOT exported" in note
    shown = json.loads(note.splitlines()[-1])
    assert shown == {key: "v$(touch PWNED)"}
    assert "\n" not in note.splitlines()[-1] and "\x1b" not in note


def test_plain_field_names_become_jitops_variables(tmp_path: Path) -> None:
    out = render("g-1", _secret({"username": "ro", "api-key": "k", "db.host": "h"}), "env", NOW)
    got = _eval(tmp_path, out, '"$JITOPS_USERNAME" "$JITOPS_API_KEY" "$JITOPS_DB_HOST"')
    assert got.split("\0")[:3] == ["ro", "k", "h"]
    assert "export JITOPS_EXPIRES_AT=2026-11-30T13:00:00Z" in out


def test_a_bare_token_prints_one_vault_token_the_token_not_the_accessor(
    tmp_path: Path,
) -> None:
    claimed = Unwrapped(
        kind="token",
        values={"token": Secret("s.the-token"), "accessor": Secret("the-accessor")},
        lease_duration=600,
    )
    out = render("g-1", claimed, "env", NOW)
    assert out.count("VAULT_TOKEN=") == 1
    assert "the-accessor" not in out
    assert _eval(tmp_path, out, '"$VAULT_TOKEN"').split("\0")[0] == "s.the-token"


def test_github_actions_bot_is_refused_as_the_delivery_identity(tmp_path: Path) -> None:
    with pytest.raises(ClaimError) as info:
        delivery_bot("GitHub-Actions[bot]", None)
    message = str(info.value)
    assert "cannot be trusted" in message
    assert "runs the author's code" in message  # why
    assert "GitHub App" in message and "create-github-app-token" in message  # how


def test_claim_needs_a_bot(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "policy.yaml").write_text(
        "version: 1\nroles:\n  r:\n    description: x\n    max_duration: 1h\n"
        "    requesters: ['*']\n    approvals: []\n    vault: {policies: [p]}\n"
    )
    with pytest.raises(ClaimError, match="which account posts deliveries"):
        delivery_bot(None, tmp_path)
    assert delivery_bot("acme-jitops[bot]", tmp_path) == "acme-jitops[bot]"
    text = (tmp_path / "policies" / "policy.yaml").read_text()
    (tmp_path / "policies" / "policy.yaml").write_text(
        text.replace("version: 1\n", "version: 1\nsettings:\n  bot: acme-jitops[bot]\n")
    )
    assert delivery_bot(None, tmp_path) == "acme-jitops[bot]"


def test_a_pinned_vault_address_refuses_a_delivery_naming_another(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    policy = (
        "version: 1\nsettings:\n  vault:\n    addr: https://vault.example.com:8200/\nroles:\n"
        "  r:\n    description: x\n    max_duration: 1h\n    requesters: ['*']\n"
        "    approvals: []\n    vault: {policies: [p]}\n"
    )
    (tmp_path / "policies" / "policy.yaml").write_text(policy)
    pinned = "https://vault.example.com:8200/"
    assert unwrap_address("https://VAULT.example.com:8200", None, tmp_path) == pinned
    with pytest.raises(ClaimError, match="may have been edited") as info:
        unwrap_address("https://evil.example", None, tmp_path)
    assert "https://evil.example" in str(info.value) and pinned in str(info.value)
    # --vault-addr (or VAULT_ADDR) is the requester's own choice and wins
    assert unwrap_address("https://evil.example", "https://mine:8200", tmp_path) == (
        "https://mine:8200"
    )
    # no pin (or no readable policy): the delivery's address, as before
    assert unwrap_address("https://vault.other:8200", None, None) == "https://vault.other:8200"


EXPECTED = ExpectedDelivery(
    "g-1", "secret/data/staging/admin", NOW, timedelta(minutes=10), namespace="team"
)


def _looked(path: str, after: timedelta, ttl: int = 600) -> WrapLookup:
    return WrapLookup(creation_path=path, creation_time=NOW + after, creation_ttl=ttl)


def test_a_wrapping_token_must_come_from_the_roles_path_soon_after_the_issue() -> None:
    later = NOW + timedelta(minutes=1)
    check_wrapping(EXPECTED, _looked("secret/data/staging/admin", timedelta(seconds=1)), later)
    # Vault's clock a little behind the issue job's runner is not a forgery
    check_wrapping(EXPECTED, _looked("secret/data/staging/admin", -timedelta(seconds=30)), later)
    with pytest.raises(ClaimError, match=r"not made by jitops: .*'sys/wrapping/wrap'"):
        check_wrapping(EXPECTED, _looked("sys/wrapping/wrap", timedelta(seconds=1)), later)
    with pytest.raises(ClaimError, match="for this issue: Vault made its wrapping token at"):
        check_wrapping(EXPECTED, _looked("secret/data/staging/admin", -timedelta(hours=1)), later)
    with pytest.raises(ClaimError, match="for this issue"):
        check_wrapping(EXPECTED, _looked("secret/data/staging/admin", timedelta(hours=1)), later)
    with pytest.raises(ClaimError, match="expired before it was claimed"):
        check_wrapping(
            EXPECTED,
            _looked("secret/data/staging/admin", timedelta(seconds=1), ttl=60),
            NOW + timedelta(minutes=5),
        )


def test_a_claimed_token_must_carry_its_grants_metadata() -> None:
    check_token("g-1", "g-1")
    with pytest.raises(ClaimError, match="the token of g-2, not the token of g-1"):
        check_token("g-1", "g-2")
    with pytest.raises(ClaimError, match="the token of no grant"):
        check_token("g-1", None)


def test_a_pinned_namespace_refuses_a_delivery_naming_another() -> None:
    assert delivery_namespace("team/", "team") == "team"
    assert delivery_namespace("team", None) == "team"  # no pin: the delivery's
    assert delivery_namespace(None, None) is None
    with pytest.raises(ClaimError, match="names Vault namespace 'other'"):
        delivery_namespace("other", "team")
    with pytest.raises(ClaimError, match=r"names Vault namespace '\(root\)'"):
        delivery_namespace(None, "team")


def test_claim_on_a_shrunk_delivery_says_what_happened_and_what_to_do() -> None:
    from jitops.core.grant import Grant
    from jitops.delivery.comment import SpentNote, render_delivery_comment, spent_delivery_comment

    grant = Grant("g-1", "grants/g-1.yaml", "octocat", "r", timedelta(hours=1), "1h", "x")
    sealed = render_delivery_comment(
        grant_id="g-1",
        requester="octocat",
        role="r",
        expires_at=NOW,
        armored=ARMOR_1,
        wrap_ttl_seconds=600,
        key_fingerprints=[],
    )
    spent = spent_delivery_comment("g-1", SpentNote("claimed", "2026-11-30T12:05:00Z"), "")

    def find(*comments: tuple[str, str]) -> str:
        return find_delivery(
            grant_id="g-1", grant=grant, comments_of=lambda _n: comments, bot="bot", pull_request=7
        )

    with pytest.raises(ClaimError) as info:
        find(("bot", spent))
    said = str(info.value)
    assert "the delivery of g-1 was claimed (its single-use wrapping token was used" in said
    assert "2026-11-30T12:05:00Z" in said and "#7" in said
    assert "jitops revoke g-1" in said and "request access again" in said
    assert info.value.exit_code == 1
    assert find(("bot", spent), ("bot", sealed)) == ARMOR_1  # a fresh delivery after it opens
    with pytest.raises(ClaimError, match="was claimed"):
        find(("bot", sealed), ("bot", spent))
    # a look-alike note by anyone else is ignored
    assert find(("bot", sealed), ("mallory", spent)) == ARMOR_1


@pytest.mark.integration
def test_claim_env_keeps_an_unexportable_field_out_of_eval_and_still_shows_it(
    world: World, tmp_path: Path
) -> None:
    """Through the CLI with a real OpenBao secret: a key that is no shell name (finding 9 of
    issue 19) used to end the claim after the single-use unwrap, so the credential was lost."""
    hostile = "a;touch PWNED"
    write_kv2(
        world.admin(),
        "secret/data/staging/admin",
        {"data": {"username": "admin", "bad-name": "kept", hostile: "v$(touch PWNED2)"}},
    )
    text = "requester: octocat\nrole: staging-admin\nduration: 1h\nreason: Debug the deploy\n"
    n = world.gh.open_pr(REQUESTER, "req", "Access", files={"grants/stg-octocat-5.yaml": text})
    world.gh.merge_pr(n, DBA)
    assert [(o.grant, o.action) for o in run_issue(world.services())] == [
        ("stg-octocat-5", "issued")
    ]
    env = {**world.environ(), "GITHUB_TOKEN": world.gh.token(REQUESTER)}
    args = ["claim", "stg-octocat-5", "--identity", str(world.key.private), "--format", "env"]
    result = CliRunner().invoke(cli, [*args, "--repo", str(world.checkout)], env=env)
    assert result.exit_code == 1, result.output  # the user notices something was left out
    shell = tmp_path / "shell"
    shell.mkdir()
    got = _eval(shell, result.stdout, '"$JITOPS_USERNAME" "$JITOPS_BAD_NAME"')
    assert got.split("\0")[:2] == ["admin", "kept"]
    assert list(shell.iterdir()) == [shell / "out.env"], "eval ran something"
    assert "PWNED" not in result.stdout
    assert "NOT exported" in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {hostile: "v$(touch PWNED2)"}
