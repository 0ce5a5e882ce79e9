"""`jitops validate` and `jitops schema`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from jitops.cli import render
from jitops.cli.emit import emit
from jitops.cli.options import repo_option, resolve_repo
from jitops.cli.output import write_output
from jitops.core import schema as schemas
from jitops.errors import EXIT_OK, EXIT_REJECTED
from jitops.lifecycle.validate import Report, validate_repo

FORMATS = click.Choice(["text", "github", "json"])


@dataclass(frozen=True)
class _Validation:
    """A validation report as :func:`jitops.cli.emit.emit` renders it."""

    report: Report

    def text(self) -> str:
        return render.text(self.report)

    def github(self) -> tuple[str, str | None]:
        annotations = [render.github_annotations(self.report.problems)]
        lines = [*annotations] if self.report.problems else []
        lines.append(render.text(self.report).splitlines()[-1])
        return "\n".join(lines), render.step_summary(self.report) + "\n"

    def json(self) -> str:
        return render.to_json(self.report)


@click.command("validate")
@repo_option
@click.option(
    "--base",
    metavar="REF",
    default=None,
    help="Read the policy from this git ref instead of the working tree (pull-request mode): "
    "a change can never loosen the policy that judges it.",
)
@click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default=None,
    help="text (default on a terminal), github (annotations and step summary; default inside "
    "GitHub Actions) or json.",
)
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
def validate_cmd(
    repo: Path | None, base: str | None, fmt: str | None, files: tuple[str, ...]
) -> int:
    """Check grant files against the policy in policies/.

    Without FILES every grants/*.yaml is checked. Exit 0 when every grant and the policy are
    valid, 1 when anything is invalid, 2 for usage errors. Team membership cannot be checked
    offline: it is reported as a warning and verified by `jitops pr check`.
    """
    root = resolve_repo(repo)
    result = validate_repo(root, base=base, files=list(files) or None)
    emit(_Validation(result), fmt)
    return EXIT_OK if result.ok else EXIT_REJECTED


@click.command("schema")
@click.argument("kind", type=click.Choice(list(schemas.KINDS)))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the schema to this file instead of standard output.",
)
def schema_cmd(kind: str, output: Path | None) -> None:
    """Print the JSON Schema (Draft 2020-12) of a grant or policy file, or of one event of
    `jitops audit --format jsonl` (audit-event).

    Point your editor at it with a first line like
    `# yaml-language-server: $schema=../.jitops/grant.schema.json`.
    """
    text = schemas.schema_text(kind)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        click.echo(f"wrote {output}", err=True)


COMMANDS: list[click.Command] = [validate_cmd, schema_cmd]
