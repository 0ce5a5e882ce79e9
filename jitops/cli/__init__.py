"""The jitops command line: parses options, makes one call, renders the result.

Each verb lives in its own module under ``jitops.cli`` and is listed in ``_COMMANDS`` (loaded
only when it runs). Errors become messages and exit codes in exactly one place,
:meth:`JitopsGroup.main`.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from jitops.errors import EXIT_BUG, EXIT_USAGE, JitopsError


class JitopsGroup(click.Group):
    """The top group. Sub-commands load lazily; a command returns an int exit code (or None
    for 0). :meth:`main` is the one place an error becomes a message and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; every error becomes a message on stderr and an exit code (0 ok,
        1 rejected or failed, 2 usage, 3 a bug in jitops), never a traceback for a user error."""
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            code = 1
        except click.ClickException as exc:
            exc.show()
            code = EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
        except JitopsError as exc:
            click.echo(f"error: {exc}", err=True)
            code = exc.exit_code
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            code = 130
        except Exception as exc:
            click.echo(
                f"jitops: unexpected error ({type(exc).__name__}); this is a bug in jitops, "
                "please report it with the command you ran. Re-run with JITOPS_DEBUG=1 for "
                "details.",
                err=True,
            )
            if os.environ.get("JITOPS_DEBUG"):
                traceback.print_exc()
            code = EXIT_BUG
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(
    cls=JitopsGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx, value),
    help="Show the version and the commit it was built from, and exit.",
)
def cli() -> None:
    """Just-in-time access as a GitOps workflow.

    Grants are YAML files added by pull request under grants/; policies/ says who may ask
    for what and whose approval it needs; Vault issues access that dies on time.
    """


def _print_version(ctx: click.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from jitops.release import describe

    click.echo(describe())
    ctx.exit()


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
    # the stand-ins and the demo are the jitops-sandbox distribution (the `sandbox` extra)
    "sandbox": "jitops_sandbox.cli.sandbox",
    "demo": "jitops_sandbox.cli.demo",
}

SANDBOX_HINT = (
    "the jitops-sandbox distribution is not installed; from a checkout of the jitops "
    "repository: pip install -e ./sandbox -e '.[sandbox]'"
)


class SandboxMissing(JitopsError):
    """`jitops demo` or `jitops sandbox` without the jitops-sandbox distribution."""


def _load(name: str) -> click.Command | None:
    module_name = _COMMANDS.get(name)
    if module_name is None:
        return None
    import importlib

    if module_name.startswith("jitops_sandbox."):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("jitops_sandbox"):
                raise
            return _missing_sandbox(name)
    else:
        module = importlib.import_module(f"jitops.cli.{module_name}")
    for command in module.COMMANDS:
        if command.name == name:
            return command  # type: ignore[no-any-return]
    return None


def _missing_sandbox(name: str) -> click.Command:
    """A stand-in command that says how to install what ``name`` needs, whatever it is given."""

    @click.command(
        name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=f"(needs jitops-sandbox) {SANDBOX_HINT}",
    )
    def missing() -> None:
        raise SandboxMissing(f"`jitops {name}`: {SANDBOX_HINT}")

    return missing


def main(argv: list[str] | None = None) -> None:
    """Entry point (``jitops`` and ``python -m jitops``)."""
    cli.main(args=argv, prog_name="jitops")
