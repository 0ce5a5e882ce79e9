"""`jitops demo`."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary directory (repos, logs) afterwards.")
def demo_cmd(keep: bool) -> int:
    """Walk the whole lifecycle on loopback stand-ins, narrated, and check every step.

    Starts a GitHub stand-in, a Vault stand-in (or `vault server -dev` when a vault binary is
    on PATH) and a real PostgreSQL when its binaries are installed; exits 0 only if every step
    held. Takes well under a minute and cleans up after itself.
    """
    from jitops.demo.run import run_demo

    return run_demo(keep=keep)


COMMANDS: list[click.Command] = [demo_cmd]
