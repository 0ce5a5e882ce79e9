"""``jitops sandbox github``: run the GitHub stand-in on its own, like a tiny GitHub Enterprise.

Prints ``GitHub API:  <url>`` (first line), ``repository:  owner/name at <path>`` and one
``token <login>: <token>`` line per seeded user, then serves until Ctrl-C, SIGTERM or
``--for-seconds``. Registered by the CLI under the ``sandbox`` group.
"""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
import yaml

from jitops_sandbox.github import GitHubSandbox, SandboxError

DEFAULT_SEED: dict[str, Any] = {
    "users": [
        {"login": "jitops-bot", "write": True, "bot": True},
        "octocat",
        "alice",
        "bob",
    ],
    "teams": [
        {"org": "acme", "slug": "dba", "members": ["alice", "bob"]},
        {"org": "acme", "slug": "engineering", "members": ["octocat", "alice", "bob"]},
    ],
}


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT; use for example 127.0.0.1:8080")
    return host, int(port)


def _load_seed(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read seed file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"seed file {path} must be a mapping with users: and teams:")
    return data


@click.command("github")
@click.option("--listen", default="127.0.0.1:0", show_default=True, help="HOST:PORT (0: any).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the bare repository lives (default: a new temporary directory).",
)
@click.option("--repo", default="acme/access", show_default=True, help="owner/name.")
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML or JSON: users: [{login, write, bot, token, keys, app_id, admin}], teams: [{org, "
    "slug, members, parent, pending}], merge_methods: {merge, squash, rebase}, rulesets: [{name, "
    "required_approvals, required_checks, bypass_apps, ...}].",
)
@click.option("--for-seconds", type=float, help="Stop by itself after this many seconds.")
def github_cmd(
    listen: str, workdir: Path | None, repo: str, seed: Path | None, for_seconds: float | None
) -> None:
    """Serve a GitHub REST API stand-in on loopback until Ctrl-C (or SIGTERM).

    The repository is a real bare git repository: clone and push to its path with plain git.
    Point PyGithub at the printed API URL with one of the printed tokens.
    """
    host, port = _listen(listen)
    data = _load_seed(seed) if seed else DEFAULT_SEED
    work = workdir or Path(tempfile.mkdtemp(prefix="jitops-github-"))
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with GitHubSandbox(work, repo, host=host, port=port) as gh:
            try:
                tokens = gh.seed(data)
            except (SandboxError, KeyError, TypeError, ValueError) as exc:
                raise click.BadParameter(
                    f"the seed does not fit: {exc}; see --help for its shape"
                ) from exc
            click.echo(f"GitHub API:  {gh.api_url}")
            click.echo(f"repository:  {gh.full_name} at {gh.repo_path}")
            for login, token in tokens.items():
                click.echo(f"token {login}: {token}")
            click.echo("serving; press Ctrl-C to stop", err=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait(timeout=for_seconds)
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped", err=True)
