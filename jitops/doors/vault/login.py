"""How jitops logs in to Vault, chosen from the environment.

No hvac here: see :mod:`jitops.doors.vault.client`.

In GitHub Actions (``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``_TOKEN`` set, i.e. the job has
``permissions: id-token: write``) jitops asks GitHub for an OIDC token for the audience
``JITOPS_VAULT_AUDIENCE`` (default ``https://github.com/<owner>``) and logs in through Vault's
JWT auth method: no long-lived secret is stored in GitHub. Otherwise AppRole
(``VAULT_ROLE_ID`` + ``VAULT_SECRET_ID``), otherwise ``VAULT_TOKEN``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

import requests

from jitops.core.policy import VaultSettings
from jitops.doors.vault.model import VaultConfigError, VaultLoginError
from jitops.errors import Secret

if TYPE_CHECKING:
    from jitops.doors.vault.client import Vault
    from jitops.doors.vault.model import RetryPolicy

LOGIN_VARIABLES = (
    "ACTIONS_ID_TOKEN_REQUEST_URL + ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub Actions with "
    "`permissions: id-token: write`), VAULT_ROLE_ID + VAULT_SECRET_ID (AppRole) or VAULT_TOKEN"
)


def connect(
    cls: type[Vault],
    addr: str | None,
    settings: VaultSettings,
    environ: Mapping[str, str],
    *,
    retry: RetryPolicy | None = None,
    timeout: float = 10.0,
) -> Vault:
    """Log in the way the environment allows: GitHub OIDC, then AppRole, then VAULT_TOKEN."""
    addr = addr or environ.get("VAULT_ADDR")
    if not addr:
        raise VaultConfigError(
            "no Vault address: set VAULT_ADDR (e.g. https://vault.example.com:8200) or "
            "pass --vault-addr"
        )
    namespace = environ.get("VAULT_NAMESPACE")
    url = environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if url and bearer:
        audience = environ.get("JITOPS_VAULT_AUDIENCE") or default_audience(environ)
        jwt = github_oidc_token(url, Secret(bearer), audience, timeout=timeout)
        vault = cls(addr, None, namespace=namespace, retry=retry, timeout=timeout)
        vault.login_method = "jwt"
        vault.login_jwt(settings, jwt)
        return vault
    role_id, secret_id = environ.get("VAULT_ROLE_ID"), environ.get("VAULT_SECRET_ID")
    if role_id and secret_id:
        vault = cls(addr, None, namespace=namespace, retry=retry, timeout=timeout)
        vault.login_method = "approle"
        vault.login_approle(
            role_id, Secret(secret_id), environ.get("VAULT_APPROLE_MOUNT", "approle")
        )
        return vault
    token = environ.get("VAULT_TOKEN")
    if token:
        return cls(addr, Secret(token), namespace=namespace, retry=retry, timeout=timeout)
    raise VaultConfigError(f"no way to log in to Vault: set {LOGIN_VARIABLES}")


def github_oidc_token(url: str, bearer: Secret, audience: str, *, timeout: float) -> Secret:
    """Ask the Actions runtime for an OIDC token (``GET $URL&audience=...``)."""
    full = f"{url}&audience={urllib.parse.quote(audience, safe='')}"
    try:
        resp = requests.get(
            full, headers={"Authorization": f"bearer {bearer.reveal()}"}, timeout=timeout
        )
        resp.raise_for_status()
        value = resp.json()["value"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise VaultLoginError(
            "could not get a GitHub Actions OIDC token for Vault (audience "
            f"{audience!r}); give the job `permissions: id-token: write`"
        ) from exc
    return Secret(str(value))


def default_audience(environ: Mapping[str, str]) -> str:
    owner = (
        environ.get("GITHUB_REPOSITORY_OWNER") or environ.get("GITHUB_REPOSITORY", "").split("/")[0]
    )
    if not owner:
        raise VaultConfigError(
            "cannot tell the OIDC audience: set JITOPS_VAULT_AUDIENCE or GITHUB_REPOSITORY_OWNER"
        )
    return f"https://github.com/{owner}"
