"""`jitops doctor`: check that Vault (and later GitHub) are set up as the policy needs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jitops import doctor
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
def doctor_cmd(repo: Path | None, vault_addr: str | None, fmt: str) -> int:
    """Check that Vault matches the policy; every failure says how to fix it.

    Vault: every role's policies exist, the token role covers them (orphan, not renewable,
    long enough explicit max TTL), the JWT role is bound, and each role's vault.secret is
    readable by a token with that role's policies (asked of Vault, the secret is never read).
    Exit 1 when any check fails.
    """
    policy = read_policy(resolve_repo(repo), None)
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
    click.echo(doctor.render_json(findings) if fmt == "json" else doctor.render_text(findings))
    return EXIT_REJECTED if doctor.failed(findings) else EXIT_OK


COMMANDS: list[click.Command] = [doctor_cmd]
