"""How jitops logs in to Vault, chosen from the environment.

No hvac here: see :mod:`jitops.doors.vault.client`.

In GitHub Actions (``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``_TOKEN`` set, i.e. the job has
``permissions: id-token: write``) jitops asks GitHub for an OIDC token for the audience
``JITOPS_VAULT_AUDIENCE`` (default ``https://github.com/<owner>``) and logs in through Vault's
JWT auth method: no long-lived secret is stored in GitHub. Otherwise AppRole
(``VAULT_ROLE_ID`` + ``VAULT_SECRET_ID``), otherwise ``VAULT_TOKEN``.

``VAULT_NAMESPACE`` selects a Vault namespace; ``VAULT_CACERT`` (a PEM file) or
``VAULT_CAPATH`` (a folder of them) is the CA that signed Vault's certificate, for a Vault
behind a private CA (the variables of Vault's own CLI).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import requests

from jitops.doors.vault.model import VaultConfigError, VaultLoginError
from jitops.errors import Secret

LOGIN_VARIABLES = (
    "ACTIONS_ID_TOKEN_REQUEST_URL + ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub Actions with "
    "`permissions: id-token: write`), VAULT_ROLE_ID + VAULT_SECRET_ID (AppRole) or VAULT_TOKEN"
)


@dataclass(frozen=True)
class Login:
    """How to log in, read from the environment (the secret stays redacted in ``repr``)."""

    addr: str
    namespace: str | None
    method: Literal["jwt", "approle", "token"]
    secret: Secret  # the OIDC token, the AppRole secret id or the Vault token
    role_id: str | None = None
    approle_mount: str = "approle"
    ca_cert: str | None = None  # VAULT_CACERT or VAULT_CAPATH: the CA to trust for Vault


def ca_cert_from(environ: Mapping[str, str]) -> str | None:
    """The CA file (``VAULT_CACERT``, preferred as in Vault's CLI) or folder (``VAULT_CAPATH``)
    to trust for Vault's certificate; None for the system's trust store."""
    return environ.get("VAULT_CACERT") or environ.get("VAULT_CAPATH") or None


def login_from(addr: str | None, environ: Mapping[str, str], *, timeout: float = 10.0) -> Login:
    """The way the environment allows: GitHub OIDC, then AppRole, then VAULT_TOKEN.

    For OIDC the Actions runtime is asked for a token here (audience ``JITOPS_VAULT_AUDIENCE``).
    """
    addr = addr or environ.get("VAULT_ADDR")
    if not addr:
        raise VaultConfigError(
            "no Vault address: set VAULT_ADDR (e.g. https://vault.example.com:8200) or "
            "pass --vault-addr"
        )
    namespace = environ.get("VAULT_NAMESPACE")
    ca = ca_cert_from(environ)
    url = environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if url and bearer:
        audience = environ.get("JITOPS_VAULT_AUDIENCE") or default_audience(environ)
        jwt = github_oidc_token(url, Secret(bearer), audience, timeout=timeout)
        return Login(addr, namespace, "jwt", jwt, ca_cert=ca)
    role_id, secret_id = environ.get("VAULT_ROLE_ID"), environ.get("VAULT_SECRET_ID")
    if role_id and secret_id:
        mount = environ.get("VAULT_APPROLE_MOUNT", "approle")
        return Login(addr, namespace, "approle", Secret(secret_id), role_id, mount, ca)
    token = environ.get("VAULT_TOKEN")
    if token:
        return Login(addr, namespace, "token", Secret(token), ca_cert=ca)
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
