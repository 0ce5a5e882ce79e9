"""A complete, throwaway jitops installation on loopback, for `jitops demo` and the tests.

It starts the GitHub stand-in (a real bare git repository behind GitHub's REST API), the Vault
stand-in (or a real ``vault server -dev`` when a ``vault`` binary is on PATH), and a real
PostgreSQL when its binaries are present; seeds people, teams and an SSH key; configures
Vault for jitops exactly as an admin would (`jitops vault setup` plus role policies and
secrets); and gives a checkout of the access repository to run jobs in.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from jitops.errors import JitopsError, Secret
from jitops.ledger import Git
from jitops.policy import Policy, load_policy
from jitops.vault import Vault
from jitops.vaultsetup import SetupOptions, apply_setup, plan_setup

if TYPE_CHECKING:
    from jitops.github import GitHub
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
      secret: {secret}
  staging-admin:
    description: Administrator on staging; self-service for engineers
    max_duration: 8h
    requesters: ['@acme/engineering']
    approvals: []
    vault:
      policies: [jit-staging-admin]
      secret: secret/data/staging/admin
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class World:
    workdir: Path
    gh: Any  # jitops.sandbox.github.GitHubSandbox
    vault_url: str
    root_token: str
    vault_kind: str  # "stand-in" | "vault -dev"
    postgres: Any | None  # jitops.sandbox.postgres.PostgresServer
    key: KeyPair
    issuer_token: str = ""
    checkout: Path = Path()
    webhook_url: str | None = None
    jwt_pubkeys: tuple[str, ...] = ()
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
    ) -> World:
        """Start everything. ``jwt_pubkeys``: trust GitHub OIDC tokens signed by these keys
        (offline stand-in for GitHub's issuer), so jobs can log in to Vault the real way."""
        from jitops.sandbox.github import GitHubSandbox

        stops: list[Callable[[], None]] = []
        try:
            gh = GitHubSandbox(workdir / "github", REPO).start()
            stops.append(gh.stop)
            url, root, kind, stop = _start_vault(workdir)
            stops.append(stop)
            postgres = None
            if use_postgres is not False:
                postgres = _start_postgres(required=bool(use_postgres))
                if postgres is not None:
                    stops.append(postgres.stop)
            key = make_ssh_key(workdir / "home" / ".ssh", "id_ed25519")
            world = cls(workdir, gh, url, root, kind, postgres, key, _stops=stops)
            world.webhook_url = webhook_url
            world.jwt_pubkeys = jwt_pubkeys
            world._seed_github()
            world._seed_vault()
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
        gh.add_ssh_key(REQUESTER, self.key.public_line)
        gh.commit_files(
            "main",
            {"policies/policy.yaml": self.policy_text(), "grants/README.md": "Grants live here.\n"},
            author=DBA,
            message="Access policy",
        )

    def policy_text(self) -> str:
        secret = f"database/creds/{DB_ROLE}" if self.postgres else "secret/data/orders/readonly"
        text = DEMO_POLICY.format(secret=secret)
        if self.webhook_url:
            text = text.replace("settings:\n", "settings:\n" + NOTIFY_SETTINGS, 1)
        return text

    def policy(self) -> Policy:
        return load_policy({"policies/policy.yaml": self.policy_text().encode()})

    def admin(self) -> Vault:
        return Vault(self.vault_url, Secret(self.root_token))

    def _seed_vault(self) -> None:
        admin = self.admin()
        try:
            options = SetupOptions(repo_name=REPO, jwt_validation_pubkeys=self.jwt_pubkeys)
            plan = plan_setup(self.policy(), options)
            apply_setup(admin, plan, dry_run=False)
            db_path = f"database/creds/{DB_ROLE}" if self.postgres else "secret/data/orders/*"
            policies = {
                "jit-orders-db-readonly": f'path "{db_path}" {{\n  capabilities = ["read"]\n}}\n',
                "jit-staging-admin": (
                    'path "secret/data/staging/*" {\n  capabilities = ["read"]\n}\n'
                ),
            }
            for name, hcl in policies.items():
                admin.write(f"sys/policies/acl/{name}", {"policy": hcl})
            mounts = admin.read("sys/mounts") or {}
            if "secret/" not in (mounts.get("data") or mounts):
                admin.write("sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
            admin.write(
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
        """The issue/sweep job's environment (a Vault token with the issuer policy)."""
        env = {
            "VAULT_ADDR": self.vault_url,
            "VAULT_TOKEN": self.issuer_token,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": self.gh.api_url,
        }
        if self.webhook_url:
            env["JITOPS_AUDIT_WEBHOOK"] = self.webhook_url
            env["JITOPS_AUDIT_HMAC"] = WEBHOOK_KEY
        return env

    def github(self, login: str = BOT) -> GitHub:
        from jitops.github import GitHub

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


def _quietly(stop: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # cleanup must go on
        stop()


def _start_vault(workdir: Path) -> tuple[str, str, str, Callable[[], None]]:
    root = "root-" + secrets.token_hex(8)
    binary = shutil.which("vault")
    if binary:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={root}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(workdir)},
        )

        def stop() -> None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

        deadline = time.monotonic() + 15
        import requests

        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                    return url, root, "vault -dev", stop
            except requests.RequestException:
                time.sleep(0.1)
        stop()
        raise WorldError("vault server -dev did not start within 15 s")
    from jitops.sandbox.vault import VaultSandbox

    box = VaultSandbox(root_token=root)
    box.start()
    return str(box.url), root, "stand-in", box.stop


def _start_postgres(*, required: bool) -> Any | None:
    from jitops.sandbox.postgres import PostgresServer, find_postgres_bin

    if find_postgres_bin() is None:
        if required:
            raise WorldError("PostgreSQL binaries not found; install the postgresql package")
        return None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if required:
            raise WorldError("psycopg is not installed; pip install 'jitops[sandbox]'") from None
        return None
    from jitops.sandbox.postgres import PostgresError

    try:
        return PostgresServer().start()
    except PostgresError as exc:
        if required:
            raise WorldError(f"PostgreSQL did not start: {exc}") from None
        return None  # the demo falls back to a kv secret and says so
