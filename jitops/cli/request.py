"""`jitops request`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from jitops.cli.options import github_options, repo_option, resolve_repo
from jitops.doors.git import Git
from jitops.errors import EXIT_OK, UsageError


def _ask(value: str | None, name: str, text: str) -> str | None:
    if value:
        return value
    if sys.stdin.isatty():
        answer: str = click.prompt(text, default="", show_default=False)
        return answer or None
    return None


@click.command("request")
@click.argument("role", required=False)
@click.option("--duration", help="How long: 45m, 2h, 1h30m, 1d (at most the role's maximum).")
@click.option("--reason", help="Why you need access (10 to 500 characters).")
@click.option("--ticket", help="Ticket or incident id (required by some roles).")
@click.option("--requester", help="Your GitHub login [default: the token's owner].")
@click.option(
    "--recipient",
    metavar="AGE1...",
    help="Seal the credential to this age recipient instead of your GitHub SSH keys (for "
    "keys in an agent or on hardware: age-keygen, age-plugin-yubikey...). Reviewers see it.",
)
@click.option(
    "--not-before",
    metavar="TIME",
    help="Scheduled access: issue no earlier than TIME (RFC 3339, e.g. 2026-12-08T22:00:00Z).",
)
@click.option("--extends", metavar="GRANT", help="Extend your active grant GRANT (same role).")
@click.option(
    "--emergency",
    is_flag=True,
    help="Break-glass: issued on merge without prior review (roles with break_glass, on-call "
    "requesters only); must be ratified afterwards.",
)
@click.option("--no-pr", is_flag=True, help="Stop after the commit on a local branch.")
@click.option("--base", default="main", show_default=True, help="The branch grants live on.")
@repo_option
@github_options
def request_cmd(
    role: str | None,
    duration: str | None,
    reason: str | None,
    ticket: str | None,
    requester: str | None,
    recipient: str | None,
    not_before: str | None,
    extends: str | None,
    emergency: bool,
    no_pr: bool,
    base: str,
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
) -> int:
    """Ask for ROLE: write grants/<id>.yaml, validate it, commit it on a branch, open the PR.

    Missing options are asked for on a terminal. The file is checked against the policy of
    the base branch first, and your GitHub account must have an ed25519 or RSA SSH key the
    credential can be sealed to (or give --recipient); nothing is written or pushed otherwise.
    The repository comes from the git remote and the token from the GitHub CLI (`gh auth
    login`) when neither option nor environment names them. You stay on the request branch;
    `jitops claim ID` works there once the pull request is merged and issued.
    """
    from jitops.lifecycle.request import run_request

    role = _ask(role, "role", "Role")
    duration = _ask(duration, "duration", "Duration (e.g. 2h)")
    reason = _ask(reason, "reason", "Reason")
    missing = [
        n for n, v in (("ROLE", role), ("--duration", duration), ("--reason", reason)) if not v
    ]
    if missing or not (role and duration and reason):
        raise UsageError(
            f"missing {', '.join(missing)}; pass them (or run on a terminal to be asked)"
        )
    gh = None
    root = resolve_repo(repo)
    if not no_pr or not requester:
        from jitops.cli.options import laptop_github
        from jitops.doors.github import GitHub

        found = laptop_github(root, repo_name, api_url, token)
        if not found.repo_name or not found.token:
            raise UsageError(
                "to open the pull request (or to learn your login) jitops needs the GitHub "
                "repository and a token: run it in a clone of the access repository (its "
                "remote names the repository) signed in with the GitHub CLI (`gh auth login`), "
                "or give --repo-name and --token (GITHUB_REPOSITORY and GITHUB_TOKEN); or use "
                "--no-pr --requester LOGIN"
            )
        for what in found.found:
            click.echo(f"jitops: using the {what}", err=True)
        gh = GitHub(found.repo_name, found.token, found.api_url)
        requester = requester or gh.whoami()
    plan, number = run_request(
        Git(root),
        gh,
        role=role,
        duration=duration,
        reason=reason,
        ticket=ticket,
        requester=requester,
        today=datetime.now(UTC),
        base=base,
        open_pr=not no_pr,
        recipient=recipient,
        not_before=not_before,
        extends=extends,
        emergency=emergency,
    )
    click.echo(f"wrote {plan.path} on branch {plan.branch}")
    if number is not None:
        click.echo(f"opened pull request #{number}: {plan.title}")
        click.echo(
            f"once it is merged and issued: jitops claim {plan.grant_id} (works on this branch)"
        )
    else:
        click.echo(f"push it and open a pull request: git push origin {plan.branch}")
    return EXIT_OK


COMMANDS: list[click.Command] = [request_cmd]
