"""The free-text lint: no secret and no personal data in text that git keeps forever.

``reason`` and ``ticket`` are written by the requester and become permanent history in every
clone. :func:`scan` names the *kinds* of secret or personal data found in a text; it never
returns, stores or formats the matched text, so no message built from its answer can echo it.

How it stays fast and linear: a cheap pre-filter (substring tests, one digit pattern and the
length of the longest word) decides whether a text can hold anything at all; ordinary reasons
("Investigate INC-1234 on db-1.prod.acme.internal") never reach the heavier checks. Every
pattern here starts at a boundary (a look-behind refuses to start inside a run) and bounds its
repetitions, so a search costs O(length of the text); tests/test_patterns.py feeds each one
64 KB worst cases.

Libraries: ``python-stdnum`` checks payment card numbers (Luhn) and IBANs (ISO 7064 check
digits and each country's BBAN format); ``phonenumbers`` (Google's libphonenumber metadata)
decides whether a digit sequence is a real phone number. Both only see candidates the
pre-filter and a pattern here picked out. Token formats and the entropy rule are our own (the
reasons are in docs/free-text.md).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

#: Every kind the lint knows, with what a message calls it. The names are the user-facing
#: contract of ``settings.free_text.allow`` (and of the policy schema's enum).
KINDS: dict[str, str] = {
    "private_key": "a private key block",
    "aws_access_key": "an AWS access key id",
    "github_token": "a GitHub token",
    "vault_token": "a Vault/OpenBao token",
    "slack_token": "a Slack token or webhook",
    "jwt": "a JSON Web Token",
    "url_credentials": "a URL with a password in it",
    "high_entropy": "a long random-looking string (a likely key or password)",
    "email": "an e-mail address",
    "phone": "a phone number",
    "payment_card": "a payment card number",
    "iban": "an IBAN (bank account number)",
}
SECRET_KINDS = frozenset(KINDS) - {"email", "phone", "payment_card", "iban"}
PERSONAL_KINDS = frozenset(KINDS) - SECRET_KINDS

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-"
)
_AWS = re.compile(r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_GITHUB = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,255})"
    r"(?![A-Za-z0-9_])"
)
#: hvs./hvb./hvr. (Vault 1.10+) and the older s./b. forms OpenBao still issues.
_VAULT = re.compile(r"(?<![A-Za-z0-9_.-])(?:hv[sbr]\.[A-Za-z0-9_-]{24,}|[sb]\.[A-Za-z0-9]{24,})")
_SLACK = re.compile(
    r"(?<![A-Za-z0-9])xox[a-z]-[A-Za-z0-9-]{10,}"
    r"|hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9]{1,20}/"
)
#: header and payload are both base64url JSON objects, so both begin with eyJ ('{"').
_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{0,1024}"
)
#: scheme://user:password@ — a user name alone (ssh://git@host) is not a credential.
_URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/?#@:]{0,256}:[^\s/?#@]{1,256}@"
)
#: Not after ':' or '/' (user:pass@ and ssh://git@ are URLs) nor before ':' (git@host:repo).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+/:-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}"
    r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,63}(?![A-Za-z0-9:-])"
)
#: 13 to 19 digits, unbroken or in the printed groups (4-4-4-4[-3], Amex 4-6-5) split by the
#: same space or dash: two dates side by side ("2490-01-01 0839-01-07") are not a card.
_CARD = re.compile(
    r"(?<![A-Za-z0-9_.-])"
    r"(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?![A-Za-z0-9_-])"
)
#: Issuer prefixes of the card networks (Visa 4, Mastercard 2/5, Amex/Diners/JCB 3,
#: Discover/UnionPay 6): a Luhn-valid order number or millisecond timestamp starting 1 is not.
_CARD_PREFIXES = frozenset("23456")
_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d\d")
#: Country code, check digits, then the BBAN in print groups of four (spaced or not).
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d\d(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
#: The runs the entropy rule looks at: base64/base64url characters, 24 or more.
_RUN = re.compile(r"(?<![A-Za-z0-9_+/=-])[A-Za-z0-9_+/=-]{24,}")
_HEX = frozenset("0123456789abcdefABCDEF-")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
#: Seven digits, with up to three separators between them (the gate to the number checks).
_DIGITS = re.compile(r"\d(?:[ ()./-]{0,3}\d){6}")
_LONG = 20

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private_key", _PRIVATE_KEY),
    ("aws_access_key", _AWS),
    ("github_token", _GITHUB),
    ("vault_token", _VAULT),
    ("slack_token", _SLACK),
    ("jwt", _JWT),
    ("url_credentials", _URL_CREDENTIALS),
    ("email", _EMAIL),
)
#: The phone matcher's home region for numbers written without a country code (+44 ... is
#: recognised for every country).
PHONE_REGION = "US"


@dataclass(frozen=True)
class Finding:
    """A kind found in a field: never the text itself."""

    field: str
    kind: str

    @property
    def description(self) -> str:
        return KINDS[self.kind]


def _byte_table(groups: dict[bytes, bytes], default: bytes) -> bytes:
    table = bytearray(default * 256)
    for chars, to in groups.items():
        for c in chars:
            table[c] = to[0]
    return bytes(table)


#: For the quick look: digits and the separators of numbers become 9, the rest x (seven 9s in
#: a row: maybe seven digits); digits 9, capitals A, the rest x (AA99: maybe an IBAN's head).
_NUMBERISH = _byte_table({b"0123456789 ()./-": b"9"}, b"x")
_CODEISH = _byte_table({b"0123456789": b"9", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ": b"A"}, b"x")
#: White space stays, everything else becomes w (twenty ws in a row: a long word).
_WORDISH = _byte_table({b" \t\n\r\x0b\x0c": b" "}, b"w")


def _worth_a_look(text: str) -> bool:
    """A superset of what any check below can find, in a few C-speed passes (ASCII text;
    other text always gets the full look)."""
    if "@" in text or "-----BEGIN" in text or "PuTTY" in text:
        return True
    raw = text.encode("ascii")
    return (
        b"9999999" in raw.translate(_NUMBERISH)
        or b"AA99" in raw.translate(_CODEISH)
        or b"w" * _LONG in raw.translate(_WORDISH)
    )


def scan(text: str) -> list[str]:
    """The kinds found in ``text``, each once, in :data:`KINDS` order."""
    if text.isascii() and not _worth_a_look(text):
        return []
    return _scan(text)


def _scan(text: str) -> list[str]:
    digits = _DIGITS.search(text) is not None
    iban_head = _IBAN_HEAD.search(text) is not None
    # Anything worth a closer look: an '@' (e-mail, user:pass@), a key block, seven digits
    # (phone, card), an IBAN's country code and check digits, or a word of 20 characters or
    # more (every token format, JWTs, random strings). Ordinary reasons stop here.
    if not (
        digits
        or iban_head
        or "@" in text
        or "-----BEGIN" in text
        or "PuTTY" in text
        or any(len(word) >= _LONG for word in text.split())
    ):
        return []
    found = {kind for kind, rx in _PATTERNS if rx.search(text)}
    if digits:
        if any(_card(m.group()) for m in _CARD.finditer(text)):
            found.add("payment_card")
        if _phone(text):
            found.add("phone")
    if iban_head and any(_iban(m.group()) for m in _IBAN.finditer(text)):
        found.add("iban")
    if not found & {"aws_access_key", "github_token", "vault_token", "slack_token", "jwt"} and any(
        _random_looking(m.group()) for m in _RUN.finditer(text)
    ):
        found.add("high_entropy")
    return [kind for kind in KINDS if kind in found]


def check(fields: Mapping[str, str | None], allow: Collection[str] = ()) -> list[Finding]:
    """Every kind not in ``allow`` found in each of ``fields`` (``{name: text}``)."""
    return [
        Finding(name, kind)
        for name, text in fields.items()
        if text
        for kind in scan(text)
        if kind not in allow
    ]


def message(finding: Finding) -> str:
    """What to tell the requester (names the field and the kind, never the text)."""
    head = (
        f"{finding.field} contains {finding.description} ({finding.kind}); free text stays in "
        "the git history of every clone forever — "
    )
    if finding.kind in SECRET_KINDS:
        return head + (
            "remove it, and if it is a real credential revoke or rotate it now: the pushed "
            "branch already holds it"
        )
    return head + (
        "remove it and point to where it lives instead (a ticket id); a policy that must "
        f"accept it lists {finding.kind} in settings.free_text.allow"
    )


# -- the checks behind the patterns ----------------------------------------------------------
def _card(candidate: str) -> bool:
    from stdnum import luhn  # imported on first use: most texts never get here

    digits = candidate.replace(" ", "").replace("-", "")
    return digits[0] in _CARD_PREFIXES and 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _iban(candidate: str) -> bool:
    from stdnum import iban

    compact = candidate.replace(" ", "")
    # a greedy match may have taken a trailing group that is not part of the number
    return any(iban.is_valid(compact[:end]) for end in range(len(compact), 14, -1))


def _phone(text: str) -> bool:
    import phonenumbers

    matches: Iterable[phonenumbers.PhoneNumberMatch] = phonenumbers.PhoneNumberMatcher(
        text, PHONE_REGION, leniency=phonenumbers.Leniency.VALID, max_tries=64
    )
    return any(not _dotted(text, m.start, m.end) for m in matches)


def _dotted(text: str, start: int, end: int) -> bool:
    """The match holds an IPv4 address, is part of a longer dotted number (a version) or of
    a word (the 1 of INC-1 read as the country code +1)."""
    if _IPV4.search(text, start, end):
        return True
    before, after = text[max(start - 2, 0) : start], text[end : end + 2]
    glued = before[-1:] in ("-", "_", "/", ".") and before[:1].isalnum()
    return glued or (after[:1] == "." and after[1:].isdigit())


def _random_looking(run: str) -> bool:
    """A run of 24+ base64 characters that reads like a key, not like a name.

    Hex-only runs (commit SHAs, UUIDs, digests) are never flagged: a hex key is
    indistinguishable from a commit id. A key mixes letters and digits, switches between
    lower case, upper case and digits at most characters (random text switches about 60% of
    the time, words and CamelCase names rarely), and has high Shannon entropy.
    """
    if _HEX.issuperset(run):
        return False
    if not any(c.isdigit() for c in run) or not any(c.isalpha() for c in run):
        return False
    classes = [_class(c) for c in run]
    switches = sum(a != b for a, b in itertools.pairwise(classes))
    if switches < 0.4 * (len(run) - 1):
        return False
    counts = Counter(run)
    entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())
    return entropy >= min(4.5, math.log2(len(run)) - 0.7)


def _class(c: str) -> int:
    if c.isdigit():
        return 0
    if c.islower():
        return 1
    if c.isupper():
        return 2
    return 3
