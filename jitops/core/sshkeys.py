"""SSH keys as age sees them: which public keys it can seal to, fingerprints, private key files.

Pure functions on bytes and text (no files opened here, no subprocess): public key lines as the
GitHub API returns them (``ssh-ed25519 AAAA... [comment]``), ``SHA256:`` fingerprints computed
like ``ssh-keygen -lf``, a look inside OpenSSH private key files (the public half and whether a
passphrase protects them are stored in clear), and the 4-byte key tags age writes into the
header of every file it seals to an SSH key, so "wrong key" can say which keys would work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from jitops.errors import JitopsError

#: Key types age can seal to and open with.
AGE_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")

#: ``ssh-keygen -l`` labels for the key types a GitHub account can hold.
_LABELS = {
    "ssh-ed25519": "ED25519",
    "ssh-rsa": "RSA",
    "ssh-dss": "DSA",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "sk-ssh-ed25519@openssh.com": "ED25519-SK",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
}

#: age refuses RSA keys below this size (RsaModulusTooSmall).
MIN_RSA_BITS = 2048

_OPENSSH_MAGIC = b"openssh-key-v1\x00"
_OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END = "-----END OPENSSH PRIVATE KEY-----"


class SshKeyError(JitopsError):
    """A public key line that is not a valid SSH public key."""


@dataclass(frozen=True)
class PublicKey:
    """One parsed SSH public key: its type, the wire-format blob and the optional comment."""

    key_type: str
    blob: bytes
    comment: str = ""

    @classmethod
    def from_line(cls, line: str) -> PublicKey:
        """Parse ``type base64 [comment]``; the type inside the blob must match the prefix."""
        parts = line.strip().split(None, 2)
        if len(parts) < 2:
            raise SshKeyError("not an SSH public key line (expected 'TYPE BASE64 [COMMENT]')")
        key_type, data = parts[0], parts[1]
        if not key_type.startswith(("ssh-", "ecdsa-", "sk-")):
            raise SshKeyError("not an SSH public key line (expected 'TYPE BASE64 [COMMENT]')")
        try:
            blob = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SshKeyError(f"{key_type} key: the key data is not valid base64") from exc
        inner = _read_string(blob, 0)
        if inner is None or inner[0] != key_type.encode("ascii", "replace"):
            raise SshKeyError(f"{key_type} key: the key data does not match its type")
        return cls(key_type, blob, parts[2] if len(parts) > 2 else "")

    @property
    def label(self) -> str:
        """``ED25519``, ``RSA``, ``ECDSA``... as ``ssh-keygen -l`` prints it."""
        return _LABELS.get(self.key_type, self.key_type)

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` exactly as ``ssh-keygen -lf`` prints it."""
        return blob_fingerprint(self.blob)

    @property
    def rsa_bits(self) -> int | None:
        """Modulus size of an RSA key (None for other types or a damaged blob)."""
        if self.key_type != "ssh-rsa":
            return None
        pos = len(self.key_type) + 4
        exponent = _read_string(self.blob, pos)
        if exponent is None:
            return None
        modulus = _read_string(self.blob, exponent[1])
        if modulus is None:
            return None
        return int.from_bytes(modulus[0], "big").bit_length()

    def age_tag(self) -> bytes:
        """The 4 bytes age writes in a recipient stanza for this key."""
        return hashlib.sha256(self.blob).digest()[:4]

    def to_line(self) -> str:
        """``type base64`` (the comment dropped: it is the account owner's, not ours)."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"


def blob_fingerprint(blob: bytes) -> str:
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def fingerprint(key_line: str) -> str:
    """The ``SHA256:...`` fingerprint of a public key line (raises :class:`SshKeyError`)."""
    return PublicKey.from_line(key_line).fingerprint


def tag_prefix(tag: bytes) -> str:
    """How a 4-byte age tag reads as the start of a fingerprint: ``SHA256:inq1Z…``.

    The tag is the first 4 bytes of the key's SHA-256, so its first 5 base64 characters
    (30 bits) are the first 5 characters of the fingerprint.
    """
    return "SHA256:" + base64.b64encode(tag).decode("ascii")[:5] + "…"


def usable_ssh_keys(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split an account's public keys into the ones age can seal to, and notes on the rest.

    Usable keys come back as ``type base64`` lines (comment dropped), in order, without
    duplicates. Each note names the key by type and fingerprint and says why it is skipped.
    """
    usable: list[str] = []
    notes: list[str] = []
    for number, line in enumerate(keys, start=1):
        if not line.strip():
            continue
        try:
            key = PublicKey.from_line(line)
        except SshKeyError as exc:
            notes.append(f"key {number} skipped: {exc}")
            continue
        why = _why_unusable(key)
        if why is not None:
            notes.append(f"{key.label} key {key.fingerprint} skipped: {why}")
            continue
        if key.to_line() not in usable:
            usable.append(key.to_line())
    return usable, notes


def _why_unusable(key: PublicKey) -> str | None:
    if key.key_type.startswith("sk-"):
        return "security-key (FIDO) keys cannot decrypt files, so age cannot seal to them"
    if key.key_type.startswith("ecdsa-"):
        return "age cannot seal to ECDSA keys"
    if key.key_type == "ssh-dss":
        return "age cannot seal to DSA keys"
    if key.key_type not in AGE_KEY_TYPES:
        return f"age cannot seal to {key.key_type} keys"
    bits = key.rsa_bits
    if key.key_type == "ssh-rsa" and (bits is None or bits < MIN_RSA_BITS):
        return f"age needs an RSA key of {MIN_RSA_BITS} bits or more (this one has {bits or 0})"
    if key.key_type == "ssh-ed25519":
        point = _read_string(key.blob, len(key.key_type) + 4)
        if point is None or len(point[0]) != 32:
            return "the ed25519 key data is damaged"
    return None


@dataclass(frozen=True)
class PrivateKeyInfo:
    """What a private key file says about itself without being decrypted."""

    kind: str  # "openssh" | "pem" | "public" | "unknown"
    encrypted: bool
    public: PublicKey | None = None


def inspect_private_key(data: bytes) -> PrivateKeyInfo:
    """Classify a private key file: format, passphrase protection and (for OpenSSH) its
    public half, all of which are stored in clear."""
    text = data.decode("utf-8", "replace").strip()
    first = text.splitlines()[0].strip() if text else ""
    if first.startswith(("ssh-", "ecdsa-", "sk-")) and not first.startswith("-----"):
        try:
            return PrivateKeyInfo("public", False, PublicKey.from_line(first))
        except SshKeyError:
            return PrivateKeyInfo("public", False)
    if first == _OPENSSH_BEGIN:
        return _inspect_openssh(text)
    if first.startswith("-----BEGIN ") and "PRIVATE KEY-----" in first:
        headers = [line for line in text.splitlines()[1:4] if line.startswith("Proc-Type:")]
        encrypted = "ENCRYPTED" in first or any("ENCRYPTED" in line for line in headers)
        return PrivateKeyInfo("pem", encrypted)
    return PrivateKeyInfo("unknown", False)


def _inspect_openssh(text: str) -> PrivateKeyInfo:
    body = text.split(_OPENSSH_BEGIN, 1)[1].split(_OPENSSH_END, 1)[0]
    try:
        raw = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return PrivateKeyInfo("unknown", False)
    if not raw.startswith(_OPENSSH_MAGIC):
        return PrivateKeyInfo("unknown", False)
    pos = len(_OPENSSH_MAGIC)
    cipher = _read_string(raw, pos)
    kdf = _read_string(raw, cipher[1]) if cipher else None
    kdf_options = _read_string(raw, kdf[1]) if kdf else None
    if cipher is None or kdf_options is None or len(raw) < kdf_options[1] + 4:
        return PrivateKeyInfo("unknown", False)
    encrypted = cipher[0] != b"none"
    (count,) = struct.unpack(">I", raw[kdf_options[1] : kdf_options[1] + 4])
    public = None
    blob = _read_string(raw, kdf_options[1] + 4) if count >= 1 else None
    if blob is not None:
        key_type = _read_string(blob[0], 0)
        if key_type is not None:
            public = PublicKey(key_type[0].decode("ascii", "replace"), blob[0])
    return PrivateKeyInfo("openssh", encrypted, public)


def _read_string(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """An SSH wire-format string at ``pos``: (value, position after it), None if truncated."""
    if pos + 4 > len(data):
        return None
    (length,) = struct.unpack(">I", data[pos : pos + 4])
    end = pos + 4 + length
    if end > len(data):
        return None
    return data[pos + 4 : end], end
