"""Sealed delivery: the Vault wrapping token, sealed with age to the requester's SSH keys.

What is sealed is a one-line JSON document, so ``jitops claim`` (and a person with only the
``age`` and ``vault`` CLIs) knows where to unwrap::

    {"grant": "<grant id>", "vault_addr": "https://vault.example", "wrapping_token": "hvs...",
     "vault_namespace": "admin/team"}

``vault_namespace`` is present only when jitops issued in a Vault namespace (HCP Vault,
Vault Enterprise, OpenBao namespaces): the wrapping token is unwrapped in that namespace.

The armored age file is posted in a pull request comment (see :mod:`jitops.delivery.comment`).
Only a private key matching one of the SSH keys on the requester's GitHub account at issue time
opens it, and the wrapping token inside can be unwrapped once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyrage

from jitops.core.sshkeys import (
    PublicKey,
    SshKeyError,
    inspect_private_key,
    tag_prefix,
    usable_ssh_keys,
)
from jitops.delivery.armor import CorruptDeliveryError, normalize_armor, recipient_tags
from jitops.delivery.errors import DeliveryError
from jitops.errors import Secret

_PLAIN_ROUTE = (
    "save the block as delivery.age and run `age -d -i {key} delivery.age` (age asks for the "
    "passphrase), then `VAULT_ADDR=<vault_addr> VAULT_NAMESPACE=<vault_namespace> vault unwrap "
    "<wrapping_token>` with the values it prints (no vault_namespace: leave VAULT_NAMESPACE "
    "unset)"
)


class NoUsableKeyError(DeliveryError):
    """The requester has no SSH key age can seal to."""


class IdentityNotFoundError(DeliveryError):
    """The private key file given to open the delivery does not exist."""


class NotAPrivateKeyError(DeliveryError):
    """The file given as identity is not an SSH private key (or is the public half)."""


class PassphraseProtectedKeyError(DeliveryError):
    """The private key is encrypted; the age library cannot prompt for its passphrase."""

    def __init__(self, identity_path: str, public: PublicKey | None, armor: str) -> None:
        self.identity_path = identity_path
        self.public = public
        super().__init__(_passphrase_message(identity_path, public, armor))

    def is_recipient(self, tags: Iterable[bytes]) -> bool:
        """Whether this key is one the delivery was sealed to (known from its public half)."""
        return self.public is not None and self.public.age_tag() in set(tags)


class UnsupportedIdentityError(DeliveryError):
    """An SSH private key of a type age cannot open files with (ECDSA, security keys)."""


class WrongKeyError(DeliveryError):
    """The delivery was sealed to other keys."""


@dataclass(frozen=True)
class SealedPayload:
    """What a delivery holds. ``repr`` never shows the wrapping token."""

    grant_id: str
    vault_addr: str
    wrapping_token: Secret
    vault_namespace: str | None = None

    def to_secret(self) -> Secret:
        """The JSON document that is sealed (a secret: it holds the wrapping token)."""
        doc = {
            "grant": self.grant_id,
            "vault_addr": self.vault_addr,
            "wrapping_token": self.wrapping_token.reveal(),
        }
        if self.vault_namespace:
            doc["vault_namespace"] = self.vault_namespace
        return Secret(json.dumps(doc) + "\n")

    @classmethod
    def from_plaintext(cls, data: bytes) -> SealedPayload:
        """Parse an opened delivery; :class:`CorruptDeliveryError` when it is not one."""
        not_ours = CorruptDeliveryError(
            "the delivery opened, but what is inside is not a jitops delivery (expected JSON "
            "with grant, vault_addr and wrapping_token); check that you copied the block of the "
            "jitops comment for this grant"
        )
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise not_ours from None
        if not isinstance(doc, dict):
            raise not_ours
        values = [doc.get("grant"), doc.get("vault_addr"), doc.get("wrapping_token")]
        if not all(isinstance(v, str) and v for v in values):
            raise not_ours
        namespace = doc.get("vault_namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise not_ours
        grant, addr, token = (str(v) for v in values)
        return cls(grant, addr, Secret(token), namespace or None)


def payload_for(
    *,
    grant_id: str,
    vault_addr: str,
    wrapping_token: Secret | str,
    namespace: str | None = None,
) -> Secret:
    """The sealed JSON document for one delivery (``namespace``: the Vault namespace the
    wrapping token lives in, when not the root one)."""
    token = wrapping_token if isinstance(wrapping_token, Secret) else Secret(wrapping_token)
    return SealedPayload(grant_id, vault_addr, token, namespace or None).to_secret()


def seal(secret: Secret, recipients: Sequence[str]) -> str:
    """ASCII-armored age encryption of ``secret`` to every usable SSH key in ``recipients``."""
    keys, notes = usable_ssh_keys(recipients)
    if not keys:
        found = "; ".join(notes) if notes else "the account has no SSH key at all"
        raise NoUsableKeyError(
            "the requester has no ed25519 or RSA SSH key on GitHub; add one at "
            "https://github.com/settings/keys and ask an admin to issue the grant again "
            f"(age cannot seal to the others: {found})"
        )
    try:
        parsed = [pyrage.ssh.Recipient.from_str(key) for key in keys]
        sealed = pyrage.encrypt(secret.reveal().encode("utf-8"), parsed, armored=True)
    except (pyrage.RecipientError, pyrage.EncryptError) as exc:
        raise DeliveryError(
            f"age could not seal the delivery ({type(exc).__name__}); check the requester's "
            "SSH keys at https://github.com/settings/keys"
        ) from None
    text = bytes(sealed).decode("ascii")
    return text if text.endswith("\n") else text + "\n"


def default_identities(home: Path) -> list[Path]:
    """The private keys tried when no ``--identity`` is given: those of
    ``~/.ssh/id_ed25519`` and ``~/.ssh/id_rsa`` that exist, in that order."""
    candidates = [home / ".ssh" / "id_ed25519", home / ".ssh" / "id_rsa"]
    return [path for path in candidates if path.is_file()]


def unseal(armored: str, identity_path: Path, *, grant_id: str | None = None) -> SealedPayload:
    """Open a delivery with one SSH private key file.

    Every failure is a :class:`DeliveryError` subclass whose message says what to do. With
    ``grant_id``, a delivery for another grant is refused.
    """
    armor = normalize_armor(armored)
    identity, public = _load_identity(identity_path, armor)
    try:
        plaintext = pyrage.decrypt(armor.encode("ascii"), [identity])
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            if public is None or public.age_tag() not in recipient_tags(armor):
                raise _wrong_key(armor, [(identity_path, public)]) from None
            raise CorruptDeliveryError(
                f"this delivery was sealed to {public.fingerprint} ({identity_path}), but that "
                "key does not open it: the block is damaged; copy it again from the delivery "
                "comment, or ask an admin to revoke the grant and request access again"
            ) from None
        raise CorruptDeliveryError(
            "the delivery is damaged and cannot be opened (age: "
            f"{_short(str(exc))}); copy the block again from the delivery comment, or ask an "
            "admin to revoke the grant and request access again if the comment itself is damaged"
        ) from None
    payload = SealedPayload.from_plaintext(bytes(plaintext))
    if grant_id is not None and payload.grant_id != grant_id:
        raise DeliveryError(
            f"this delivery is for grant {payload.grant_id}, not {grant_id}; take the block "
            f"from the comment of grant {grant_id}"
        )
    return payload


def unseal_first(
    armored: str, identity_paths: Sequence[Path], *, grant_id: str | None = None
) -> SealedPayload:
    """Open a delivery with the first of several private keys that fits.

    When none fits, the error is the most useful one: a passphrase-protected key that *is* a
    recipient, else "wrong key" naming every key tried, else the first problem met.
    """
    if not identity_paths:
        raise IdentityNotFoundError(
            "no SSH private key found (~/.ssh/id_ed25519 or ~/.ssh/id_rsa); pass --identity "
            "PATH to the private key of one of the SSH keys on your GitHub account"
        )
    errors: list[DeliveryError] = []
    tried: list[tuple[Path, PublicKey | None]] = []
    for path in identity_paths:
        try:
            return unseal(armored, path, grant_id=grant_id)
        except CorruptDeliveryError:
            raise
        except WrongKeyError as exc:
            errors.append(exc)
            tried.append((path, _public_of(path)))
        except DeliveryError as exc:
            errors.append(exc)
    tags = set(recipient_tags(armored))
    for error in errors:
        if isinstance(error, PassphraseProtectedKeyError) and error.is_recipient(tags):
            raise error
    if tried:
        raise _wrong_key(normalize_armor(armored), tried)
    raise errors[0]


def _load_identity(path: Path, armor: str) -> tuple[object, PublicKey | None]:
    shown = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IdentityNotFoundError(
            f"no SSH private key at {shown}; pass --identity PATH to the private key of one of "
            "the SSH keys on your GitHub account"
        ) from None
    except OSError as exc:
        raise IdentityNotFoundError(
            f"cannot read the SSH private key {shown} ({exc.strerror or type(exc).__name__}); "
            "check the path and its permissions, or pass another --identity"
        ) from None
    info = inspect_private_key(data)
    if info.kind == "public":
        raise NotAPrivateKeyError(
            f"{shown} is a public key; pass the private key (usually the same path without "
            "'.pub') with --identity"
        )
    if info.encrypted:
        raise PassphraseProtectedKeyError(shown, info.public, armor)
    try:
        identity = pyrage.ssh.Identity.from_buffer(data)
    except pyrage.IdentityError as exc:
        message = str(exc)
        if "decrypted" in message or "Encrypted" in message:
            raise PassphraseProtectedKeyError(shown, info.public, armor) from None
        if "unsupported key" in message:
            raise UnsupportedIdentityError(
                f"{shown} is an SSH key of a type age cannot open files with "
                f"({_short(message)}); use the private key of your ed25519 or RSA key with "
                "--identity (add one at https://github.com/settings/keys if you have none)"
            ) from None
        raise NotAPrivateKeyError(
            f"{shown} is not an SSH private key age can read ({_short(message)}); pass the "
            "private key of one of the SSH keys on your GitHub account with --identity"
        ) from None
    return identity, info.public or _public_of(path)


def _public_of(path: Path) -> PublicKey | None:
    """The public half of a private key: from an OpenSSH file itself, else ``PATH.pub``."""
    try:
        info = inspect_private_key(path.read_bytes())
        if info.public is not None:
            return info.public
        pub = path.with_name(path.name + ".pub").read_text(encoding="utf-8")
        return PublicKey.from_line(pub)
    except (OSError, UnicodeDecodeError, SshKeyError):
        return None


def _wrong_key(armor: str, tried: Sequence[tuple[Path, PublicKey | None]]) -> WrongKeyError:
    tags = recipient_tags(armor)
    sealed_to = ", ".join(tag_prefix(tag) for tag in tags) or "keys that are not SSH keys"
    yours = ", ".join(
        f"{path} is {key.fingerprint}" if key else f"{path} (fingerprint unknown)"
        for path, key in tried
    )
    return WrongKeyError(
        f"this delivery was sealed to other keys: {sealed_to} (the ed25519 and RSA keys on the "
        f"requester's GitHub account at issue time, also listed in the comment); {yours}. "
        "Use --identity with the matching private key (compare with `ssh-keygen -lf KEY.pub`); "
        "if you no longer have it, ask an admin to revoke the grant and request access again"
    )


def _passphrase_message(shown: str, public: PublicKey | None, armor: str) -> str:
    route = _PLAIN_ROUTE.format(key=shown)
    copy = (
        f"or make a passphrase-less copy only you can read, use it and delete it: `umask 077; "
        f"cp {shown} key.tmp; ssh-keygen -p -N '' -f key.tmp`, then `jitops claim ID "
        "--identity key.tmp` and `rm key.tmp`"
    )
    fits = ""
    if public is not None:
        if public.age_tag() in recipient_tags(armor):
            fits = f" It is one of the keys this delivery was sealed to ({public.fingerprint})."
        else:
            fits = (
                f" Note: it ({public.fingerprint}) is not one of the keys this delivery was "
                "sealed to."
            )
    return (
        f"{shown} is protected by a passphrase, and jitops cannot ask for one (the age library "
        f"it uses reads only unencrypted keys).{fits} Either {route}; {copy}"
    )


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sealable_keys(keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """The keys age really seals to (each one tried with a probe), and notes on the rest."""
    usable, notes = usable_ssh_keys(keys)
    ok = []
    for key in usable:
        try:
            seal(Secret("probe"), [key])
        except Exception as exc:  # any failure means: age cannot seal to this key
            notes.append(f"age cannot seal to one key ({type(exc).__name__})")
            continue
        ok.append(key)
    return ok, notes
