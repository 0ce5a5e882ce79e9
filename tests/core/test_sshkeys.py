"""SSH public keys as age sees them: usable or not (and why), fingerprints, private key files."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from jitops.core.sshkeys import (
    PublicKey,
    SshKeyError,
    fingerprint,
    inspect_private_key,
    tag_prefix,
    usable_ssh_keys,
)
from tests.fixtures.sshkeys import KeyPair, make_key

pytestmark = pytest.mark.integration  # real ssh-keygen


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _sk_ed25519_line() -> str:
    """A security-key public key line (ssh-keygen needs the hardware to make one)."""
    blob = _string(b"sk-ssh-ed25519@openssh.com") + _string(b"\x01" * 32) + _string(b"ssh:")
    return "sk-ssh-ed25519@openssh.com " + base64.b64encode(blob).decode() + " yubikey"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    d = tmp_path_factory.mktemp("keys")
    return {
        "ed": make_key(d, "ed"),
        "rsa": make_key(d, "rsa", "rsa", bits=2048),
        "rsa1k": make_key(d, "rsa1k", "rsa", bits=1024),
        "ecdsa": make_key(d, "ecdsa", "ecdsa"),
        "locked": make_key(d, "locked", passphrase="correct horse"),
    }


def test_fingerprints_match_ssh_keygen(keys: dict[str, KeyPair]) -> None:
    for pair in keys.values():
        assert fingerprint(pair.public_line) == pair.fingerprint


def test_ed25519_and_rsa_are_usable_with_comments_dropped(keys: dict[str, KeyPair]) -> None:
    usable, notes = usable_ssh_keys([keys["ed"].public_line, keys["rsa"].public_line])
    assert notes == []
    assert [line.split()[0] for line in usable] == ["ssh-ed25519", "ssh-rsa"]
    assert all(len(line.split()) == 2 for line in usable)  # "ed@test" comment gone
    assert usable[0] == " ".join(keys["ed"].public_line.split()[:2])


def test_unusable_keys_come_back_as_notes_naming_the_key_and_why(
    keys: dict[str, KeyPair],
) -> None:
    lines = [
        keys["ecdsa"].public_line,
        keys["rsa1k"].public_line,
        _sk_ed25519_line(),
        "ssh-ed25519 not-base64!!",
        "hello world",
        "",
        keys["ed"].public_line,
    ]
    usable, notes = usable_ssh_keys(lines)
    assert usable == [" ".join(keys["ed"].public_line.split()[:2])]
    assert len(notes) == 5
    assert notes[0] == (
        f"ECDSA key {keys['ecdsa'].fingerprint} skipped: age cannot seal to ECDSA keys"
    )
    assert keys["rsa1k"].fingerprint in notes[1]
    assert "2048 bits or more (this one has 1024)" in notes[1]
    assert notes[2].startswith("ED25519-SK key SHA256:")
    assert "security-key (FIDO)" in notes[2]
    assert notes[3] == "key 4 skipped: ssh-ed25519 key: the key data is not valid base64"
    assert notes[4].startswith("key 5 skipped: not an SSH public key line")


def test_duplicate_keys_are_sealed_to_once(keys: dict[str, KeyPair]) -> None:
    line = keys["ed"].public_line
    usable, _ = usable_ssh_keys([line, line + " other-comment", "  " + line])
    assert len(usable) == 1


def test_a_blob_that_lies_about_its_type_is_refused(keys: dict[str, KeyPair]) -> None:
    blob = keys["ed"].public_line.split()[1]
    with pytest.raises(SshKeyError, match="does not match its type"):
        PublicKey.from_line(f"ssh-rsa {blob}")


def test_age_tag_is_the_start_of_the_fingerprint(keys: dict[str, KeyPair]) -> None:
    key = PublicKey.from_line(keys["rsa"].public_line)
    prefix = tag_prefix(key.age_tag())
    assert prefix.endswith("…")
    assert key.fingerprint.startswith(prefix[:-1])
    assert key.label == "RSA"
    assert key.rsa_bits == 2048


def test_inspect_private_key_reads_public_half_and_passphrase_flag(
    keys: dict[str, KeyPair],
) -> None:
    plain = inspect_private_key(keys["ed"].private.read_bytes())
    assert (plain.kind, plain.encrypted) == ("openssh", False)
    assert plain.public is not None
    assert plain.public.fingerprint == keys["ed"].fingerprint

    locked = inspect_private_key(keys["locked"].private.read_bytes())
    assert (locked.kind, locked.encrypted) == ("openssh", True)
    assert locked.public is not None
    assert locked.public.fingerprint == keys["locked"].fingerprint

    public = inspect_private_key(keys["ed"].public_line.encode())
    assert public.kind == "public"
    assert inspect_private_key(b"\x00\x01garbage").kind == "unknown"
    assert inspect_private_key(b"").kind == "unknown"


def test_inspect_pem_rsa_keys(tmp_path: Path) -> None:
    import subprocess

    for name, passphrase in (("pem", ""), ("pempw", "secret-pass")):
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "rsa",
                "-b",
                "2048",
                "-m",
                "PEM",
                "-N",
                passphrase,
                "-f",
                str(tmp_path / name),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    assert inspect_private_key((tmp_path / "pem").read_bytes()).encrypted is False
    info = inspect_private_key((tmp_path / "pempw").read_bytes())
    assert (info.kind, info.encrypted) == ("pem", True)
