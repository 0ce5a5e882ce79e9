"""`jitops vault setup`: configure Vault for the policy (token role, issuer policy, JWT role)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jitops.cli.options import repo_option, resolve_repo
from jitops.errors import EXIT_OK, UsageError
from jitops.lifecycle.validate import read_policy
from jitops.setup.vault import (
    DEFAULT_WORKFLOWS,
    GITHUB_ISSUER,
    SetupOptions,
    run_setup,
)


@click.group("vault")
def vault_group() -> None:
    """Set up HashiCorp Vault for jitops."""


@vault_group.command("setup")
@repo_option
@click.option(
    "--repo-name",
    metavar="OWNER/REPO",
    default=lambda: os.environ.get("GITHUB_REPOSITORY"),
    help="The GitHub repository the JWT role is bound to (default: $GITHUB_REPOSITORY).",
)
@click.option(
    "--repository-id",
    metavar="ID",
    default=lambda: os.environ.get("GITHUB_REPOSITORY_ID", ""),
    help="GitHub's numeric id of the repository (default: $GITHUB_REPOSITORY_ID; elsewhere "
    "`gh api repos/OWNER/REPO --jq .id`). The JWT role is bound to it: a repository deleted "
    "and re-created under the same name gets another id.",
)
@click.option(
    "--repository-owner-id",
    metavar="ID",
    default=lambda: os.environ.get("GITHUB_REPOSITORY_OWNER_ID", ""),
    help="GitHub's numeric id of the owner (default: $GITHUB_REPOSITORY_OWNER_ID; elsewhere "
    "`gh api repos/OWNER/REPO --jq .owner.id`).",
)
@click.option(
    "--environment",
    default="jitops",
    show_default=True,
    help="GitHub Environment the issue and sweep jobs run in (the shipped workflows use "
    "jitops); the JWT role accepts only tokens of jobs in it.",
)
@click.option(
    "--runner-environment",
    type=click.Choice(["github-hosted", "self-hosted"]),
    default="github-hosted",
    show_default=True,
    help="Where the jobs run (the runner_environment claim).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option("--vault-addr", metavar="URL", default=None, help="Vault address ($VAULT_ADDR).")
@click.option(
    "--audience",
    default=None,
    help="Audience the OIDC token must carry (default https://github.com/OWNER).",
)
@click.option(
    "--workflow",
    "workflows",
    multiple=True,
    default=DEFAULT_WORKFLOWS,
    show_default=True,
    help="Workflow file (under .github/workflows/) allowed to log in; repeat for several.",
)
@click.option("--branch", default="main", show_default=True, help="The protected branch.")
@click.option(
    "--jwt-validation-pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM public key to verify JWTs with instead of OIDC discovery (an issuer Vault "
    "cannot reach, or a test issuer); repeat for several.",
)
@click.option(
    "--oidc-discovery-url",
    metavar="URL",
    default=None,
    help="OIDC discovery URL of the issuer (default: GitHub Actions'; GitHub Enterprise "
    "Server: https://HOST/_services/token, ghe.com: https://token.actions.SUBDOMAIN.ghe.com). "
    "Vault fetches it when the config is written. Also the default --bound-issuer.",
)
@click.option(
    "--bound-issuer",
    default=None,
    help="Expected `iss` of the JWTs (default: GitHub Actions).",
)
def setup_cmd(
    repo: Path | None,
    repo_name: str | None,
    repository_id: str,
    repository_owner_id: str,
    environment: str,
    runner_environment: str,
    dry_run: bool,
    vault_addr: str | None,
    audience: str | None,
    workflows: tuple[str, ...],
    branch: str,
    pubkeys: tuple[Path, ...],
    oidc_discovery_url: str | None,
    bound_issuer: str | None,
) -> int:
    """Configure Vault from policies/ (idempotent: re-running changes nothing).

    Writes the issuer's least-privilege ACL policy, the token role grants are created
    through (orphan, not renewable, capped at the longest max_duration, allowing every
    role's policies), the JWT auth method, its config (replaced when it trusts another
    issuer or other keys) and the JWT role bound to the repository (name and id), its owner's
    id, its main branch, the jitops workflows, the GitHub Environment and the runner kind.
    Needs an admin token (VAULT_TOKEN; VAULT_NAMESPACE for a Vault namespace). With
    --dry-run nothing is written; without a reachable Vault the whole plan is printed.
    """
    if not repo_name:
        raise UsageError("which repository? pass --repo-name OWNER/REPO or set GITHUB_REPOSITORY")
    policy = read_policy(resolve_repo(repo), None)
    if pubkeys and oidc_discovery_url:
        raise UsageError(
            "give either --jwt-validation-pubkey or --oidc-discovery-url, not both: Vault "
            "verifies JWTs with one source"
        )
    issuer = bound_issuer or oidc_discovery_url or GITHUB_ISSUER
    options = SetupOptions(
        repo_name=repo_name,
        repository_id=repository_id.strip(),
        repository_owner_id=repository_owner_id.strip(),
        audience=audience,
        workflows=tuple(workflows),
        branch=branch,
        environment=environment,
        runner_environment=runner_environment,
        jwt_validation_pubkeys=tuple(p.read_text(encoding="utf-8") for p in pubkeys),
        oidc_discovery_url=oidc_discovery_url or GITHUB_ISSUER,
        bound_issuer=issuer,
    )
    run = run_setup(
        policy,
        options,
        vault_addr=vault_addr,
        environ=os.environ,
        dry_run=dry_run,
        offline=lambda: click.echo("# no Vault configured: printing the whole plan", err=True),
    )
    for item in run.applied:
        click.echo(f"{item.outcome:>12}  {item.write.what}")
        if dry_run and item.outcome.pending:
            click.echo(_indent(item.write.render()))
    if dry_run:
        click.echo(f"dry run: {run.pending} write(s) would be made, nothing written")
    else:
        click.echo(f"{run.made} write(s) made" if run.made else "Vault already set up: no changes")
    return EXIT_OK


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


COMMANDS: list[click.Command] = [vault_group]
