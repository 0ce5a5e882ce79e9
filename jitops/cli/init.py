"""`jitops init`: scaffold an access repository."""

from __future__ import annotations

from pathlib import Path

import click

from jitops.errors import EXIT_OK
from jitops.setup.init import Change, InitOptions, apply_init, plan_init


@click.command("init")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(path_type=Path),
)
@click.option(
    "--admins",
    multiple=True,
    metavar="@ORG/TEAM",
    help="Access admins: CODEOWNERS of everything but grants, approvers of the starter role, "
    "settings.admins (who may end anyone's grant early) "
    "(repeatable; '@org/team' or '@login').",
)
@click.option(
    "--app-slug",
    default="jitops",
    show_default=True,
    help="Slug of the GitHub App jitops acts as (its login is '<slug>[bot]').",
)
@click.option(
    "--requesters",
    multiple=True,
    metavar="PRINCIPAL",
    help="Who may ask for the starter role (repeatable) [default: '*', anyone].",
)
@click.option(
    "--action-repo",
    metavar="OWNER/REPO",
    default=None,
    help="Where the jitops Action lives [default: this release's].",
)
@click.option(
    "--action-ref",
    metavar="SHA",
    default=None,
    help="Full commit SHA of the jitops Action the workflows pin [default: the commit this "
    "release was built from].",
)
@click.option("--force", is_flag=True, help="Replace files that differ from what init writes.")
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
def init_cmd(
    directory: Path,
    admins: tuple[str, ...],
    app_slug: str,
    requesters: tuple[str, ...],
    action_repo: str | None,
    action_ref: str | None,
    force: bool,
    dry_run: bool,
) -> int:
    """Scaffold an access repository in DIRECTORY (default: here).

    Writes a starter policy with tests, grants/README.md, the three jitops workflows calling
    the jitops Action pinned to a commit SHA, CODEOWNERS (admins own everything but grant
    files), editor schemas, a pre-commit hook for requesters and a .gitignore. Running it again
    changes nothing; a file you changed is never overwritten without --force. Next steps are
    in docs/setup.md: the GitHub App, the ruleset, the jitops environment, `jitops vault
    setup` and `jitops doctor`.
    """
    options = InitOptions.from_cli(
        admins=admins,
        app_slug=app_slug,
        action_repo=action_repo,
        action_ref=action_ref,
        requesters=requesters,
    )
    actions = apply_init(directory, plan_init(options), force=force, dry_run=dry_run)
    verb = {
        Change.CREATE: "would create" if dry_run else "created",
        Change.OVERWRITE: "would overwrite" if dry_run else "overwrote",
        Change.SAME: "unchanged",
    }
    for action in actions:
        click.echo(f"{verb[action.change]:>15}  {action.path}")
    written = sum(a.change is not Change.SAME for a in actions)
    if dry_run:
        click.echo(f"dry run: {written} file(s) would be written in {directory}")
    elif written:
        click.echo(
            f"{written} file(s) written in {directory}. Next: edit policies/policy.yaml, run "
            "`jitops policy test`, then follow docs/setup.md (GitHub App, ruleset, "
            "environment, `jitops vault setup`, `jitops doctor`)."
        )
    else:
        click.echo(f"{directory} is already set up: nothing to write")
    return EXIT_OK


COMMANDS: list[click.Command] = [init_cmd]
