"""`jitops init`: scaffold an access repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from jitops.errors import EXIT_OK, UsageError
from jitops.setup.init import (
    DEFAULT_APP_SLUG,
    DEFAULT_ENVIRONMENT,
    DEFAULT_JWT_MOUNT,
    RECORD,
    Change,
    FileAction,
    InitOptions,
    apply_init,
    plan_init,
)


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
    default=None,
    help="Slug of the GitHub App jitops acts as (its login is '<slug>[bot]') "
    f"[default: {DEFAULT_APP_SLUG}].",
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
    "--runs-on",
    multiple=True,
    metavar="LABELS",
    help="Runner labels of every job (repeatable, or a comma list: --runs-on self-hosted,linux) "
    "[default: ubuntu-latest].",
)
@click.option(
    "--environment",
    default=None,
    metavar="NAME",
    help="GitHub environment of the issue and sweep jobs (holds the App's key; limit it to "
    f"main) [default: {DEFAULT_ENVIRONMENT}].",
)
@click.option(
    "--vault-namespace",
    default=None,
    metavar="PATH",
    help="Vault namespace every Vault login uses (VAULT_NAMESPACE), e.g. admin/team-a on HCP "
    "Vault [default: none].",
)
@click.option(
    "--vault-ca-cert-secret",
    default=None,
    metavar="NAME",
    help="Environment secret holding the PEM of the CA that signed Vault's certificate: the "
    "jobs write it to a file and point VAULT_CACERT at it [default: the runner's trust store].",
)
@click.option(
    "--jwt-mount",
    default=None,
    metavar="PATH",
    help="Mount path of Vault's JWT auth method (written to the policy's "
    f"settings.vault.jwt_mount) [default: {DEFAULT_JWT_MOUNT}].",
)
@click.option(
    "--action-ref",
    metavar="SHA",
    default=None,
    help="Full commit SHA of the jitops Action the workflows pin [default: the commit this "
    "release was built from].",
)
@click.option(
    "--upgrade",
    is_flag=True,
    help=f"Render the workflows again from {RECORD} with a new pin (--action-ref, default: "
    "the commit this jitops was built from), keeping every recorded choice unless an option "
    "changes it. A file changed by hand is reported and kept unless --force.",
)
@click.option("--force", is_flag=True, help="Replace files that differ from what init writes.")
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
def init_cmd(
    directory: Path,
    admins: tuple[str, ...],
    app_slug: str | None,
    requesters: tuple[str, ...],
    action_repo: str | None,
    action_ref: str | None,
    runs_on: tuple[str, ...],
    environment: str | None,
    vault_namespace: str | None,
    vault_ca_cert_secret: str | None,
    jwt_mount: str | None,
    upgrade: bool,
    force: bool,
    dry_run: bool,
) -> int:
    """Scaffold an access repository in DIRECTORY (default: here), or upgrade its workflows.

    Writes a starter policy with tests, grants/README.md, the three jitops workflows calling
    the jitops Action pinned to a commit SHA, CODEOWNERS (admins own everything but grant
    files), editor schemas, a pre-commit hook for requesters, a .gitignore and
    .jitops/init.yaml, the record of the choices made here. Running it again changes nothing;
    a file you changed is never overwritten without --force. `--upgrade` renders the workflows
    again from the record with a new pin. Next steps are in docs/setup.md: the GitHub App, the
    ruleset, the environment, `jitops vault setup` and `jitops doctor`.
    """

    def given(base: InitOptions | None) -> InitOptions:
        return InitOptions.from_cli(
            admins=admins,
            requesters=requesters,
            app_slug=app_slug,
            action_repo=action_repo,
            action_ref=action_ref,
            runs_on=runs_on,
            environment=environment,
            vault_namespace=vault_namespace,
            vault_ca_cert_secret=vault_ca_cert_secret,
            jwt_mount=jwt_mount,
            base=base,
        )

    if upgrade:
        if admins or requesters:
            raise UsageError(
                "--upgrade renders the workflows only; --admins and --requesters name people "
                "in the policy and CODEOWNERS, which are yours to edit"
            )
        return _upgrade(directory, given, force=force, dry_run=dry_run)
    options = given(None)
    actions = apply_init(directory, plan_init(options), force=force, dry_run=dry_run)
    written = _report(actions, dry_run)
    if dry_run:
        click.echo(f"dry run: {written} file(s) would be written in {directory}")
    elif written:
        setup = f"jitops vault setup{_vault_setup_args(options)}"
        click.echo(
            f"{written} file(s) written in {directory}. Next: edit policies/policy.yaml, run "
            "`jitops policy test`, then follow docs/setup.md (GitHub App, ruleset, "
            f"environment {options.environment!r}, `{setup}`, `jitops doctor`)."
        )
    else:
        click.echo(f"{directory} is already set up: nothing to write")
    return EXIT_OK


def _vault_setup_args(options: InitOptions) -> str:
    args = ""
    if options.environment != DEFAULT_ENVIRONMENT:
        args += f" --environment {options.environment}"
    if "self-hosted" in options.runs_on:
        args += " --runner-environment self-hosted"
    return args


def _report(actions: list[FileAction], dry_run: bool) -> int:
    verb = {
        Change.CREATE: "would create" if dry_run else "created",
        Change.OVERWRITE: "would overwrite" if dry_run else "overwrote",
        Change.SAME: "unchanged",
        Change.CONFLICT: "changed by hand",
    }
    for action in actions:
        click.echo(f"{verb[action.change]:>15}  {action.path}")
    return sum(a.change in (Change.CREATE, Change.OVERWRITE) for a in actions)


def _upgrade(
    directory: Path,
    given: Callable[[InitOptions | None], InitOptions],
    *,
    force: bool,
    dry_run: bool,
) -> int:
    from jitops.setup.upgrade import apply_upgrade, plan_upgrade, read_record

    record = read_record(directory)
    if record is None:
        raise UsageError(
            f"{directory / RECORD} does not exist: --upgrade needs the record `jitops init` "
            "writes; run `jitops init` with your options (and --force to replace its files)"
        )
    options = given(record.options)
    files = plan_upgrade(options)
    actions = apply_upgrade(directory, files, record.rendered, force=force, dry_run=dry_run)
    written = _report(actions, dry_run)
    pin = f"{options.action_repo}@{options.action_ref}"
    if dry_run:
        click.echo(f"dry run: {written} file(s) would be written in {directory} (pin {pin})")
    elif written:
        click.echo(
            f"{written} file(s) written in {directory}: the workflows pin {pin}. Review the "
            "diff and merge it like any admin change."
        )
    else:
        click.echo(f"{directory} is up to date (pin {pin}): nothing to write")
    if options.jwt_mount != record.options.jwt_mount:
        click.echo(
            f"note: set settings.vault.jwt_mount: {options.jwt_mount} in policies/policy.yaml "
            "(an upgrade does not edit the policy)"
        )
    return EXIT_OK


COMMANDS: list[click.Command] = [init_cmd]
