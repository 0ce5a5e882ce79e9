"""age recipients a grant may name instead of the requester's GitHub SSH keys.

A requester whose private key lives in an agent or on hardware (1Password, Secretive, a YubiKey
``sk-`` key, an ECDSA key) cannot open a delivery sealed to SSH keys with jitops. Such a
requester writes ``recipient: age1...`` in the grant file; the delivery is then sealed to that
recipient only. The line is part of the reviewed file (the gate compares the merged file byte
for byte with the pull request's head), so reviewers approve it knowingly.

Accepted, strictly (a Bech32 string with a valid checksum, lower case, as age prints them):

- ``age1`` + 58 characters: a native X25519 recipient (``age-keygen``);
- ``age1tag1...``: a native P-256 tag recipient (age 1.3, hardware keys);
- ``age1<plugin>1...``: a plugin recipient such as age-plugin-yubikey's ``age1yubikey1...``;
  sealing to it needs ``age-plugin-<plugin>`` on the PATH of the runner that issues.

Pure (no I/O).
"""

from __future__ import annotations

import re

#: the Bech32 data alphabet (BIP 173)
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_RECIPIENT_RE = re.compile(
    r"age1(?:(?P<plugin>[a-z0-9][a-z0-9+._-]{0,31})1)?(?P<data>[" + _CHARSET + r"]{50,200})"
)
#: age's native recipient kinds that carry a Bech32 HRP of their own (no plugin needed)
NATIVE_TAGGED = ("tag",)
MAX_RECIPIENT = 240


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk


def _bech32_ok(text: str) -> bool:
    hrp, _, data = text.rpartition("1")
    if not hrp or len(data) < 6:
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    return _polymod(expanded + [_CHARSET.index(c) for c in data]) == 1


def recipient_problem(value: object) -> str | None:
    """Why ``value`` is not an age recipient jitops seals to (None: it is one)."""
    if not isinstance(value, str):
        return "must be a string: an age recipient such as age1... (from `age-keygen -y`)"
    if len(value) > MAX_RECIPIENT:
        return (
            f"is longer than {MAX_RECIPIENT} characters (post-quantum recipients are not supported)"
        )
    match = _RECIPIENT_RE.fullmatch(value)
    if match is None:
        return (
            "is not an age recipient: expected age1 followed by lower-case Bech32 (an X25519 "
            "key from `age-keygen -y`, or a plugin recipient such as age1yubikey1...)"
        )
    if match.group("plugin") is None and len(match.group("data")) != 58:
        return "is not an X25519 age recipient (age1 + 58 characters)"
    if not _bech32_ok(value):
        return "has a bad checksum (a typo, or a character lost while copying)"
    return None


def plugin_name(recipient: str) -> str | None:
    """The plugin that seals to ``recipient`` (``yubikey`` for age1yubikey1...), None for the
    recipients age seals to natively (X25519, P-256 tag)."""
    match = _RECIPIENT_RE.fullmatch(recipient)
    name = match.group("plugin") if match else None
    return None if name is None or name in NATIVE_TAGGED else name


def is_age_recipient(text: str) -> bool:
    return recipient_problem(text) is None
