"""Helpers for the GitHub stand-in tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import github

from jitops_sandbox.github import GitHubSandbox

GRANT = "requester: octocat\nrole: prod-db-readonly\nduration: 2h\nreason: INC-1\n"


def connect(gh: GitHubSandbox | str, token: str | None, **kwargs: Any) -> github.Github:
    """Unmodified PyGithub on the stand-in (or its API URL): no retries, and none of
    PyGithub's default throttling (0.25 s between requests, 1 s between writes)."""
    auth = github.Auth.Token(token) if token is not None else None
    options: dict[str, Any] = {
        "retry": None,
        "seconds_between_requests": None,
        "seconds_between_writes": None,
    }
    options.update(kwargs)
    base_url = gh if isinstance(gh, str) else gh.api_url
    return github.Github(base_url=base_url, auth=auth, **options)


def git(cwd: Path, *args: str) -> str:
    """Real git in a clone of the stand-in's repository (an identity, no signing)."""
    config = ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(
        ["git", *config, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
