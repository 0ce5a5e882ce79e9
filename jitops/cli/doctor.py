"""`jitops doctor`: check that Vault (and later GitHub) are set up as the policy needs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jitops import doctor
from jitops.cli.lifecycle import github_options
from jitops.cli.validate import repo_option, resolve_repo
from jitops.errors import EXIT_OK, EXIT_REJECTED
from jitops.validate import read_policy
from jitops.vault import Vault


@click.command("doctor")
@repo_option
@click.option("--vault-addr", metavar="URL", default=None, help="Vault address ($VAULT_ADDR).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@github_options
@click.option("--branch", default="main", show_default=True, help="The protected branch.")
def doctor_cmd(
    repo: Path | None,
    vault_addr: str | None,
    fmt: str,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    branch: str,
) -> int:
    """Check that Vault matches the policy; every failure says how to fix it.

    Vault: every role's policies exist, the token role covers them (orphan, not renewable,
    long enough explicit max TTL), the JWT role is bound, and each role's vault.secret is
    readable by a token with that role's policies (asked of Vault, the secret is never read).
    GitHub (with --repo-name and a token): the workflows are the shipped ones, CODEOWNERS covers
    policies/ and .github/, and the branch requires jitops/validate and jitops/approval,
    dismisses stale approvals and requires code-owner review. Exit 1 when any check fails.
    """
    root = resolve_repo(repo)
    policy = read_policy(root, None)
    opened: list[Vault] = []

    def connect() -> Vault:
        vault = Vault.connect(vault_addr, policy.settings.vault, os.environ)
        opened.append(vault)
        return vault

    try:
        findings = doctor.vault_findings(policy, connect)
    finally:
        for vault in opened:
            vault.close()
    if repo_name and token:
        from jitops.doctor_github import github_findings, shipped_workflows
        from jitops.github import GitHub

        protection = GitHub(repo_name, token, api_url).branch_protection(branch)
        findings += github_findings(root, protection, shipped_workflows(), branch)
    else:
        findings.append(
            doctor.Finding(
                "GitHub",
                True,
                "GitHub checks skipped: no --repo-name/--token (GITHUB_REPOSITORY, GITHUB_TOKEN)",
            )
        )
    click.echo(doctor.render_json(findings) if fmt == "json" else doctor.render_text(findings))
    return EXIT_REJECTED if doctor.failed(findings) else EXIT_OK


COMMANDS: list[click.Command] = [doctor_cmd]
