"""`jitops sandbox github|vault`: the GitHub stand-in or a real OpenBao, on loopback, alone."""

from __future__ import annotations

import click

from jitops_sandbox.cli.sandbox_github import github_cmd
from jitops_sandbox.cli.sandbox_vault import vault_cmd


@click.group("sandbox")
def sandbox_group() -> None:
    """Run the GitHub stand-in, or a real OpenBao dev server, on 127.0.0.1.

    The GitHub stand-in speaks GitHub's REST API (PyGithub works against it unmodified);
    `sandbox vault` runs the real OpenBao server. Both keep everything in memory and are for
    trying jitops out, demos and tests only.
    """


sandbox_group.add_command(github_cmd)
sandbox_group.add_command(vault_cmd)

COMMANDS: list[click.Command] = [sandbox_group]
