"""A loopback OIDC issuer shaped like GitHub Actions', for the demo and the tests.

It signs RS256 JWTs with a throwaway key and serves them the way the Actions runtime does
(``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...`` with ``Authorization: Bearer
$ACTIONS_ID_TOKEN_REQUEST_TOKEN`` answers ``{"value": "<jwt>"}``), so a job logs in to Vault's
JWT auth method exactly as in GitHub Actions. Vault trusts it through ``jitops vault setup
--jwt-validation-pubkey`` (no discovery document to fetch). Claims follow GitHub's OIDC
reference (https://docs.github.com/en/actions/reference/security/oidc): the ids are strings.
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORY_ID = "690001"  # the demo repository's GitHub ids (any fixed numbers will do)
OWNER_ID = "4200001"
ENVIRONMENT = "jitops"


def github_claims(
    repo: str,
    workflow: str = "jitops-issue.yml",
    ref: str = "refs/heads/main",
    actor: str = "jitops-bot",
    *,
    repository_id: str = REPOSITORY_ID,
    owner_id: str = OWNER_ID,
    environment: str | None = ENVIRONMENT,
) -> dict[str, Any]:
    """The claims GitHub puts in a job's OIDC token (a job in ``environment`` on main)."""
    owner = repo.split("/")[0]
    subject = f"repo:{repo}:environment:{environment}" if environment else f"repo:{repo}:ref:{ref}"
    claims: dict[str, Any] = {
        "sub": subject,
        "repository": repo,
        "repository_id": repository_id,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "ref": ref,
        "actor": actor,
        "workflow_ref": f"{repo}/.github/workflows/{workflow}@{ref}",
        "job_workflow_ref": f"{repo}/.github/workflows/{workflow}@{ref}",
        "event_name": "push",
        "runner_environment": "github-hosted",
    }
    if environment:
        claims["environment"] = environment
    return claims


@dataclass
class OidcIssuer:
    """Mints GitHub-Actions-like OIDC tokens and serves them like the Actions endpoint."""

    public_pem: str
    _key: Any = field(repr=False)
    request_url: str = ""
    request_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    claims: dict[str, Any] = field(default_factory=dict)
    audiences_asked: list[str] = field(default_factory=list)
    sign_with: Any = field(default=None, repr=False)  # another key, to forge a bad signature
    _server: http.server.ThreadingHTTPServer | None = field(default=None, repr=False)

    @classmethod
    def create(cls, repo: str) -> OidcIssuer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return cls(public_pem=pem, _key=key, claims=github_claims(repo))

    def mint(self, audience: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
            **self.claims,
            **overrides,
        }
        return pyjwt.encode(
            claims, self.sign_with or self._key, algorithm="RS256", headers={"kid": "jitops"}
        )

    def environ(self) -> dict[str, str]:
        """What the Actions runtime gives a job with ``permissions: id-token: write``."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }

    def start(self) -> OidcIssuer:
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                bearer = self.headers.get("Authorization", "")
                if not secrets.compare_digest(
                    bearer.lower().encode(), f"bearer {issuer.request_token}".encode()
                ):
                    self.send_response(401)
                    self.end_headers()
                    return
                audience = query.get("audience", [""])[0]
                issuer.audiences_asked.append(audience)
                body = json.dumps({"value": issuer.mint(audience)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        self.request_url = f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
