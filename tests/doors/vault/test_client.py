"""The Vault boundary: error translation, unwrapped values, login selection, bounded retries.

The retry tests speak real HTTP on loopback to a server that only ever answers 503 (or to a
closed port), so hvac and requests run for real. Scenario tests run against a real OpenBao
server (``bao server -dev``) through the ``vault_world`` fixture: a namespace of the test's own,
set up by `jitops vault setup` for the example policy, with role policies and secrets seeded.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from jitops.core.policy import Role, VaultSettings
from jitops.doors.retry import RetryPolicy
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import (
    Issued,
    TokenInfo,
    UnwrapError,
    Unwrapped,
    VaultConfigError,
    VaultLoginError,
    VaultPermissionError,
    VaultSetupError,
    VaultUnavailableError,
    error_for,
)
from jitops.errors import Secret

if TYPE_CHECKING:
    from tests.fixtures.vault_backend import VaultWorld

pytest_plugins = ["tests.fixtures.vault_backend"]


def test_403_names_the_path_and_the_missing_capability() -> None:
    err = error_for(
        403, ["permission denied"], method="GET", path="secret/data/x", action="read it"
    )
    assert isinstance(err, VaultPermissionError)
    assert '"read" capability on path "secret/data/x"' in str(err)


def test_missing_token_role_says_run_vault_setup() -> None:
    err = error_for(
        400,
        ["unknown role jitops-grant"],
        method="POST",
        path="auth/token/create/jitops-grant",
        action="create the grant token",
    )
    assert isinstance(err, VaultSetupError)
    assert "jitops vault setup" in str(err)


def test_sealed_says_retry_later() -> None:
    err = error_for(503, ["Vault is sealed"], method="GET", path="sys/x", action="x")
    assert isinstance(err, VaultUnavailableError)
    assert "retry later" in str(err)


def test_unwrapped_values_never_print() -> None:
    body = {
        "lease_id": "database/creds/ro/abc",
        "lease_duration": 3600,
        "data": {"username": "v-token-ro-x", "password": "hunter2-A1"},
    }
    got = Unwrapped.from_response(body)
    assert got.kind == "secret"
    assert got.values["password"].reveal() == "hunter2-A1"
    assert "hunter2" not in repr(got)
    assert got.lease_id == "database/creds/ro/abc"
    kv2 = Unwrapped.from_response({"data": {"data": {"k": "v"}, "metadata": {"version": 1}}})
    assert kv2.values["k"].reveal() == "v"
    token = Unwrapped.from_response({"auth": {"client_token": "hvs.x", "accessor": "a"}})
    assert token.kind == "token"
    assert token.values["token"].reveal() == "hvs.x"


def test_token_info_reads_vault_nanosecond_times() -> None:
    info = TokenInfo.from_lookup(
        {
            "accessor": "acc",
            "meta": {"jitops_grant": "g-1"},
            "expire_time": "2026-11-23T12:00:00.123456789Z",
            "ttl": 10,
            "policies": ["p"],
            "display_name": "token-jitops-g-1",
        }
    )
    assert info.grant_id == "g-1"
    assert info.expire_time is not None
    assert info.expire_time.isoformat() == "2026-11-23T12:00:00.123456+00:00"


def test_no_login_configured_names_the_variables() -> None:
    with pytest.raises(VaultConfigError) as info:
        Vault.connect(None, VaultSettings(), {"VAULT_ADDR": "http://127.0.0.1:1"})
    message = str(info.value)
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_TOKEN"):
        assert name in message
    with pytest.raises(VaultConfigError, match="VAULT_ADDR"):
        Vault.connect(None, VaultSettings(), {"VAULT_TOKEN": "t"})


class _Always503(http.server.BaseHTTPRequestHandler):
    hits = 0
    status = 503
    tokens: ClassVar[list[str | None]] = []

    def _answer(self) -> None:
        type(self).hits += 1
        type(self).tokens.append(self.headers.get("X-Vault-Token"))
        said = "Vault is sealed" if self.status == 503 else "permission denied"
        body = json.dumps({"errors": [said]}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_LIST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sealed_vault() -> Iterator[str]:
    _Always503.hits = 0
    _Always503.status = 503
    _Always503.tokens = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.1, deadline=2.0)


@pytest.mark.integration
def test_503_is_retried_a_bounded_number_of_times(sealed_vault: str) -> None:
    vault = Vault(sealed_vault, Secret("s.root"), retry=FAST)
    start = time.monotonic()
    with pytest.raises(VaultUnavailableError, match="sealed") as info:
        vault.revoke_accessor("acc")
    assert _Always503.hits == 3
    assert vault.request_count == 3
    assert time.monotonic() - start < 2.0
    assert "s.root" not in str(info.value)
    assert info.value.__cause__ is not None  # the hvac error is kept


@pytest.mark.integration
def test_4xx_is_not_retried(sealed_vault: str) -> None:
    _Always503.status = 403
    vault = Vault(sealed_vault, Secret("s.root"), retry=FAST)
    with pytest.raises(VaultPermissionError, match="auth/token/lookup-accessor"):
        vault.lookup_accessor("acc")
    assert _Always503.hits == 1


@pytest.mark.integration
def test_connection_refused_is_retried_within_the_deadline() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vault = Vault(
        f"http://127.0.0.1:{port}",
        Secret("s.root"),
        retry=RetryPolicy(attempts=50, base_delay=0.1, max_delay=0.2, deadline=0.5),
    )
    start = time.monotonic()
    with pytest.raises(VaultUnavailableError, match="did not answer"):
        vault.lookup_accessor("acc")
    assert time.monotonic() - start < 1.5
    assert 2 <= vault.request_count < 50


# --- scenarios against a real OpenBao server ---------------------------------------------------


def _role(world: VaultWorld, name: str) -> Role:
    return world.policy().roles[name]


def _issue(
    vault: Vault, world: VaultWorld, role: str, seconds: float, grant: str = "g-1"
) -> Issued:
    return vault.issue(
        grant_id=grant,
        requester="octocat",
        role=_role(world, role),
        duration=timedelta(seconds=seconds),
        pull_request=42,
        wrap_ttl=timedelta(minutes=5),
        token_role="jitops-grant",
    )


def _issuer(world: VaultWorld, ttl: str = "120s") -> Vault:
    return world.client(world.token(["jitops-issuer"], ttl))


@pytest.mark.integration
def test_secret_grant_unwraps_once_and_the_issuer_never_saw_it(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    issued = _issue(issuer, vault_world, "staging-admin", 60)
    assert issued.kind == "secret"
    assert issued.requests <= 2  # create + wrapped read (login is one more)
    assert vault_world.staging_secret["password"] not in repr(issued)
    got = issuer.unwrap(issued.wrapping_token)
    assert got.values["password"].reveal() == vault_world.staging_secret["password"]
    with pytest.raises(UnwrapError, match="someone may have claimed it before you"):
        issuer.unwrap(issued.wrapping_token)
    info = vault_world.admin().lookup_accessor(issued.accessor)
    assert info is not None
    assert info.meta["jitops_grant"] == "g-1"
    assert info.meta["jitops_requester"] == "octocat"
    assert info.meta["jitops_pull_request"] == "42"
    assert "jit-staging-admin" in info.policies
    assert 50 <= info.ttl <= 60


@pytest.mark.integration
def test_orphan_grant_outlives_the_issuers_short_login(vault_world: VaultWorld) -> None:
    login = vault_world.token(["jitops-issuer"], "30s")
    issuer = vault_world.client(login)
    issued = _issue(issuer, vault_world, "prod-break-glass", 120)
    admin = vault_world.admin()
    admin.write("auth/token/revoke", {"token": login})  # the issuer's login ends (and children)
    info = admin.lookup_accessor(issued.accessor)
    assert info is not None, "the grant died with the issuer's login: it is not an orphan"
    assert info.orphan


@pytest.mark.integration
def test_grant_token_reads_only_its_roles_paths(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    issued = _issue(issuer, vault_world, "prod-break-glass", 60)  # no vault.secret: the token
    assert issued.kind == "token"
    unwrapped = issuer.unwrap(issued.wrapping_token)
    assert unwrapped.values["accessor"].reveal() == issued.accessor
    grant = vault_world.client(unwrapped.values["token"])
    read = grant.read("secret/data/prod/root")
    assert read is not None
    assert read["data"] == vault_world.prod_secret
    with pytest.raises(
        VaultPermissionError, match='"read" capability on path "secret/data/staging/admin"'
    ):
        grant.read("secret/data/staging/admin")


@pytest.mark.integration
def test_grant_dies_with_its_ttl(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    issued = _issue(issuer, vault_world, "prod-break-glass", 2)
    token = issuer.unwrap(issued.wrapping_token).values["token"]
    grant = vault_world.client(token)
    assert grant.read("secret/data/prod/root") is not None
    admin = vault_world.admin()
    deadline = time.monotonic() + 8
    while admin.lookup_accessor(issued.accessor) is not None and time.monotonic() < deadline:
        time.sleep(0.25)
    assert admin.lookup_accessor(issued.accessor) is None
    with pytest.raises(VaultPermissionError):
        grant.read("secret/data/prod/root")


@pytest.mark.integration
def test_revoke_by_accessor_is_idempotent(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    first = _issue(issuer, vault_world, "prod-break-glass", 60, grant="g-a")
    second = _issue(issuer, vault_world, "staging-admin", 60, grant="g-b")
    found = {t.grant_id: t.accessor for t in vault_world.grant_tokens()}
    assert found == {"g-a": first.accessor, "g-b": second.accessor}
    assert issuer.revoke_accessor(first.accessor) is True
    assert issuer.revoke_accessor(first.accessor) is False
    assert issuer.lookup_accessor(first.accessor) is None
    assert [t.grant_id for t in vault_world.grant_tokens()] == ["g-b"]


@pytest.mark.integration
def test_a_recorded_accessor_is_revoked_only_when_vault_says_it_is_that_grants(
    vault_world: VaultWorld,
) -> None:
    """Git only names an accessor; a merged file can name anybody's. Vault's metadata decides."""
    issuer = _issuer(vault_world)
    issued = issuer.issue(
        grant_id="g-mine",
        requester="octocat",
        role=_role(vault_world, "staging-admin"),
        duration=timedelta(seconds=60),
        pull_request=7,
        wrap_ttl=timedelta(minutes=5),
        token_role="jitops-grant",
        repository="acme/access",
    )
    info = vault_world.admin().lookup_accessor(issued.accessor)
    assert info is not None
    assert info.meta["jitops_role"] == "staging-admin"
    assert info.meta["jitops_repository"] == "acme/access"
    acc = issued.accessor
    assert issuer.revoke_grant_token(acc, "g-other", repository="acme/access") == "foreign"
    assert issuer.revoke_grant_token(acc, "g-mine", repository="acme/elsewhere") == "foreign"
    assert issuer.lookup_accessor(acc) is not None  # still live: nothing was revoked
    assert issuer.revoke_grant_token(acc, "g-mine", repository="acme/access") == "revoked"
    assert issuer.lookup_accessor(acc) is None
    assert issuer.revoke_grant_token(acc, "g-mine", repository="acme/access") == "gone"


@pytest.mark.integration
def test_issuer_cannot_read_any_secret_itself(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    for path in ("secret/data/staging/admin", "secret/data/prod/root"):
        with pytest.raises(VaultPermissionError, match=path):
            issuer.read(path)
    assert _issue(issuer, vault_world, "staging-admin", 30).kind == "secret"


@pytest.mark.integration
def test_missing_token_role_says_run_setup(vault_world: VaultWorld) -> None:
    vault_world.admin().write("auth/token/roles/jitops-grant", {"allowed_policies": ["x"]})
    issuer = _issuer(vault_world)
    with pytest.raises((VaultSetupError, VaultPermissionError), match="jitops vault setup"):
        _issue(issuer, vault_world, "staging-admin", 30)


@pytest.mark.integration
def test_an_expired_delivery_says_ask_again(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    issued = issuer.issue(
        grant_id="g-late",
        requester="octocat",
        role=_role(vault_world, "staging-admin"),
        duration=timedelta(seconds=60),
        pull_request=None,
        wrap_ttl=timedelta(seconds=1),
        token_role="jitops-grant",
    )
    assert issued.wrap_expires_at is not None
    time.sleep(1.6)
    with pytest.raises(UnwrapError, match="expired before it was claimed; ask again"):
        issuer.unwrap(issued.wrapping_token, expires_at=issued.wrap_expires_at)


@pytest.mark.integration
def test_a_failed_secret_read_leaves_no_grant_token_behind(vault_world: VaultWorld) -> None:
    from dataclasses import replace

    issuer = _issuer(vault_world)
    role = replace(_role(vault_world, "staging-admin"), vault_secret="secret/data/prod/root")
    with pytest.raises(VaultPermissionError, match="secret/data/prod/root"):
        issuer.issue(
            grant_id="g-bad",
            requester="octocat",
            role=role,
            duration=timedelta(seconds=60),
            pull_request=None,
            wrap_ttl=timedelta(minutes=1),
            token_role="jitops-grant",
        )
    assert vault_world.grant_tokens() == []


@pytest.mark.integration
def test_approle_login_can_issue(vault_world: VaultWorld) -> None:
    admin = vault_world.admin()
    admin.write("sys/auth/approle", {"type": "approle"})
    admin.write("auth/approle/role/jitops", {"token_policies": ["jitops-issuer"], "token_ttl": 300})
    role_id = (admin.read("auth/approle/role/jitops/role-id") or {})["role_id"]
    answer = admin.write("auth/approle/role/jitops/secret-id", {})
    assert answer is not None
    secret_id = answer["data"]["secret_id"]
    env = {"VAULT_ADDR": vault_world.target.url, "VAULT_ROLE_ID": role_id}
    env["VAULT_NAMESPACE"] = vault_world.target.namespace or ""
    env["VAULT_SECRET_ID"] = secret_id
    issuer = Vault.connect(None, VaultSettings(), env)
    assert issuer.login_method == "approle"
    assert _issue(issuer, vault_world, "prod-break-glass", 30).kind == "token"
    # login + create (wrapped: the grant token itself) + lookup of the TTL Vault granted
    assert issuer.request_count == 3
    env["VAULT_SECRET_ID"] = "wrong"
    with pytest.raises(VaultLoginError, match="login was refused"):
        Vault.connect(None, VaultSettings(), env)


@pytest.mark.integration
def test_an_anonymous_unwrap_is_refused_and_jitops_sends_the_token_itself(
    vault_world: VaultWorld,
) -> None:
    """PROTOCOLS §5 as OpenBao answers it: the wrapping token authenticates its own unwrap."""
    import requests

    issuer = _issuer(vault_world)
    issued = _issue(issuer, vault_world, "staging-admin", 60)
    anonymous = requests.post(
        f"{vault_world.target.url}/v1/sys/wrapping/unwrap",
        json={"token": issued.wrapping_token.reveal()},
        headers={"X-Vault-Namespace": vault_world.target.namespace or ""},
        timeout=5,
    )
    assert anonymous.status_code == 403
    # the requester's laptop: no Vault token of its own
    claimer = Vault(vault_world.target.url, None, namespace=vault_world.target.namespace)
    got = claimer.unwrap(issued.wrapping_token)
    assert got.values["password"].reveal() == vault_world.staging_secret["password"]
    assert claimer.request_count == 1


@pytest.mark.integration
@pytest.mark.parametrize("role", ["staging-admin", "prod-break-glass"])
def test_a_ttl_capped_by_the_token_mount_is_what_jitops_records(
    private_vault_world: VaultWorld, role: str
) -> None:
    vault_world = private_vault_world
    admin = vault_world.admin()
    admin.write("sys/auth/token/tune", {"max_lease_ttl": "30s"})
    issued = _issue(_issuer(vault_world), vault_world, role, 600)
    assert issued.issued_at is not None
    granted = (issued.expires_at - issued.issued_at).total_seconds()
    assert 25 <= granted <= 31, granted
    info = admin.lookup_accessor(issued.accessor)
    assert info is not None and info.expire_time is not None
    assert abs((info.expire_time - issued.expires_at).total_seconds()) < 3
    assert issued.capped is not None
    assert "capped the token at 30s instead of the 10m asked" in issued.capped
    assert "max_lease_ttl" in issued.capped
    uncapped = _issue(_issuer(vault_world), vault_world, role, 20, grant="g-short")
    assert uncapped.capped is None


@pytest.mark.integration
def test_issue_takes_at_most_three_requests_after_login(vault_world: VaultWorld) -> None:
    issuer = _issuer(vault_world)
    assert _issue(issuer, vault_world, "staging-admin", 60).requests == 2
    assert _issue(issuer, vault_world, "prod-break-glass", 60, grant="g-2").requests == 2


@pytest.mark.integration
def test_two_access_repositories_sharing_one_vault_never_touch_each_others_tokens(
    vault_world: VaultWorld,
) -> None:
    """Repository B has its own token role and issuer policy in the same Vault. Neither issuer
    can list tokens (no sudo, no auth/token/accessors), so neither can find the other's."""
    from jitops.setup.vault import apply_setup, issuer_policy_hcl, plan_setup

    admin = vault_world.admin()
    policy_b = vault_world.policy()
    from dataclasses import replace

    vs_b = VaultSettings(
        token_role="jitops-grant-b", jwt_role="jitops-b", issuer_policy="jitops-issuer-b"
    )
    policy_b = replace(policy_b, settings=replace(policy_b.settings, vault=vs_b))
    apply_setup(
        admin,
        plan_setup(policy_b, replace(vault_world.setup_options(), repo_name="acme/other")),
        dry_run=False,
    )
    assert "auth/token/accessors" not in issuer_policy_hcl("jitops-grant")
    assert '"sudo"' not in issuer_policy_hcl("jitops-grant")
    issuer_a = _issuer(vault_world)
    issuer_b = vault_world.client(vault_world.token(["jitops-issuer-b"]))
    a = _issue(issuer_a, vault_world, "staging-admin", 60, grant="a-1")
    b = issuer_b.issue(
        grant_id="b-1",
        requester="octocat",
        role=_role(vault_world, "prod-break-glass"),
        duration=timedelta(seconds=60),
        pull_request=7,
        wrap_ttl=timedelta(minutes=5),
        token_role="jitops-grant-b",
    )
    for issuer in (issuer_a, issuer_b):
        with pytest.raises(VaultPermissionError, match="auth/token/accessors"):
            issuer.list_keys("auth/token/accessors")
    # A sweep of repository A revokes only what A's git records.
    assert issuer_a.revoke_accessor(a.accessor) is True
    still = {t.grant_id for t in vault_world.grant_tokens()}
    assert still == {"b-1"}
    assert admin.lookup_accessor(b.accessor) is not None


@pytest.mark.integration
def test_an_anonymous_client_never_sends_the_users_own_vault_token(
    sealed_vault: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """hvac falls back to $VAULT_TOKEN and ~/.vault-token when given no token; claim and the
    CI logins must not hand a person's token to the server a delivery names."""
    (tmp_path / ".vault-token").write_text("s.my-own-token")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", "s.my-env-token")
    _Always503.status = 403
    vault = Vault(sealed_vault, None, retry=FAST)
    with pytest.raises(VaultPermissionError):
        vault.lookup_accessor("acc")
    assert _Always503.tokens == [None]


def test_test_and_demo_objects_holding_root_tokens_do_not_show_them(
    vault_world: VaultWorld,
) -> None:
    assert vault_world.target.root_token not in repr(vault_world)
    assert vault_world.target.root_token not in repr(vault_world.target.server)


@pytest.mark.integration
def test_an_accessor_of_another_namespace_is_no_token_here_and_never_retried(
    vault_world: VaultWorld,
) -> None:
    """OpenBao answers a lookup or revoke of another namespace's accessor (and of a malformed
    one, inside a namespace) with HTTP 500 "cannot lookup token in different namespace": for
    jitops that is "no such token here", answered at once, never retried as a 5xx."""
    from tests.fixtures.vault_backend import new_namespace, shares_namespaces

    server = vault_world.target.server
    if not shares_namespaces(server):
        pytest.skip("this server has no namespaces (HashiCorp Vault outside Enterprise)")
    issued = _issue(_issuer(vault_world), vault_world, "staging-admin", 60, grant="g-here")
    elsewhere = Vault(
        server.url, Secret(server.root_token), namespace=new_namespace(server), retry=FAST
    )
    steps = [
        (lambda: elsewhere.lookup_accessor(issued.accessor), None),
        (lambda: elsewhere.revoke_accessor(issued.accessor), False),
        (lambda: elsewhere.revoke_grant_token(issued.accessor, "g-here"), "gone"),
    ]
    for call, want in steps:
        before = elsewhere.request_count
        assert call() == want
        assert elsewhere.request_count == before + 1  # one request: not retried
    # a malformed accessor inside the namespace: the same answer from OpenBao
    here = _issuer(vault_world)
    here.retry = FAST
    for call, want in [
        (lambda: here.lookup_accessor("not-an-accessor"), None),
        (lambda: here.revoke_accessor("not-an-accessor"), False),
        (lambda: here.revoke_grant_token("not-an-accessor", "g-here"), "gone"),
    ]:
        before = here.request_count
        assert call() == want
        assert here.request_count == before + 1
    # the token in its own namespace was never touched
    assert vault_world.admin().lookup_accessor(issued.accessor) is not None


@pytest.mark.integration
def test_a_grant_token_has_no_default_policy_but_can_look_itself_up(
    vault_world: VaultWorld,
) -> None:
    """No ``default`` policy (no sys/wrapping/wrap for grantees); the setup-written self policy
    gives lookup-self; the wrapping token still looks up and unwraps on its own."""
    issuer = _issuer(vault_world)
    issued = _issue(issuer, vault_world, "prod-break-glass", 60)
    claimer = Vault(vault_world.target.url, None, namespace=vault_world.target.namespace)
    looked = claimer.wrapping_lookup(issued.wrapping_token)
    assert looked.creation_path == "auth/token/create/jitops-grant"
    assert looked.creation_ttl == 300
    unwrapped = claimer.unwrap(issued.wrapping_token)  # the lookup did not spend it
    grant = claimer.with_token(unwrapped.values["token"])
    me = grant.lookup_self()
    assert me.grant_id == "g-1" and unwrapped.meta["jitops_grant"] == "g-1"
    assert "default" not in me.policies
    assert "jitops-grant-self" in me.policies
    with pytest.raises(VaultPermissionError, match="sys/wrapping/wrap"):
        grant.write("sys/wrapping/wrap", {"password": "chosen"})
    with pytest.raises(UnwrapError, match="already unwrapped"):
        claimer.wrapping_lookup(issued.wrapping_token)
