"""`jitops sandbox github|vault`: run a loopback stand-in on its own (for trying jitops out)."""

from __future__ import annotations

import click

from jitops.cli.sandbox_github import github_cmd
from jitops.cli.sandbox_vault import vault_cmd


@click.group("sandbox")
def sandbox_group() -> None:
    """Run a local stand-in for GitHub or Vault on 127.0.0.1.

    The stand-ins speak the real HTTP APIs (PyGithub and hvac work against them unmodified);
    they keep everything in memory and are for demos and tests only.
    """


sandbox_group.add_command(github_cmd)
sandbox_group.add_command(vault_cmd)

COMMANDS: list[click.Command] = [sandbox_group]
