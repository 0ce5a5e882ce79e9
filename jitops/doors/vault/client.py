"""The Vault boundary: the only module that imports hvac.

Everything jitops asks of Vault goes through :class:`Vault`: log in (GitHub Actions OIDC,
AppRole or a token), issue a grant (an orphan token through the token role, and the role's
secret read with that token under response wrapping, so the issuer never sees the credential),
look up and revoke grant tokens by accessor (only those git records: jitops never lists Vault's
tokens), unwrap on the requester's laptop, and the few reads and writes ``vault setup`` and
``doctor`` need. hvac's exceptions become
:class:`~jitops.doors.vault.model.VaultError` subclasses that keep the cause and say what to do; 5xx
answers and refused connections are retried a bounded number of times within a bounded time.
No token or secret is ever logged or put in a message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from jitops.core.policy import Role, VaultSettings
from jitops.doors.retry import RetryPolicy
from jitops.doors.vault.login import ca_cert_from, login_from
from jitops.doors.vault.model import (
    GRANT_META,
    OTHER_NAMESPACE,
    REPOSITORY_ID_META,
    REPOSITORY_META,
    REQUESTER_META,
    ROLE_META,
    Issued,
    TokenInfo,
    UnwrapError,
    Unwrapped,
    VaultConfigError,
    VaultError,
    VaultLoginError,
    WrapLookup,
    error_for,
    is_gone,
    seconds,
    self_policy,
    wrap_info,
)
from jitops.errors import Secret

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: read-your-writes on an eventually consistent standby (see Vault._note_retry_after)
INDEX_HEADER = "X-Vault-Index"
_STATUS = {
    hvac.exceptions.InvalidRequest: 400,
    hvac.exceptions.Unauthorized: 401,
    hvac.exceptions.Forbidden: 403,
    hvac.exceptions.InvalidPath: 404,
    hvac.exceptions.UnsupportedOperation: 405,
    hvac.exceptions.PreconditionFailed: 412,
    hvac.exceptions.RateLimitExceeded: 429,
    hvac.exceptions.InternalServerError: 500,
    hvac.exceptions.VaultNotInitialized: 501,
    hvac.exceptions.BadGateway: 502,
    hvac.exceptions.VaultDown: 503,
}


def _status(exc: Exception) -> int:
    for cls, status in _STATUS.items():
        if type(exc) is cls:
            return status
    return 0


def _errors(exc: Exception) -> list[str]:
    return [str(e) for e in getattr(exc, "errors", None) or ()]


class Vault:
    """A logged-in Vault client. Build it with :meth:`connect` (or directly with a token)."""

    def __init__(
        self,
        addr: str,
        token: Secret | None = None,
        *,
        namespace: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        login_method: str = "token",
        ca_cert: str | None = None,
    ) -> None:
        """``ca_cert``: a PEM file or a folder of them to trust for Vault's certificate
        (default: ``VAULT_CACERT``/``VAULT_CAPATH`` of this process, else the system's)."""
        self.addr = addr.rstrip("/")
        self.namespace = namespace or None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.login_method = login_method
        self.request_count = 0
        self._session = requests.Session()
        self._retry_after: float | None = None
        self._session.hooks["response"].append(self._note_retry_after)
        # hvac reads VAULT_CACERT only when it makes its own session: with ours it keeps the
        # session's verify=True, so the CA is set on the session here
        ca = ca_cert if ca_cert is not None else ca_cert_from(os.environ)
        if ca:
            if not Path(ca).exists():
                raise VaultConfigError(
                    f"VAULT_CACERT (or VAULT_CAPATH) names {ca}, which does not exist; point "
                    "it at the PEM file of the CA that signed Vault's certificate"
                )
            self._session.verify = ca
        self._client = self._new_client(token)

    def _note_retry_after(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Remember a 429's Retry-After (seconds) for the next backoff (hvac drops headers),
        and the storage index the server names, sent back on every later request.

        OpenBao's standbys on integrated storage serve reads themselves and are only
        eventually consistent: right after a write (forwarded to the active node) a standby
        answers a lookup of the token just created "invalid request", a write under the mount
        just enabled "no handler for route". With the last ``X-Vault-Index`` it has seen in
        the request, a standby that has not yet applied that index answers 429 (retried here)
        instead (OpenBao's RFC "Support client-indicated minimum storage indices"; checked
        against OpenBao 2.7.2). Servers without it ignore the header."""
        index = resp.headers.get(INDEX_HEADER)
        if index and len(index) < 512:
            self._session.headers[INDEX_HEADER] = index
        self._retry_after = None
        if resp.status_code == 429:
            value = resp.headers.get("Retry-After", "")
            self._retry_after = float(value) if value.strip().isdigit() else None

    def _new_client(self, token: Secret | None) -> Any:
        # "" rather than None: hvac would otherwise send $VAULT_TOKEN or ~/.vault-token, e.g.
        # a person's own token to the address named in a delivery they claim.
        return hvac.Client(
            url=self.addr,
            token=token.reveal() if token else "",
            namespace=self.namespace,
            timeout=self.timeout,
            session=self._session,
        )

    def close(self) -> None:
        self._session.close()

    # --- login ---------------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        addr: str | None,
        settings: VaultSettings,
        environ: Mapping[str, str],
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> Vault:
        """Log in as the environment allows (:func:`~jitops.doors.vault.login.login_from`)."""
        how = login_from(addr, environ, timeout=timeout)
        ca = how.ca_cert or ""  # "": the environment given names no CA (not this process's)
        if how.method == "token":
            return cls(
                how.addr,
                how.secret,
                namespace=how.namespace,
                retry=retry,
                timeout=timeout,
                ca_cert=ca,
            )
        vault = cls(
            how.addr, None, namespace=how.namespace, retry=retry, timeout=timeout, ca_cert=ca
        )
        vault.login_method = how.method
        if how.method == "jwt":
            vault.login_jwt(settings, how.secret)
        else:
            assert how.role_id is not None
            vault.login_approle(how.role_id, how.secret, how.approle_mount)
        return vault

    def login_approle(self, role_id: str, secret_id: Secret, mount: str = "approle") -> None:
        """Log in with AppRole credentials."""
        self._login(
            lambda: self._client.auth.approle.login(
                role_id=role_id, secret_id=secret_id.reveal(), mount_point=mount
            ),
            f"auth/{mount}/login",
            "log in with AppRole (VAULT_ROLE_ID / VAULT_SECRET_ID)",
        )

    def login_jwt(self, settings: VaultSettings, jwt: Secret) -> None:
        """Log in through the JWT auth method with ``settings.jwt_role``."""
        mount = settings.jwt_mount
        self._login(
            lambda: self._client.auth.jwt.jwt_login(
                role=settings.jwt_role, jwt=jwt.reveal(), path=mount
            ),
            f"auth/{mount}/login",
            f"log in to Vault with the GitHub OIDC token (JWT role {settings.jwt_role!r})",
        )

    def _login(self, call: Callable[[], Any], path: str, action: str) -> None:
        try:
            self._call(call, "POST", path, action)
        except VaultError as exc:
            if exc.status in (400, 403):
                raise VaultLoginError(
                    f"{exc}. The login was refused: check the role and its bound claims / "
                    "credentials (`jitops vault setup` writes the JWT role)"
                ) from exc
            raise

    # --- the request loop ---------------------------------------------------------------------

    def _call(
        self, call: Callable[[], T], method: str, path: str, action: str, *, retry: bool = True
    ) -> T:
        """Run one hvac request; retry 5xx, 429 (after its Retry-After) and failed
        connections, within the retry policy's attempts and deadline; translate errors."""
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.request_count += 1
            try:
                return call()
            except hvac.exceptions.VaultError as exc:
                status = _status(exc)
                final = OTHER_NAMESPACE in " ".join(_errors(exc)).lower()
                if final or not (
                    retry and status in RETRY_STATUSES and self._backoff(attempt, start)
                ):
                    raise error_for(
                        status, _errors(exc), method=method, path=path, action=action
                    ) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not (retry and self._backoff(attempt, start)):
                    raise error_for(None, [], method=method, path=path, action=action) from exc

    def _backoff(self, attempt: int, start: float) -> bool:
        """Sleep before the next attempt; False when the attempts or the time are used up."""
        delay = self.retry.wait(attempt, time.monotonic() - start, self._retry_after or 0.0)
        self._retry_after = None  # Vault said when (a rate limit quota): once
        if delay is None:
            return False
        time.sleep(delay)
        return True

    # --- generic reads and writes (vault setup, doctor) ---------------------------------------

    def read(self, path: str, *, action: str | None = None) -> Mapping[str, Any] | None:
        """GET ``path``; its ``data`` (or the whole body), None when Vault has nothing there."""
        try:
            body = self._call(
                lambda: self._client.adapter.get(f"/v1/{path}"),
                "GET",
                path,
                action or f"read {path}",
            )
        except VaultError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(body, Mapping):
            return None
        data = body.get("data")
        return data if isinstance(data, Mapping) else body

    def write(
        self, path: str, body: Mapping[str, Any], *, action: str | None = None
    ) -> Mapping[str, Any] | None:
        """POST ``body`` to ``path``; the answer's body (None for 204)."""
        answer = self._call(
            lambda: self._client.adapter.post(f"/v1/{path}", json=dict(body)),
            "POST",
            path,
            action or f"write {path}",
        )
        return answer if isinstance(answer, Mapping) else None

    def list_keys(self, path: str) -> list[str]:
        """LIST ``path``; its keys (an empty list when Vault answers 404, as it does)."""
        try:
            body = self._call(
                lambda: self._client.adapter.list(f"/v1/{path}"), "LIST", path, f"list {path}"
            )
        except VaultError as exc:
            if exc.status == 404:
                return []
            raise
        data = body.get("data") if isinstance(body, Mapping) else None
        return [str(k) for k in (data or {}).get("keys") or ()]

    # --- grants -------------------------------------------------------------------------------

    def issue(
        self,
        *,
        grant_id: str,
        requester: str,
        role: Role,
        duration: timedelta,
        pull_request: int | None,
        wrap_ttl: timedelta,
        token_role: str,
        repository: str | None = None,
        repository_id: str | None = None,
    ) -> Issued:
        """Create the grant's orphan token and hand back only a single-use wrapping token."""
        before = self.request_count
        ttl = f"{seconds(duration)}s"
        wrap = f"{seconds(wrap_ttl)}s"
        path = f"auth/token/create/{token_role}"
        wrap_token_itself = not role.vault_secret

        def create() -> Any:
            return self._client.auth.token.create(
                role_name=token_role,
                policies=[*role.vault_policies, self_policy(token_role)],
                meta={
                    GRANT_META: grant_id,
                    REQUESTER_META: requester,
                    ROLE_META: role.name,
                    REPOSITORY_META: repository or "",
                    REPOSITORY_ID_META: repository_id or "",
                    "jitops_pull_request": str(pull_request) if pull_request else "",
                },
                no_default_policy=True,  # no sys/wrapping/wrap: see self_policy
                renewable=False,
                ttl=ttl,
                explicit_max_ttl=ttl,
                display_name=f"jitops-{grant_id}",
                wrap_ttl=wrap if wrap_token_itself else None,
            )

        now = datetime.now(UTC)  # at or before Vault starts the token's clock
        created = self._call(create, "POST", path, f"create the grant token of {grant_id}")
        if wrap_token_itself:
            info = wrap_info(created, path)
            accessor = str(info.get("wrapped_accessor", ""))
            # The wrapped answer hides the TTL Vault set; ask for it by accessor (our own token).
            looked = self.lookup_accessor(accessor)
            expires = looked.expire_time if looked and looked.expire_time else None
            return Issued(
                accessor=accessor,
                wrapping_token=Secret(str(info["token"])),
                wrapping_accessor=str(info.get("accessor", "")),
                expires_at=expires or now + duration,
                kind="token",
                wrap_expires_at=now + wrap_ttl,
                requests=self.request_count - before,
                issued_at=now,
                requested=duration,
            )
        auth = created.get("auth") if isinstance(created, Mapping) else None
        if not isinstance(auth, Mapping) or not auth.get("client_token"):
            raise VaultError(f"Vault answered {path} without a token; check the Vault version")
        accessor = str(auth.get("accessor", ""))
        lease = int(auth.get("lease_duration") or seconds(duration))
        grant_client = self._new_client(Secret(str(auth["client_token"])))
        secret_path = str(role.vault_secret).strip("/")
        try:
            wrapped = self._call(
                lambda: grant_client.adapter.get(f"/v1/{secret_path}", wrap_ttl=wrap),
                "GET",
                secret_path,
                f"read {secret_path} with the grant token of {grant_id} "
                f"(policies {', '.join(role.vault_policies)})",
            )
            info = wrap_info(wrapped, secret_path)
        except VaultError:
            self.revoke_accessor(accessor)  # nothing may outlive a failed issue
            raise
        return Issued(
            accessor=accessor,
            wrapping_token=Secret(str(info["token"])),
            wrapping_accessor=str(info.get("accessor", "")),
            expires_at=now + timedelta(seconds=lease),
            kind="secret",
            lease_id=None,
            wrap_expires_at=now + wrap_ttl,
            requests=self.request_count - before,
            issued_at=now,
            requested=duration,
        )

    def revoke_accessor(self, accessor: str) -> bool:
        """Revoke a token (its children and leases) by accessor; False if it was already gone.

        Vault answers 204 when it revoked, and 200 with the warning "No token found with this
        accessor" (older versions: 400 "invalid accessor") when there was nothing to revoke.
        """
        path = "auth/token/revoke-accessor"
        try:
            answer = self._call(
                lambda: self._client.auth.token.revoke_accessor(accessor),
                "POST",
                path,
                "revoke the grant token",
            )
        except VaultError as exc:
            if is_gone(exc):
                return False
            raise
        if isinstance(answer, Mapping):
            warnings = " ".join(str(w) for w in answer.get("warnings") or ()).lower()
            return "no token found" not in warnings
        return True

    def revoke_grant_token(
        self,
        accessor: str,
        grant_id: str,
        *,
        repository: str | None = None,
        repository_id: str | None = None,
    ) -> str:
        """Revoke the token git records for ``grant_id``, only if Vault says it is that grant's
        token (:meth:`TokenInfo.is_grant`): ``revoked``, ``gone`` (already ended) or
        ``foreign`` (a live token of something else, left alone: a file naming another grant's
        or another repository's accessor must not end that access)."""
        info = self.lookup_accessor(accessor) if accessor else None
        if info is None:
            return "gone"
        if not info.is_grant(grant_id, repository=repository, repository_id=repository_id):
            return "foreign"
        return "revoked" if self.revoke_accessor(accessor) else "gone"

    def wrapping_live(self, wrapping_accessor: str) -> bool:
        """Whether the single-use wrapping token behind ``wrapping_accessor`` is still live:
        nobody unwrapped it and its wrap TTL has not run out. OpenBao answers
        ``auth/token/lookup-accessor`` for a wrapping token's accessor (policy
        ``response-wrapping``, one use) and "invalid accessor" once it was unwrapped or expired
        (checked against a real server); ``sys/wrapping/lookup`` needs the token itself, which
        the issuer does not keep."""
        if not wrapping_accessor:
            return False
        info = self.lookup_accessor(wrapping_accessor)
        return info is not None and "response-wrapping" in info.policies

    def lookup_accessor(self, accessor: str) -> TokenInfo | None:
        """The live token behind ``accessor``, or None when it is expired, revoked or unknown."""
        try:
            body = self._call(
                lambda: self._client.auth.token.lookup_accessor(accessor),
                "POST",
                "auth/token/lookup-accessor",
                "look up a grant token",
            )
        except VaultError as exc:
            if is_gone(exc):
                return None
            raise
        return TokenInfo.from_lookup(body.get("data") or {})

    def wrapping_lookup(self, wrapping_token: Secret, *, grant_id: str = "ID") -> WrapLookup:
        """Where a wrapping token came from, without spending it: ``sys/wrapping/lookup``
        needs no token of its own (the wrapping token goes in the body). OpenBao answers it
        whatever namespace the request names. Raises :class:`UnwrapError` when Vault does not
        know the token (used, expired or never a wrapping token)."""
        try:
            body = self._call(
                lambda: self._client.adapter.post(
                    "/v1/sys/wrapping/lookup", json={"token": wrapping_token.reveal()}
                ),
                "POST",
                "sys/wrapping/lookup",
                "look up where your delivery's wrapping token came from",
            )
        except VaultError as exc:
            said = " ".join(exc.vault_errors).lower()
            if exc.status == 400 and ("wrapping token" in said or "not valid" in said):
                raise UnwrapError(
                    "this delivery was already unwrapped (or has expired, or never was a "
                    "delivery): someone may have claimed it before you: ask an admin to run "
                    f"`jitops revoke {grant_id} --reason ...` and request again"
                ) from exc
            raise
        data = body.get("data") if isinstance(body, Mapping) else None
        return WrapLookup.from_lookup(data if isinstance(data, Mapping) else {})

    def lookup_self(self) -> TokenInfo:
        """What Vault says about this client's own token (grant tokens may: :func:`self_policy`)."""
        body = self._call(
            lambda: self._client.adapter.get("/v1/auth/token/lookup-self"),
            "GET",
            "auth/token/lookup-self",
            "look up the token you claimed",
        )
        return TokenInfo.from_lookup(body.get("data") or {})

    def with_token(self, token: Secret) -> Vault:
        """A client at the same address and namespace that sends ``token``."""
        return Vault(
            self.addr, token, namespace=self.namespace, retry=self.retry, timeout=self.timeout
        )

    def unwrap(
        self, wrapping_token: Secret, *, expires_at: datetime | None = None, grant_id: str = "ID"
    ) -> Unwrapped:
        """Unwrap once. The wrapping token authenticates its own unwrap (it is the request's
        ``X-Vault-Token`` and the body is empty, as ``vault unwrap TOKEN`` does): Vault refuses
        an anonymous unwrap (403), and a token sent both ways is spent without an answer.
        Never retried: a second attempt could only find the token used up."""
        own = self._new_client(wrapping_token)
        try:
            body = self._call(
                lambda: own.adapter.post("/v1/sys/wrapping/unwrap"),
                "POST",
                "sys/wrapping/unwrap",
                "unwrap your access",
                retry=False,
            )
        except VaultError as exc:
            said = " ".join(exc.vault_errors).lower()
            if exc.status == 400 and ("wrapping token" in said or "not valid" in said):
                if expires_at is not None and datetime.now(UTC) >= expires_at:
                    raise UnwrapError(
                        "this delivery expired before it was claimed; ask again (open a new "
                        "grant pull request or ask an admin to re-issue it)"
                    ) from exc
                raise UnwrapError(
                    "this delivery was already unwrapped (or has expired): someone may have "
                    f"claimed it before you: ask an admin to run `jitops revoke {grant_id} "
                    "--reason ...` and request again"
                ) from exc
            raise
        return Unwrapped.from_response(body)

    def probe_capabilities(
        self, *, token_role: str, policies: Sequence[str], paths: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """What a token with ``policies`` could do on ``paths`` (the secret is never read).

        Creates a 60-second token through the token role, asks ``sys/capabilities-self`` with
        it, and revokes it.
        """
        created = self._call(
            lambda: self._client.auth.token.create(
                role_name=token_role,
                policies=[*policies, self_policy(token_role)],
                no_default_policy=True,  # as a grant token: what it may do is what grants may
                meta={"jitops_probe": "doctor"},
                renewable=False,
                ttl="60s",
                explicit_max_ttl="60s",
                display_name="jitops-doctor-probe",
            ),
            "POST",
            f"auth/token/create/{token_role}",
            "create a short-lived probe token through the token role",
        )
        auth = created["auth"]
        probe = self._new_client(Secret(str(auth["client_token"])))
        try:
            body = self._call(
                lambda: probe.adapter.post(
                    "/v1/sys/capabilities-self", json={"paths": list(paths)}
                ),
                "POST",
                "sys/capabilities-self",
                "ask Vault what the probe token may do",
            )
        finally:
            self.revoke_accessor(str(auth.get("accessor", "")))
        data = body.get("data") if isinstance(body.get("data"), Mapping) else body
        out: dict[str, tuple[str, ...]] = {}
        for p in paths:
            caps = data.get(p)
            if caps is None and len(paths) == 1:
                caps = data.get("capabilities")
            out[p] = tuple(str(c) for c in caps or ())
        return out
