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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from jitops.core.agekeys import is_age_recipient, plugin_name
from jitops.core.sshkeys import (
    PublicKey,
    SshKeyError,
    fingerprint,
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


class WrongPassphraseError(DeliveryError):
    """The passphrase given does not decrypt the private key."""


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


#: what the issue job asks a passphrase or a PIN with: nothing (it runs unattended)
Ask = Callable[[str], "str | None"]


def seal(secret: Secret, recipients: Sequence[str]) -> str:
    """ASCII-armored age encryption of ``secret`` to every usable SSH key in ``recipients``,
    or to the age recipients among them (a grant's ``recipient:``; see
    :mod:`jitops.core.agekeys`)."""
    ages = [r for r in recipients if is_age_recipient(r)]
    keys, notes = usable_ssh_keys([r for r in recipients if not is_age_recipient(r)])
    if not keys and not ages:
        found = "; ".join(notes) if notes else "the account has no SSH key at all"
        raise NoUsableKeyError(
            "the requester has no ed25519 or RSA SSH key on GitHub; add one at "
            "https://github.com/settings/keys and ask an admin to issue the grant again "
            f"(age cannot seal to the others: {found})"
        )
    try:
        parsed: list[Any] = [pyrage.ssh.Recipient.from_str(key) for key in keys]
        parsed += _age_recipients(ages)
        sealed = pyrage.encrypt(secret.reveal().encode("utf-8"), parsed, armored=True)
    except (pyrage.RecipientError, pyrage.EncryptError) as exc:
        raise DeliveryError(
            f"age could not seal the delivery ({type(exc).__name__}: {_short(str(exc))}); "
            "check the requester's SSH keys at https://github.com/settings/keys, or the "
            "grant's recipient (a plugin recipient needs age-plugin-NAME on the PATH of the "
            "runner that issues)"
        ) from None
    text = bytes(sealed).decode("ascii")
    return text if text.endswith("\n") else text + "\n"


class _Unattended:
    """age plugin callbacks for the issue job: nobody is there to answer."""

    def display_message(self, message: str) -> None:
        pass

    def request_public_string(self, message: str) -> None:
        return None

    def request_passphrase(self, message: str) -> None:
        return None

    def confirm(self, message: str, yes: str, no: str | None = None) -> None:
        return None


def _age_recipients(ages: Sequence[str]) -> list[Any]:
    native: list[Any] = []
    plugins: dict[str, list[Any]] = {}
    for text in ages:
        name = plugin_name(text)
        if name is not None:
            plugins.setdefault(name, []).append(pyrage.plugin.Recipient.from_str(text))
        elif text.startswith("age1tag"):
            native.append(pyrage.tag.Recipient.from_str(text))
        else:
            native.append(pyrage.x25519.Recipient.from_str(text))
    for name, group in plugins.items():  # fails here when age-plugin-NAME is not installed
        native.append(pyrage.plugin.RecipientPluginV1(name, group, [], _Unattended()))
    return native


def recipient_label(recipient: str) -> str:
    """How the delivery comment names what it was sealed to: an SSH key's fingerprint, or
    the age recipient itself."""
    return recipient if is_age_recipient(recipient) else fingerprint(recipient)


def sealing_recipients(
    recipient: str | None, ssh_keys: Callable[[], Sequence[str]]
) -> tuple[list[str], list[str]]:
    """What a grant's delivery is sealed to, each one probed: the grant's age ``recipient``
    ONLY when it names one (the requester chose it and the reviewers approved it in the
    file), else the requester's GitHub SSH keys (``ssh_keys`` is called only then). Returns
    (recipients, notes on what cannot be used); no recipient means no delivery."""
    if recipient is None:
        return sealable_keys(ssh_keys())
    try:
        seal(Secret("probe"), [recipient])
    except DeliveryError as exc:
        return [], [f"the grant's recipient {recipient} cannot be sealed to: {exc}"]
    return [recipient], []


def default_identities(home: Path) -> list[Path]:
    """The private keys tried when no ``--identity`` is given: those of
    ``~/.ssh/id_ed25519`` and ``~/.ssh/id_rsa`` that exist, in that order."""
    candidates = [home / ".ssh" / "id_ed25519", home / ".ssh" / "id_rsa"]
    return [path for path in candidates if path.is_file()]


def unseal(
    armored: str,
    identity_path: Path,
    *,
    grant_id: str | None = None,
    ask: Ask | None = None,
) -> SealedPayload:
    """Open a delivery with one identity file: an SSH private key (ed25519 or RSA, with or
    without a passphrase) or an age identity file (``AGE-SECRET-KEY-1...`` from
    ``age-keygen``, or a plugin identity such as ``AGE-PLUGIN-YUBIKEY-1...``).

    ``ask(prompt)`` answers a passphrase (or a plugin's PIN) from the requester; without it
    a passphrase-protected key is refused with the ways around it. Every failure is a
    :class:`DeliveryError` subclass whose message says what to do. With ``grant_id``, a
    delivery for another grant is refused.
    """
    armor = normalize_armor(armored)
    identities, public = _load_identity(identity_path, armor, ask)
    try:
        plaintext = pyrage.decrypt(armor.encode("ascii"), identities)
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
    armored: str,
    identity_paths: Sequence[Path],
    *,
    grant_id: str | None = None,
    ask: Ask | None = None,
) -> SealedPayload:
    """Open a delivery with the first of several identity files that fits.

    When none fits, the error is the most useful one: a passphrase-protected key that *is* a
    recipient, else "wrong key" naming every key tried, else the first problem met.
    """
    if not identity_paths:
        raise IdentityNotFoundError(
            "no SSH private key found (~/.ssh/id_ed25519 or ~/.ssh/id_rsa); pass --identity "
            "PATH to the private key of one of the SSH keys on your GitHub account (or to "
            "your age identity file, when the grant names a recipient)"
        )
    errors: list[DeliveryError] = []
    tried: list[tuple[Path, PublicKey | None]] = []
    tags = set(recipient_tags(armored))
    for path in identity_paths:
        # a passphrase is asked only for a key this delivery was sealed to
        fits = _public_of(path)
        asker = ask if ask is not None and (fits is None or fits.age_tag() in tags) else None
        try:
            return unseal(armored, path, grant_id=grant_id, ask=asker)
        except (CorruptDeliveryError, WrongPassphraseError):
            raise
        except WrongKeyError as exc:
            errors.append(exc)
            tried.append((path, fits))
        except DeliveryError as exc:
            errors.append(exc)
    for error in errors:
        if isinstance(error, PassphraseProtectedKeyError) and error.is_recipient(tags):
            raise error
    if tried:
        raise _wrong_key(normalize_armor(armored), tried)
    raise errors[0]


class _Interactive:
    """age plugin callbacks for ``claim``: messages and questions go to the requester."""

    def __init__(self, ask: Ask | None) -> None:
        self.ask = ask

    def display_message(self, message: str) -> None:
        if self.ask is not None:
            import sys

            print(message, file=sys.stderr)

    def request_public_string(self, message: str) -> str | None:
        return self.ask(message) if self.ask is not None else None

    def request_passphrase(self, message: str) -> str | None:
        return self.ask(message) if self.ask is not None else None

    def confirm(self, message: str, yes: str, no: str | None = None) -> bool | None:
        if self.ask is None:
            return None
        answer = self.ask(f"{message} [{yes}{'/' + no if no else ''}]")
        return answer is not None and answer.strip().lower() in ("", yes.lower(), "y", "yes")


def _age_identities(text: str, shown: str, ask: Ask | None) -> list[object]:
    """The identities of an age identity file (comments and blank lines skipped)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    native: list[object] = []
    plugins: dict[str, list[object]] = {}
    try:
        for line in lines:
            if line.startswith("AGE-SECRET-KEY-1"):
                native.append(pyrage.x25519.Identity.from_str(line))
            elif line.startswith("AGE-PLUGIN-"):
                name = line[len("AGE-PLUGIN-") :].rsplit("-1", 1)[0].lower()
                plugins.setdefault(name, []).append(pyrage.plugin.Identity.from_str(line))
            else:
                raise NotAPrivateKeyError(
                    f"{shown} is not an age identity file (a line is neither AGE-SECRET-KEY-1... "
                    "nor AGE-PLUGIN-...); pass your age identity file or an SSH private key"
                )
        for name, group in plugins.items():
            native.append(pyrage.plugin.IdentityPluginV1(name, group, _Interactive(ask)))
    except (pyrage.IdentityError, pyrage.DecryptError, ValueError) as exc:
        raise NotAPrivateKeyError(
            f"{shown}: age cannot use this identity ({_short(str(exc))}); a plugin identity "
            "needs age-plugin-NAME on your PATH"
        ) from None
    return native


def _decrypted_key(data: bytes, passphrase: str, shown: str) -> bytes:
    """The key of a passphrase-protected OpenSSH or PEM file, decrypted in memory and
    re-encoded without a passphrase in the OpenSSH format age reads (never written out)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    secret = passphrase.encode("utf-8")
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key: Any = serialization.load_ssh_private_key(data, password=secret)
        else:
            key = serialization.load_pem_private_key(data, password=secret)
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
    except (ValueError, TypeError) as exc:
        if (
            "password" in str(exc).lower()
            or "decrypt" in str(exc).lower()
            or "checksum" in str(exc).lower()
        ):
            raise WrongPassphraseError(
                f"the passphrase for {shown} is not right; nothing was unwrapped, run claim "
                "again (or check the file given with --passphrase-file)"
            ) from None
        raise NotAPrivateKeyError(
            f"{shown} could not be decrypted ({_short(str(exc))}); use the private key of "
            "your ed25519 or RSA key"
        ) from None
    except UnsupportedAlgorithm as exc:
        raise UnsupportedIdentityError(
            f"{shown} uses a cipher or key type that cannot be read here ({_short(str(exc))})"
        ) from None


def _load_identity(
    path: Path, armor: str, ask: Ask | None = None
) -> tuple[list[object], PublicKey | None]:
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
    text = data.decode("utf-8", "replace")
    if any(ln.strip().startswith(("AGE-SECRET-KEY-1", "AGE-PLUGIN-")) for ln in text.splitlines()):
        return _age_identities(text, shown, ask), None
    info = inspect_private_key(data)
    if info.kind == "public":
        raise NotAPrivateKeyError(
            f"{shown} is a public key; pass the private key (usually the same path without "
            "'.pub') with --identity"
        )
    if info.encrypted:
        if ask is None:
            raise PassphraseProtectedKeyError(shown, info.public, armor)
        passphrase = ask(f"Passphrase for {shown}")
        if not passphrase:
            raise PassphraseProtectedKeyError(shown, info.public, armor)
        data = _decrypted_key(data, passphrase, shown)
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
                "--identity, or name an age recipient in the grant (`recipient: age1...`, see "
                "the grants README) and claim with its identity"
            ) from None
        raise NotAPrivateKeyError(
            f"{shown} is not an SSH private key age can read ({_short(message)}); pass the "
            "private key of one of the SSH keys on your GitHub account with --identity"
        ) from None
    return [identity], info.public or _public_of(path)


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
        f"{shown} is protected by a passphrase and none was given.{fits} Run claim on a "
        f"terminal to be asked for it (nothing is written to disk), or pass --passphrase-file "
        f"FILE; or {route}"
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
