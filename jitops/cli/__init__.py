"""The jitops command line: parses options, calls one core function, prints the result.

Each verb lives in its own module under ``jitops.cli`` and is registered in :func:`_register`.
Errors are turned into messages and exit codes in exactly one place, :func:`main`.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from jitops import __version__
from jitops.errors import EXIT_BUG, EXIT_USAGE, JitopsError


class JitopsGroup(click.Group):
    """The top group: the one place a :class:`JitopsError` becomes a message and an exit code.

    A command returns an int exit code (or None for 0). Sub-commands load lazily.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            rv = super().invoke(ctx)
        except JitopsError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        if isinstance(rv, int) and rv:
            ctx.exit(rv)
        return rv


@click.group(
    cls=JitopsGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="jitops")
def cli() -> None:
    """Just-in-time access as a GitOps workflow.

    Grants are YAML files added by pull request under grants/; policies/ says who may ask
    for what and whose approval it needs; Vault issues access that dies on time.
    """


#: command name -> module under jitops.cli; modules are imported only when their command runs,
#: so `jitops audit` does not pay for importing hvac, PyGithub and age.
_COMMANDS = {
    "init": "init",
    "validate": "validate",
    "schema": "validate",
    "request": "request",
    "pr": "pr",
    "policy": "pr",
    "issue": "lifecycle",
    "claim": "lifecycle",
    "sweep": "lifecycle",
    "revoke": "lifecycle",
    "audit": "audit",
    "vault": "vault",
    "doctor": "doctor",
    "sandbox": "sandbox",
    "demo": "demo",
}


def _load(name: str) -> click.Command | None:
    module_name = _COMMANDS.get(name)
    if module_name is None:
        return None
    import importlib

    module = importlib.import_module(f"jitops.cli.{module_name}")
    for command in module.COMMANDS:
        if command.name == name:
            return command  # type: ignore[no-any-return]
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every error into a message and an exit code."""
    try:
        rv = cli.main(args=argv, prog_name="jitops", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except JitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        click.echo(
            f"jitops: unexpected error ({type(exc).__name__}); this is a bug in jitops, "
            "please report it with the command you ran. Re-run with JITOPS_DEBUG=1 for details.",
            err=True,
        )
        import os

        if os.environ.get("JITOPS_DEBUG"):
            import traceback

            traceback.print_exc()
        sys.exit(EXIT_BUG)
    sys.exit(rv if isinstance(rv, int) else 0)
