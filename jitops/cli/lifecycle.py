"""`jitops issue`, `jitops sweep`, `jitops revoke`, `jitops claim`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from jitops.cli.emit import Outcomes, emit, github_event
from jitops.cli.options import (
    FC,
    Target,
    format_option,
    github_options,
    repo_option,
    resolve_repo,
    target_options,
)
from jitops.core.grant import parse_time
from jitops.errors import EXIT_OK, EXIT_REJECTED, UsageError
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.services import Services, open_services


def _services(target: Target) -> Services:
    return open_services(
        resolve_repo(target.repo),
        repo_name=target.repo_name,
        api_url=target.api_url,
        token=target.token,
        vault_addr=target.vault_addr,
        remote=target.remote,
        branch=target.branch,
        environ=os.environ,
        say=lambda msg: click.echo(msg, err=True),
    )


def _report(title: str, outcomes: Sequence[Outcome], fmt: str | None) -> int:
    emit(Outcomes(title, outcomes), fmt)
    return EXIT_REJECTED if any(o.action.needs_attention for o in outcomes) else EXIT_OK


def _push_range(before: str | None, after: str | None) -> tuple[str | None, str | None]:
    """The pushed range (for early revokes); every unissued grant at the tip is handled
    whatever the range, so a run without one (schedule, dispatch) loses nothing."""
    if after is None and (event := github_event()):
        before = before or event.get("before")
        after = event.get("after")
    return before, after


def give_up_option(f: FC) -> FC:
    return click.option(
        "--give-up-after",
        envvar="JITOPS_GIVE_UP_AFTER",
        default="24h",
        show_default=True,
        metavar="DURATION",
        help="How long a grant whose pull request cannot be determined stays failed (retried "
        "by every run) before it is denied [env: JITOPS_GIVE_UP_AFTER].",
    )(f)


def _give_up(value: str) -> Any:
    from jitops.core.duration import DurationError, parse_duration

    if value.strip() in ("0", "0s", "0m", "0h"):
        return timedelta(0)  # deny at once what cannot be decided
    try:
        return parse_duration(value)
    except DurationError:
        raise UsageError(f"--give-up-after {value!r} is not a duration like 24h") from None


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        return parse_time(value)
    except ValueError:
        raise UsageError(f"--now {value!r} is not a time like 2026-11-23T12:00:00Z") from None


@click.command("issue")
@target_options
@format_option
@click.option("--before", metavar="SHA", help="Start of the pushed range [event: before].")
@click.option("--after", metavar="SHA", help="End of the pushed range [event: after].")
@give_up_option
def issue_cmd(
    target: Target,
    fmt: str | None,
    before: str | None,
    after: str | None,
    give_up_after: str,
) -> int:
    """Issue access for grants merged to main (runs on push to main).

    For every grant on main that jitops has not issued: apply the gate (the merged pull
    request, the policy main had before it landed, its file set, what was reviewed, the
    approvals), create an orphan Vault token whose TTL is the grant's duration, record its
    accessor in git, and only then deliver the credential sealed to the requester's SSH keys in
    the pull request. A grant the gate refuses is denied (file removed, reason in the commit
    and the pull request); one it cannot decide yet is left `failed` and retried. Safe to
    re-run.
    """
    import dataclasses

    from jitops.lifecycle.issue import run_issue

    svc = _services(target)
    svc = dataclasses.replace(svc, give_up_after=_give_up(give_up_after))
    before, after = _push_range(before, after)
    return _report("issue", run_issue(svc, before=before, after=after), fmt)


@click.command("sweep")
@target_options
@format_option
@click.option("--now", "now_text", metavar="TIME", help="Pretend it is this time (RFC 3339).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
@give_up_option
def sweep_cmd(
    target: Target,
    fmt: str | None,
    now_text: str | None,
    dry_run: bool,
    give_up_after: str,
) -> int:
    """Revoke expired grants and remove their files (runs on a schedule).

    Also finishes grants merged but not yet issued. It revokes only tokens git records (it never
    lists Vault's tokens). All commits of a run go out in one push.
    """
    import dataclasses

    from jitops.lifecycle.sweep import run_sweep

    svc = _services(target)
    svc = dataclasses.replace(svc, give_up_after=_give_up(give_up_after))
    outcomes = run_sweep(svc, now=_now(now_text), dry_run=dry_run)
    return _report("sweep", outcomes, fmt)


@click.command("revoke")
@click.argument("grant_id", metavar="ID")
@click.option("--reason", required=True, help="Why; recorded in git and the pull request.")
@click.option(
    "--actor",
    envvar="GITHUB_ACTOR",
    metavar="LOGIN",
    help="Who asks for the revoke: the grant's requester or one of the admins "
    "(settings.admins); recorded as the Jitops-Actor trailer [env: GITHUB_ACTOR, the user who "
    "dispatched the workflow; default: the owner of the GitHub token].",
)
@target_options
@format_option
def revoke_cmd(
    grant_id: str,
    reason: str,
    actor: str | None,
    target: Target,
    fmt: str | None,
) -> int:
    """Break-glass: end grant ID now (revoke its token, remove its file).

    Only the grant's requester or one of the admins the policy names (settings.admins, teams
    read through GitHub) may end it: anyone else is refused (exit 1) and nothing is revoked.
    In a workflow re-run by someone else (GITHUB_TRIGGERING_ACTOR), both must be allowed.
    """
    from jitops.lifecycle.revoke import run_revoke

    svc = _services(target)
    who = actor or svc.github.whoami()
    # GitHub sets GITHUB_ACTOR (who dispatched the run) and GITHUB_TRIGGERING_ACTOR (who
    # started this attempt: a re-run keeps the first's actor); a workflow cannot overwrite them
    # (docs.github.com/en/actions/reference/workflows-and-actions/variables, and anyone with
    # write access can dispatch: .../how-tos/manage-workflow-runs/manually-run-a-workflow)
    rerun = (
        os.environ.get("GITHUB_TRIGGERING_ACTOR", "") if os.environ.get("GITHUB_ACTIONS") else ""
    )
    also = (rerun,) if rerun and rerun.lower() != who.lower() else ()
    return _report("revoke", [run_revoke(svc, grant_id, reason, actor=who, also=also)], fmt)


@click.command("claim")
@click.argument("grant_id", metavar="ID")
@repo_option
@github_options
@click.option(
    "--identity",
    "-i",
    "identities",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="SSH private key (ed25519 or RSA, with or without a passphrase) or age identity file "
    "(AGE-SECRET-KEY-1..., or a plugin's AGE-PLUGIN-...) to open the delivery with "
    "[default: ~/.ssh/id_ed25519, then id_rsa].",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the key's passphrase from this file (its first line), for scripts; on a "
    "terminal you are asked for it. The key is decrypted in memory only.",
)
@click.option(
    "--branch",
    default="main",
    show_default=True,
    help="The branch grants live on: the grant's status is read there on GitHub.",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the sealed delivery from this file instead of the pull request.",
)
@click.option("--pr", "pull_request", type=int, help="Pull request holding the delivery.")
@click.option(
    "--bot",
    envvar="JITOPS_BOT_LOGIN",
    metavar="LOGIN",
    help="Login of the GitHub App bot jitops comments as; deliveries from anyone else are "
    "ignored [env: JITOPS_BOT_LOGIN; default: settings.bot of the checkout's policies/; "
    "github-actions[bot] is refused].",
)
@click.option(
    "--vault-addr",
    envvar="VAULT_ADDR",
    metavar="URL",
    help="Vault address to unwrap at [default: the one sealed in the delivery].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "env", "json"]),
    default="text",
    show_default=True,
    help="text for people, env for `eval $(jitops claim ...)`, json for programs.",
)
def claim_cmd(
    grant_id: str,
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    identities: tuple[Path, ...],
    passphrase_file: Path | None,
    branch: str,
    from_file: Path | None,
    pull_request: int | None,
    bot: str | None,
    vault_addr: str | None,
    fmt: str,
) -> int:
    """Open your sealed delivery for grant ID and unwrap it (once) in Vault.

    The delivery can be opened only with a private key matching an SSH key on your GitHub
    account, and unwrapped only once: if it was already unwrapped, someone else got there
    first — have it revoked (`jitops revoke ID --reason ...`) and ask again. Before
    unwrapping, claim asks Vault where the wrapping token came from and refuses one jitops did
    not make for this grant. The grant's status and the policy are read from main on GitHub,
    so claim works on any branch (right after `jitops request`, too); the repository comes
    from the git remote and the token from the GitHub CLI when not given.
    """
    from jitops.cli.options import laptop_github
    from jitops.doors.github import GitHub
    from jitops.lifecycle import claim

    root = resolve_repo(repo)
    found = laptop_github(root, repo_name, api_url, token)
    for what in found.found:
        click.echo(f"jitops: using the {what}", err=True)
    github = (
        GitHub(found.repo_name, found.token, found.api_url)
        if found.repo_name and found.token
        else None
    )
    unwrapped = claim.run_claim(
        grant_id,
        repo=root,
        armored=from_file.read_text(encoding="utf-8") if from_file is not None else None,
        github=github,
        ask=_passphrase_asker(passphrase_file),
        branch=branch,
        bot=bot,
        pull_request=pull_request,
        identities=identities,
        home=Path.home(),
        vault_addr=vault_addr,
        say=lambda msg: click.echo(msg, err=True),
    )
    shown, note = claim.show(grant_id, unwrapped, fmt, datetime.now(UTC))
    click.echo(shown)
    if note is not None:  # fields --format env cannot export: on the terminal, never eval'd
        click.echo(note, err=True)
        return EXIT_REJECTED
    return EXIT_OK


def _passphrase_asker(path: Path | None) -> Any:
    """How claim gets a passphrase (or a plugin's PIN): the first line of ``--passphrase-file``,
    else a prompt on the terminal without echo, else none (the error says what to do)."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        return lambda _prompt: first
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None

    def ask(prompt: str) -> str:
        return str(click.prompt(prompt, hide_input=True, default="", show_default=False, err=True))

    return ask


COMMANDS: list[click.Command] = [issue_cmd, claim_cmd, sweep_cmd, revoke_cmd]
