"""Sealing a delivery to SSH keys with age and opening it: with jitops and with the age CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jitops.core.sshkeys import fingerprint
from jitops.delivery import seal as deliver
from jitops.delivery.armor import CorruptDeliveryError, normalize_armor
from jitops.delivery.comment import render_delivery_comment
from jitops.delivery.errors import DeliveryError
from jitops.errors import JitopsError, Secret
from tests.fixtures.sshkeys import KeyPair, make_key

pytestmark = pytest.mark.integration  # real ssh-keygen, real age

TOKEN = "hvs.CAESIJ-wrapping-TOKEN-must-never-leak-5f3a9c"
ADDR = "https://vault.example.com:8200"


def require_age() -> str:
    path = shutil.which("age")
    if path is None:
        if os.environ.get("JITOPS_REQUIRE_AGE") == "1":
            pytest.fail("the age CLI is required (JITOPS_REQUIRE_AGE=1) but is not on PATH")
        pytest.skip("the age CLI is not installed")
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    d = tmp_path_factory.mktemp("keys")
    return {
        "ed": make_key(d, "id_ed25519"),
        "rsa": make_key(d, "id_rsa", "rsa", bits=2048),
        "other": make_key(d, "other"),
        "ecdsa": make_key(d, "ecdsa", "ecdsa"),
        "locked": make_key(d, "locked", passphrase="correct horse"),
    }


def _payload(grant: str = "prod-db-ro-octocat-1123") -> Secret:
    return deliver.payload_for(grant_id=grant, vault_addr=ADDR, wrapping_token=TOKEN)


@pytest.fixture(scope="module")
def sealed(keys: dict[str, KeyPair]) -> str:
    """A delivery sealed to the ed25519 and RSA keys."""
    return deliver.seal(_payload(), [keys["ed"].public_line, keys["rsa"].public_line])


def test_sealed_output_is_armored_age_without_the_token(sealed: str) -> None:
    assert sealed.startswith("-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert sealed.endswith("-----END AGE ENCRYPTED FILE-----\n")
    assert TOKEN not in sealed
    assert all(len(line) <= 64 for line in sealed.splitlines())


@pytest.mark.parametrize("which", ["ed", "rsa"])
def test_a_delivery_sealed_to_two_keys_opens_with_either(
    sealed: str, keys: dict[str, KeyPair], which: str
) -> None:
    payload = deliver.unseal(sealed, keys[which].private)
    assert payload.grant_id == "prod-db-ro-octocat-1123"
    assert payload.vault_addr == ADDR
    assert payload.wrapping_token.reveal() == TOKEN


def test_payload_repr_hides_the_token(sealed: str, keys: dict[str, KeyPair]) -> None:
    payload = deliver.unseal(sealed, keys["ed"].private)
    assert TOKEN not in repr(payload)
    assert TOKEN not in str(payload)
    assert TOKEN not in f"{payload}"
    assert "***" in repr(payload)
    assert TOKEN not in repr(_payload())
    assert TOKEN not in str(_payload())


def test_our_delivery_opens_with_the_age_cli(sealed: str, keys: dict[str, KeyPair]) -> None:
    age = require_age()
    for which in ("ed", "rsa"):
        out = subprocess.run(
            [age, "-d", "-i", str(keys[which].private)],
            input=sealed,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        assert json.loads(out) == {
            "grant": "prod-db-ro-octocat-1123",
            "vault_addr": ADDR,
            "wrapping_token": TOKEN,
        }


def test_a_file_made_by_the_age_cli_opens_with_jitops(
    keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    age = require_age()
    recipients = tmp_path / "keys.pub"
    recipients.write_text(keys["ed"].public_line + "\n" + keys["rsa"].public_line + "\n")
    doc = json.dumps({"grant": "g-1", "vault_addr": ADDR, "wrapping_token": TOKEN})
    armored = subprocess.run(
        [age, "-R", str(recipients), "-a"],
        input=doc,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for which in ("ed", "rsa"):
        payload = deliver.unseal(armored, keys[which].private, grant_id="g-1")
        assert payload.wrapping_token.reveal() == TOKEN


@pytest.mark.parametrize("size", [0, 1, 2, 47, 48, 49, 95, 96, 97, 300])
def test_every_payload_length_round_trips_through_age(keys: dict[str, KeyPair], size: int) -> None:
    """Armor line wrapping (full last line, padding) is what age itself accepts."""
    age = require_age()
    token = "t" * (size + 1)
    secret = deliver.payload_for(grant_id="g", vault_addr="http://v", wrapping_token=token)
    armored = deliver.seal(secret, [keys["ed"].public_line])
    assert deliver.unseal(armored, keys["ed"].private).wrapping_token.reveal() == token
    out = subprocess.run(
        [age, "-d", "-i", str(keys["ed"].private)],
        input=normalize_armor("  " + armored.replace("\n", "\r\n  ")),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert json.loads(out)["wrapping_token"] == token


def test_a_pasted_and_rewrapped_block_still_opens(sealed: str, keys: dict[str, KeyPair]) -> None:
    body = "".join(sealed.splitlines()[1:-1])
    mangled = (
        "here you go:\r\n\r\n    -----BEGIN AGE ENCRYPTED FILE-----\r\n"
        + "\r\n".join("    " + body[i : i + 50] for i in range(0, len(body), 50))
        + "\r\n    -----END AGE ENCRYPTED FILE-----   \r\n\r\nthanks"
    )
    assert deliver.unseal(mangled, keys["ed"].private).wrapping_token.reveal() == TOKEN


def test_wrong_key_names_the_keys_it_was_sealed_to(sealed: str, keys: dict[str, KeyPair]) -> None:
    with pytest.raises(deliver.WrongKeyError) as caught:
        deliver.unseal(sealed, keys["other"].private)
    message = str(caught.value)
    assert message.startswith("this delivery was sealed to other keys: ")
    assert keys["ed"].fingerprint[:12] in message  # SHA256: + 5 characters of the tag
    assert keys["rsa"].fingerprint[:12] in message
    assert f"is {keys['other'].fingerprint}" in message
    assert "--identity" in message
    assert caught.value.exit_code == 1


def test_passphrase_protected_key_says_how_to_get_around_it(
    keys: dict[str, KeyPair],
) -> None:
    locked = keys["locked"]
    armored = deliver.seal(_payload(), [locked.public_line])
    with pytest.raises(deliver.PassphraseProtectedKeyError) as caught:
        deliver.unseal(armored, locked.private)
    message = str(caught.value)
    assert "protected by a passphrase" in message
    assert f"age -d -i {locked.private} delivery.age" in message
    assert "--passphrase-file" in message and "asked for it" in message
    assert f"It is one of the keys this delivery was sealed to ({locked.fingerprint})" in message


def test_passphrase_key_that_is_not_a_recipient_says_so(
    sealed: str, keys: dict[str, KeyPair]
) -> None:
    with pytest.raises(deliver.PassphraseProtectedKeyError, match="is not one of the keys"):
        deliver.unseal(sealed, keys["locked"].private)


def test_identity_file_problems(sealed: str, keys: dict[str, KeyPair], tmp_path: Path) -> None:
    with pytest.raises(deliver.IdentityNotFoundError, match=r"no SSH private key at .*--identity"):
        deliver.unseal(sealed, tmp_path / "missing")
    with pytest.raises(deliver.NotAPrivateKeyError, match="is a public key"):
        deliver.unseal(sealed, keys["ed"].private.with_name("id_ed25519.pub"))
    junk = tmp_path / "junk"
    junk.write_text("not a key at all\n")
    with pytest.raises(deliver.NotAPrivateKeyError, match="not an SSH private key"):
        deliver.unseal(sealed, junk)
    with pytest.raises(deliver.UnsupportedIdentityError, match="ed25519 or RSA"):
        deliver.unseal(sealed, keys["ecdsa"].private)
    with pytest.raises(deliver.IdentityNotFoundError, match="cannot read"):
        deliver.unseal(sealed, tmp_path)  # a directory


def test_damaged_deliveries(sealed: str, keys: dict[str, KeyPair]) -> None:
    lines = sealed.splitlines()
    truncated = "\n".join(lines[:4])
    with pytest.raises(CorruptDeliveryError, match="cut short"):
        deliver.unseal(truncated, keys["ed"].private)
    with pytest.raises(CorruptDeliveryError, match="no age armored block"):
        deliver.unseal("hello", keys["ed"].private)
    missing_middle = "\n".join([*lines[:3], *lines[5:]])
    with pytest.raises(CorruptDeliveryError):
        deliver.unseal(missing_middle, keys["ed"].private)
    # flip one character in the payload (the last full line: the final line can be a few bytes)
    at = -2 if len(lines[-2]) > 5 else -3
    line = lines[at]
    flipped = line[:-5] + ("A" if line[-5] != "A" else "B") + line[-4:]
    damaged = [*lines[:at], flipped, *lines[at + 1 :]]
    with pytest.raises(CorruptDeliveryError, match="damaged"):
        deliver.unseal("\n".join(damaged), keys["ed"].private)
    with pytest.raises(CorruptDeliveryError, match="not whole base64"):
        deliver.unseal(sealed.replace(lines[2], lines[2][:-1] + "!"), keys["ed"].private)


def test_a_damaged_stanza_for_the_right_key_is_not_called_wrong_key(
    sealed: str, keys: dict[str, KeyPair]
) -> None:
    import base64

    body = "".join(sealed.splitlines()[1:-1])
    raw = bytearray(base64.b64decode(body))
    header_end = raw.index(b"\n---")
    stanza = raw.index(b"-> ssh-ed25519 ")
    body_line = raw.index(b"\n", raw.index(b"\n", stanza) + 1)  # end of the stanza body
    assert body_line < header_end
    raw[body_line - 2] = ord("A") if raw[body_line - 2] != ord("A") else ord("B")
    damaged = normalize_armor(
        "-----BEGIN AGE ENCRYPTED FILE-----\n"
        + base64.b64encode(bytes(raw)).decode()
        + "\n-----END AGE ENCRYPTED FILE-----\n"
    )
    with pytest.raises(CorruptDeliveryError, match="damaged"):
        deliver.unseal(damaged, keys["ed"].private)


def test_something_else_sealed_to_the_key_is_not_a_delivery(keys: dict[str, KeyPair]) -> None:
    armored = deliver.seal(Secret("just some text"), [keys["ed"].public_line])
    with pytest.raises(CorruptDeliveryError, match="not a jitops delivery"):
        deliver.unseal(armored, keys["ed"].private)


def test_a_delivery_for_another_grant_is_refused(sealed: str, keys: dict[str, KeyPair]) -> None:
    with pytest.raises(DeliveryError, match="for grant prod-db-ro-octocat-1123, not x"):
        deliver.unseal(sealed, keys["ed"].private, grant_id="x")


def test_an_account_with_only_ecdsa_keys_cannot_be_sealed_to(keys: dict[str, KeyPair]) -> None:
    with pytest.raises(deliver.NoUsableKeyError) as caught:
        deliver.seal(_payload(), [keys["ecdsa"].public_line])
    message = str(caught.value)
    assert message.startswith("the requester has no ed25519 or RSA SSH key on GitHub; add one at")
    assert "https://github.com/settings/keys" in message
    assert keys["ecdsa"].fingerprint in message
    with pytest.raises(deliver.NoUsableKeyError, match="no SSH key at all"):
        deliver.seal(_payload(), [])


def test_unseal_first_tries_each_key_and_explains_the_best_failure(
    sealed: str, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    opened = deliver.unseal_first(
        sealed, [tmp_path / "missing", keys["other"].private, keys["rsa"].private]
    )
    assert opened.wrapping_token.reveal() == TOKEN
    with pytest.raises(deliver.WrongKeyError) as caught:
        deliver.unseal_first(sealed, [keys["other"].private, tmp_path / "missing"])
    assert keys["other"].fingerprint in str(caught.value)
    locked_delivery = deliver.seal(_payload(), [keys["locked"].public_line])
    with pytest.raises(deliver.PassphraseProtectedKeyError):
        deliver.unseal_first(locked_delivery, [keys["other"].private, keys["locked"].private])
    with pytest.raises(deliver.IdentityNotFoundError, match="--identity"):
        deliver.unseal_first(sealed, [])


def test_default_identities_are_ed25519_then_rsa_when_present(tmp_path: Path) -> None:
    assert deliver.default_identities(tmp_path) == []
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    (ssh / "id_rsa").write_text("x")
    assert deliver.default_identities(tmp_path) == [ssh / "id_rsa"]
    (ssh / "id_ed25519").write_text("x")
    assert deliver.default_identities(tmp_path) == [ssh / "id_ed25519", ssh / "id_rsa"]


def test_the_token_appears_in_no_message_comment_or_repr(
    sealed: str, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    seen: list[str] = []
    comment = render_delivery_comment(
        grant_id="prod-db-ro-octocat-1123",
        requester="octocat",
        role="prod-db-readonly",
        expires_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
        armored=sealed,
        wrap_ttl_seconds=3600,
        key_fingerprints=[fingerprint(keys["ed"].public_line)],
    )
    seen.append(comment)
    bad_key = tmp_path / "bad"
    bad_key.write_text("nonsense")
    attempts = [
        (sealed, keys["other"].private),
        (sealed, keys["locked"].private),
        (sealed, keys["ecdsa"].private),
        (sealed, bad_key),
        (sealed, tmp_path / "missing"),
        (sealed[:300], keys["ed"].private),
        (sealed, keys["ed"].private),  # succeeds, then refuses the grant id
    ]
    for armored, key in attempts:
        with pytest.raises(JitopsError) as caught:
            deliver.unseal(armored, key, grant_id="another-grant")
        seen += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    with pytest.raises(JitopsError) as no_key:
        deliver.seal(_payload(), [keys["ecdsa"].public_line])
    seen.append(str(no_key.value))
    assert seen
    for text in seen:
        assert TOKEN not in text


# -- passphrases: asked for, the key decrypted in memory only -------------------------------------


@pytest.mark.parametrize(
    ("key_type", "bits", "fmt"), [("ed25519", 0, ""), ("rsa", 2048, ""), ("rsa", 2048, "PEM")]
)
def test_a_passphrase_protected_key_opens_when_the_passphrase_is_given(
    tmp_path: Path, key_type: str, bits: int, fmt: str
) -> None:
    """ed25519 and RSA keys with a passphrase, as ssh-keygen writes them (OpenSSH format, and
    RSA in the old PEM format): the key file is never rewritten and nothing else is written."""
    locked = make_key(tmp_path, "locked", key_type, passphrase="correct horse", bits=bits)
    if fmt:  # re-encode the same key in the old PEM format, same passphrase
        subprocess.run(
            ["ssh-keygen", "-p", "-m", fmt, "-P", "correct horse", "-N", "correct horse", "-f",
             str(locked.private)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        assert locked.private.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    before = locked.private.read_bytes()
    files = sorted(tmp_path.iterdir())
    armored = deliver.seal(_payload(), [locked.public_line])
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "correct horse"

    opened = deliver.unseal(armored, locked.private, ask=ask)
    assert opened.wrapping_token.reveal() == TOKEN
    assert asked == [f"Passphrase for {locked.private}"]
    assert locked.private.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == files, "a decrypted key was written somewhere"
    with pytest.raises(deliver.WrongPassphraseError, match=r"passphrase for .* is not right"):
        deliver.unseal(armored, locked.private, ask=lambda _p: "wrong horse")


def test_unseal_first_asks_only_for_a_key_the_delivery_was_sealed_to(
    keys: dict[str, KeyPair], sealed: str
) -> None:
    asked: list[str] = []
    locked_delivery = deliver.seal(_payload(), [keys["locked"].public_line])

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "correct horse"

    opened = deliver.unseal_first(
        locked_delivery, [keys["ed"].private, keys["locked"].private], ask=ask
    )
    assert opened.wrapping_token.reveal() == TOKEN
    assert asked == [f"Passphrase for {keys['locked'].private}"]
    asked.clear()
    # sealed to ed and rsa: the locked key is not asked for, and ed opens it
    assert deliver.unseal_first(sealed, [keys["locked"].private, keys["ed"].private], ask=ask)
    assert asked == []


# -- an age recipient named in the grant ----------------------------------------------------------


def test_a_delivery_sealed_to_an_age_recipient_opens_with_its_identity_file(
    tmp_path: Path, keys: dict[str, KeyPair]
) -> None:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    path = tmp_path / "age-identity.txt"
    path.write_text(f"# created: 2026-12-07\n# public key: {recipient}\n{identity}\n")
    got, notes = deliver.sealing_recipients(recipient, lambda: [keys["ed"].public_line])
    assert (got, notes) == ([recipient], [])  # ONLY the recipient: the SSH keys are not used
    armored = deliver.seal(_payload(), got)
    assert deliver.unseal(armored, path).wrapping_token.reveal() == TOKEN
    with pytest.raises(deliver.WrongKeyError):
        deliver.unseal(armored, keys["ed"].private)
    assert deliver.recipient_label(recipient) == recipient
    assert deliver.recipient_label(keys["ed"].public_line) == keys["ed"].fingerprint


def test_an_age_recipient_opens_with_the_age_cli_too(tmp_path: Path) -> None:
    import pyrage

    age = require_age()
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / "key.txt"
    path.write_text(f"{identity}\n")
    (tmp_path / "d.age").write_text(deliver.seal(_payload(), [str(identity.to_public())]))
    done = subprocess.run(
        [age, "-d", "-i", str(path), str(tmp_path / "d.age")],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["wrapping_token"] == TOKEN


def test_a_plugin_recipient_without_its_plugin_is_no_recipient_and_says_why(
    monkeypatch: pytest.MonkeyPatch, keys: dict[str, KeyPair]
) -> None:
    """The issue job probes before any token exists: no age-plugin-yubikey on the runner
    means no delivery (the gate denies), never a token nobody can open."""
    monkeypatch.setenv("PATH", "/nonexistent")
    yubikey = "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"
    got, notes = deliver.sealing_recipients(yubikey, lambda: [keys["ed"].public_line])
    assert got == []
    assert "age-plugin-yubikey" in notes[0] and yubikey in notes[0]
