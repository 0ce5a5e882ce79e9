"""A started GitHub stand-in with a bot, three people and two teams; PyGithub clients for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import github
import pytest

from jitops_sandbox.github import GitHubSandbox
from tests.sandbox.github.support import connect


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubSandbox]:
    with GitHubSandbox(tmp_path / "github") as sandbox:
        sandbox.add_user("jitops-bot", write=True, bot=True)
        for login in ("octocat", "alice", "bob", "carol"):
            sandbox.add_user(login)
        sandbox.add_team("acme", "dba", ["alice", "bob"])
        sandbox.add_team("acme", "engineering", ["octocat"], maintainers=["carol"])
        yield sandbox
        assert sandbox.errors == [], "the stand-in itself failed while answering"


@pytest.fixture
def client(gh: GitHubSandbox) -> Iterator[Callable[[str], github.Github]]:
    """PyGithub, unmodified, as ``login`` (no retries, so every failure shows)."""
    made: list[github.Github] = []

    def make(login: str = "jitops-bot") -> github.Github:
        g = connect(gh, gh.token(login))
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


@pytest.fixture
def bot(client: Callable[[str], github.Github]) -> github.Github:
    return client("jitops-bot")
