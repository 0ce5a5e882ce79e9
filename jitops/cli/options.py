"""Options shared by several commands, declared once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from jitops.doors.git import find_root

FC = Callable[..., Any]


def repo_option(f: FC) -> FC:
    return click.option(
        "--repo",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help="Root of the access repository (default: the git work tree you are in).",
    )(f)


def resolve_repo(repo: Path | None) -> Path:
    if repo is not None:
        return repo.resolve()
    return find_root(Path.cwd()) or Path.cwd()


def github_options(f: FC) -> FC:
    f = click.option(
        "--repo-name",
        envvar="GITHUB_REPOSITORY",
        metavar="OWNER/REPO",
        help="The access repository on GitHub [env: GITHUB_REPOSITORY].",
    )(f)
    f = click.option(
        "--api-url",
        envvar="GITHUB_API_URL",
        default="https://api.github.com",
        show_default=True,
        help="GitHub API URL [env: GITHUB_API_URL].",
    )(f)
    return click.option(
        "--token",
        envvar=["JITOPS_GITHUB_TOKEN", "GITHUB_TOKEN"],
        metavar="TOKEN",
        help="GitHub token [env: JITOPS_GITHUB_TOKEN, GITHUB_TOKEN].",
    )(f)


def ledger_options(f: FC) -> FC:
    f = click.option(
        "--remote", default="origin", show_default=True, help="Git remote to push to."
    )(f)
    f = click.option(
        "--branch", default="main", show_default=True, help="The protected branch holding grants."
    )(f)
    return click.option(
        "--vault-addr",
        envvar="VAULT_ADDR",
        metavar="URL",
        help="Vault address [env: VAULT_ADDR]; login via GitHub OIDC, AppRole "
        "(VAULT_ROLE_ID/VAULT_SECRET_ID) or VAULT_TOKEN.",
    )(f)


def format_option(f: FC) -> FC:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "github", "json"]),
        default=None,
        help="Output: text, github (step summary) or json [default: github inside Actions].",
    )(f)


@dataclass(frozen=True)
class Target:
    """Where a lifecycle run works: the checkout, the GitHub repository, Vault and git."""

    repo: Path | None
    repo_name: str | None
    api_url: str
    token: str | None = None
    vault_addr: str | None = None
    remote: str = "origin"
    branch: str = "main"

    def __repr__(self) -> str:  # the token stays out of any repr
        return f"Target(repo={self.repo!r}, repo_name={self.repo_name!r})"


def target_options(f: FC) -> FC:
    """--repo, the GitHub options and the ledger options, handed to the command as one
    ``target`` (:class:`Target`) instead of seven parameters."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        repo: Path | None,
        repo_name: str | None,
        api_url: str,
        token: str | None,
        vault_addr: str | None,
        remote: str,
        branch: str,
        **kwargs: Any,
    ) -> Any:
        target = Target(repo, repo_name, api_url, token, vault_addr, remote, branch)
        return f(*args, target=target, **kwargs)

    return repo_option(github_options(ledger_options(wrapper)))
