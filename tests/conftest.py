"""Shared test configuration. Fixture plugins live in tests/fixtures/."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.vault_backend",
    "tests.contract.plugin",
]

ROOT = Path(__file__).resolve().parent.parent
#: the repository's example policy plus a static (KV) role the tests exercise on purpose
EXAMPLE_POLICY = ROOT / "tests" / "fixtures" / "policy.yaml"

GOOD_GRANT = (
    "requester: octocat\n"
    "role: prod-db-readonly\n"
    "duration: 2h\n"
    "reason: Investigate INC-1234 slow queries on the orders table\n"
    "ticket: INC-1234\n"
)


#: fixtures that start a real server or make a real git repository: a test using one is an
#: integration test (it still runs in CI; ``-m "not integration"`` runs the unit tests alone)
INTEGRATION_FIXTURES = frozenset(
    {
        "access_repo",
        "write_grant",
        "world",
        "gh",
        "client",
        "vault_backend",
        "vault_world",
        "private_vault_world",
        "bare_vault_world",
        "openbao_server",
        "oidc",
        "fault_proxy_factory",
        "postgres",
        "chromium",
        "browse",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
        if "postgres" in used:
            item.add_marker(pytest.mark.postgres)
        if used & {"chromium", "browse"}:
            item.add_marker(pytest.mark.browser)


def git(cwd: Path, *args: str) -> str:
    """Run real git in a test repository (tests may; production code goes through the git door)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit_all(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD").strip()


@pytest.fixture
def access_repo(tmp_path: Path) -> Path:
    """A real git access repository: the example policy and an empty grants/ committed."""
    repo = init_repo(tmp_path / "access")
    (repo / "policies").mkdir()
    shutil.copy(EXAMPLE_POLICY, repo / "policies" / "policy.yaml")
    (repo / "grants").mkdir()
    (repo / "grants" / "README.md").write_text("how to ask\n")
    commit_all(repo, "initial policy")
    return repo


@pytest.fixture
def write_grant(access_repo: Path) -> Callable[..., Path]:
    def write(name: str, text: str = GOOD_GRANT) -> Path:
        path = access_repo / "grants" / f"{name}.yaml"
        path.write_text(text)
        return path

    return write
