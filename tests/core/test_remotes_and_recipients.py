"""Which repository a git remote names, and which age recipients a grant may name (pure)."""

from __future__ import annotations

import pytest

from jitops.core.agekeys import plugin_name, recipient_problem
from jitops.core.remotes import parse_remote

X25519 = "age1r4hha7ya0vfkm7akey6j8mrhqjh9598qd2sueltvz96hy48zgu2q0zy2wr"
YUBIKEY = "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"


@pytest.mark.parametrize(
    ("url", "name", "api"),
    [
        ("https://github.com/acme/access.git", "acme/access", "https://api.github.com"),
        ("https://github.com/acme/access", "acme/access", "https://api.github.com"),
        ("git@github.com:acme/access.git", "acme/access", "https://api.github.com"),
        ("ssh://git@github.com/acme/access.git", "acme/access", "https://api.github.com"),
        ("https://x-access-token:t@github.com/acme/access", "acme/access", "https://api.github.com"),
        ("https://ghe.corp.example/acme/access.git", "acme/access", "https://ghe.corp.example/api/v3"),
        ("ssh://git@ghe.corp.example:2222/acme/access", "acme/access", "https://ghe.corp.example/api/v3"),
        ("git@ghe.corp.example:acme/access.git", "acme/access", "https://ghe.corp.example/api/v3"),
        ("https://acme.ghe.com/acme/access", "acme/access", "https://api.acme.ghe.com"),
    ],
)  # fmt: skip
def test_a_github_remote_names_its_repository_and_api(url: str, name: str, api: str) -> None:
    found = parse_remote(url)
    assert found is not None
    assert (found.full_name, found.api_url) == (name, api)


@pytest.mark.parametrize(
    "url", ["/srv/git/access.git", "../access", "C:/Users/me/access", "https://github.com/acme"]
)
def test_a_path_or_a_partial_url_names_no_repository(url: str) -> None:
    assert parse_remote(url) is None


def test_age_recipients_are_checked_strictly() -> None:
    assert recipient_problem(X25519) is None
    assert recipient_problem(YUBIKEY) is None
    assert plugin_name(YUBIKEY) == "yubikey" and plugin_name(X25519) is None
    assert "bad checksum" in (recipient_problem(X25519[:-1] + "q") or "")
    assert "not an age recipient" in (recipient_problem(X25519.upper()) or "")
    assert "not an age recipient" in (recipient_problem("ssh-ed25519 AAAAC3Nza") or "")
    assert "X25519" in (recipient_problem(X25519[:-3]) or "")
    assert "string" in (recipient_problem(42) or "")
