"""The ASCII armor of an age file, read tolerantly from text people copy and paste."""

from __future__ import annotations

import base64
import binascii
import re

from jitops.delivery.errors import DeliveryError

ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
_COLUMNS = 64
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_STANZA = re.compile(rb"^-> (ssh-ed25519|ssh-rsa) ([A-Za-z0-9+/]{6})(?: |$)", re.MULTILINE)


class CorruptDeliveryError(DeliveryError):
    """The armored block is missing, damaged, truncated or not a jitops delivery."""


def normalize_armor(text: str) -> str:
    """The first armored block in ``text``, re-wrapped to 64 columns as age writes it.

    Tolerates indentation, CRLF, blank lines and re-wrapped lines (a paste from a browser);
    raises :class:`CorruptDeliveryError` when the block is missing, cut short or not base64.
    """
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    if ARMOR_BEGIN not in lines:
        raise CorruptDeliveryError(
            f"no age armored block found (no '{ARMOR_BEGIN}' line); copy the whole block from "
            "the delivery comment, including the BEGIN and END lines"
        )
    start = lines.index(ARMOR_BEGIN)
    try:
        end = lines.index(ARMOR_END, start + 1)
    except ValueError:
        raise CorruptDeliveryError(
            f"the age armored block is cut short (no '{ARMOR_END}' line); copy the whole block "
            "from the delivery comment, including the END line"
        ) from None
    body = "".join(lines[start + 1 : end])
    if not _BASE64.match(body) or len(body) % 4:
        raise CorruptDeliveryError(
            "the age armored block is damaged (it is not whole base64); copy it again from the "
            "delivery comment, including the BEGIN and END lines"
        )
    wrapped = [body[i : i + _COLUMNS] for i in range(0, len(body), _COLUMNS)]
    return "\n".join([ARMOR_BEGIN, *wrapped, ARMOR_END]) + "\n"


def recipient_tags(armored: str) -> list[bytes]:
    """The 4-byte key tags of the SSH recipients in an armored age file's header.

    age writes ``-> ssh-ed25519 TAG ...`` / ``-> ssh-rsa TAG`` where TAG is the first 4 bytes
    of the SHA-256 of the recipient's public key, the same hash as its ``SHA256:`` fingerprint.
    """
    try:
        body = "".join(normalize_armor(armored).splitlines()[1:-1])
        raw = base64.b64decode(body)
    except (DeliveryError, binascii.Error, ValueError):
        return []
    header = raw.split(b"\n--- ", 1)[0]
    tags = []
    for match in _STANZA.finditer(header):
        try:
            tags.append(base64.b64decode(match.group(2) + b"=="))
        except (binascii.Error, ValueError):
            continue
    return tags
