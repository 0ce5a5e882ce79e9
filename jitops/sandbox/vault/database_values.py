"""Pure helpers of the database secrets engine: Vault's field parsing, templates and generators.

Written from Vault's behaviour (framework field types, ``dbutil.QueryHelper``, the default
username template and password policy, the PostgreSQL plugin's statement splitting), not
shared with jitops' own parsers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from datetime import datetime
from typing import Any
from urllib.parse import quote

PASSWORD_AUTHENTICATIONS = ("password", "scram-sha-256")
PASSWORD_LENGTH = 20
PASSWORD_CHARSET = string.ascii_letters + string.digits + "-"
USERNAME_RANDOM_CHARSET = string.ascii_letters + string.digits
USERNAME_MAX_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1
SCRAM_ITERATIONS = 4096
EXPIRATION_LAYOUT = "%Y-%m-%d %H:%M:%S%z"  # Go's "2006-01-02 15:04:05-0700"

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def _conversion_error(value: object, field: str, why: str) -> ValueError:
    return ValueError(f'error converting input {value!r} for field "{field}": {why}')


def parse_duration(value: object, field: str) -> int:
    """Whole seconds from an integer or a duration string ("90", "90s", "1h30m", "2d")."""
    if isinstance(value, bool):
        raise _conversion_error(value, field, "expected a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise _conversion_error(value, field, "a duration cannot be negative")
        return int(value)
    if not isinstance(value, str):
        raise _conversion_error(value, field, "expected a duration")
    text = value.strip()
    if text == "":
        return 0
    if re.fullmatch(r"\d+", text):
        return int(text)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise _conversion_error(value, field, f"time: invalid duration {text!r}")
    return int(total)


def format_go_duration(seconds: int) -> str:
    """Go's ``time.Duration.String()`` for whole seconds: 768h0m0s, 5m0s, 30s."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def parse_bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in {"1", "t", "true"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "f", "false", ""}:
        return False
    raise _conversion_error(value, field, "expected a boolean")


def string_list(value: object, field: str) -> tuple[str, ...]:
    """Vault's TypeStringSlice: a list of strings, or one string as a one-element list."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value if str(item).strip())
    raise _conversion_error(value, field, "expected a list of strings")


def comma_list(value: object, field: str) -> tuple[str, ...]:
    """Vault's TypeCommaStringSlice: a list, or a comma-separated string; blanks dropped."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = [part for item in value for part in str(item).split(",")]
    else:
        raise _conversion_error(value, field, "expected a comma-separated list")
    return tuple(str(item).strip() for item in items if str(item).strip())


def glob_match(pattern: str, name: str) -> bool:
    """Vault's allowed_roles glob: ``*`` matches any run of characters; nothing else is special."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name, flags=re.DOTALL) is not None


def render(template: str, values: dict[str, str]) -> str:
    """Replace each ``{{key}}`` with its value, verbatim (Vault's dbutil.QueryHelper)."""
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def split_statements(statements: tuple[str, ...]) -> list[str]:
    """The PostgreSQL plugin's rule: split on ';' unless the text holds a $$-quoted body."""
    queries: list[str] = []
    for statement in statements:
        if "$$" in statement:
            queries.append(statement)
            continue
        queries.extend(part.strip() for part in statement.split(";") if part.strip())
    return queries


def with_credentials(connection_url: str, username: str, password: str) -> str:
    """Fill ``{{username}}``/``{{password}}`` in a connection URL (URL-quoted in URL form)."""
    if "://" in connection_url:
        username, password = quote(username, safe=""), quote(password, safe="")
    return render(connection_url, {"username": username, "password": password})


def _random_string(charset: str, length: int) -> str:
    return "".join(secrets.choice(charset) for _ in range(length))


def generate_password() -> str:
    """Vault's default password policy: 20 of [A-Za-z0-9-], at least one of each kind."""
    while True:
        candidate = _random_string(PASSWORD_CHARSET, PASSWORD_LENGTH)
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and "-" in candidate
        ):
            return candidate


def generate_username(display_name: str, role: str, unix_time: int) -> str:
    """Vault's default PostgreSQL username template.

    ``v-{{DisplayName | truncate 8}}-{{RoleName | truncate 8}}-{{random 20}}-{{unix_time}}``,
    the whole truncated to 63 characters.
    """
    random_part = _random_string(USERNAME_RANDOM_CHARSET, 20)
    name = f"v-{display_name[:8]}-{role[:8]}-{random_part}-{unix_time}"
    return name[:USERNAME_MAX_LENGTH]


def expiration_text(moment: datetime) -> str:
    """``{{expiration}}`` as the PostgreSQL plugin renders it: 2006-01-02 15:04:05-0700."""
    return moment.strftime(EXPIRATION_LAYOUT)


def scram_sha256_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802/7677), computed client-side.

    With ``password_authentication=scram-sha-256`` Vault sends this instead of the password,
    so the clear password never reaches the database server or its logs.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
