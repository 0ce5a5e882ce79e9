"""`jitops doctor`: check that Vault and GitHub are set up as the policy needs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jitops.cli.emit import Lines, emit
from jitops.cli.options import github_options, repo_option, resolve_repo
from jitops.errors import EXIT_OK, EXIT_REJECTED
from jitops.setup import doctor
from jitops.setup.checkup import run_doctor


@click.command("doctor")
@repo_option
@click.option("--vault-addr", metavar="URL", default=None, help="Vault address ($VAULT_ADDR).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@github_options
@click.option("--branch", default="main", show_default=True, help="The protected branch.")
@click.option(
    "--app-id",
    type=int,
    envvar="JITOPS_APP_ID",
    default=None,
    help="The jitops GitHub App's id: the only bypass actor allowed [env: JITOPS_APP_ID].",
)
def doctor_cmd(
    repo: Path | None,
    vault_addr: str | None,
    fmt: str,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    branch: str,
    app_id: int | None,
) -> int:
    """Check that Vault matches the policy; every failure says how to fix it.

    Vault: every role's policies exist, the token role covers them (orphan, not renewable,
    long enough explicit max TTL), the JWT role is bound, and each role's vault.secret is
    readable by a token with that role's policies (asked of Vault, the secret is never read).
    GitHub (with --repo-name and a token): the workflows call the jitops Action pinned by a
    full commit SHA and install nothing from the repository; CODEOWNERS gives every path but
    grant files an owner; the branch's rulesets (and classic protection) require
    jitops/validate, jitops/approval and code-owner review, dismiss stale approvals, and let
    only the jitops App bypass; the token can read the members of the policy's teams. Warns
    about 'require branches to be up to date'. Exit 1 when any check fails.
    """
    github = (repo_name, api_url, token) if repo_name and token else None
    findings = run_doctor(
        resolve_repo(repo), vault_addr, os.environ, github=github, branch=branch, app_id=app_id
    )
    emit(Lines(lambda: doctor.render_text(findings), lambda: doctor.render_json(findings)), fmt)
    return EXIT_REJECTED if doctor.failed(findings) else EXIT_OK


COMMANDS: list[click.Command] = [doctor_cmd]
