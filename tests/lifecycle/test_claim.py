"""claim: the delivery identity is a GitHub App bot, and `--format env` is safe to eval."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jitops.doors.vault.model import Unwrapped
from jitops.errors import Secret
from jitops.lifecycle.claim import ClaimError, delivery_bot, render, unwrap_address

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BASH = shutil.which("bash")


def _secret(values: dict[str, str], lease: int = 3600) -> Unwrapped:
    return Unwrapped(
        kind="secret", values={k: Secret(v) for k, v in values.items()}, lease_duration=lease
    )


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
def test_a_hostile_field_name_prints_nothing_to_eval(tmp_path: Path, key: str) -> None:
    with pytest.raises(ClaimError, match="not a safe shell variable name") as info:
        render("g-1", _secret({"username": "u", key: "v"}), "env", NOW)
    assert key not in str(info.value)  # the hostile name is not echoed to the terminal


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
