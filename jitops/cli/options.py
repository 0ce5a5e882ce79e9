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


DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class Laptop:
    """The GitHub repository, API and token a requester's command uses: given, or found."""

    repo_name: str | None
    api_url: str
    token: str | None = None
    found: tuple[str, ...] = ()  # what was inferred, for one line on stderr

    def __repr__(self) -> str:  # the token stays out of any repr
        return f"Laptop(repo_name={self.repo_name!r}, api_url={self.api_url!r})"


def laptop_github(
    root: Path, repo_name: str | None, api_url: str, token: str | None, remote: str = "origin"
) -> Laptop:
    """For commands run on a laptop (request, claim): the repository from ``--repo-name`` /
    ``GITHUB_REPOSITORY``, else from the git remote's URL (github.com or a GitHub Enterprise
    host, https or ssh); the API URL from ``--api-url`` / ``GITHUB_API_URL``, else the
    remote's host's; the token from ``--token`` / the environment, else ``gh auth token``."""
    from urllib.parse import urlparse

    from jitops.core.remotes import parse_remote
    from jitops.doors.ghcli import gh_token
    from jitops.doors.git import Git

    found: list[str] = []
    url = Git(root).remote_url(remote) if (root / ".git").exists() else None
    named = parse_remote(url) if url else None
    if not repo_name and named is not None:
        repo_name = named.full_name
        found.append(f"repository {repo_name} from the git remote {remote}")
        if api_url.rstrip("/") == DEFAULT_API_URL and named.api_url != DEFAULT_API_URL:
            api_url = named.api_url
            found.append(f"API {api_url}")
    if not token:
        if named is not None:
            host = named.host
        else:
            api_host = urlparse(api_url).hostname or "github.com"
            host = "github.com" if api_host == "api.github.com" else api_host
        token = gh_token(host)
        if token:
            found.append(f"token of the GitHub CLI (gh auth token --hostname {host})")
    return Laptop(repo_name, api_url, token, tuple(found))


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
        default=DEFAULT_API_URL,
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
