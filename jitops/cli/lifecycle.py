"""`jitops issue`, `jitops sweep`, `jitops revoke`, `jitops claim`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from jitops.cli.validate import repo_option, resolve_repo
from jitops.errors import EXIT_OK, EXIT_REJECTED, UsageError
from jitops.grant import parse_time
from jitops.inert import code_span
from jitops.ledger import Git
from jitops.lifecycle.issue import Outcome

FC = Callable[..., Any]


def github_options(f: FC) -> FC:
    f = click.option(
        "--repo-name",
        envvar="GITHUB_REPOSITORY",
        metavar="OWNER/REPO",
        help="The access repository on GitHub [env: GITHUB_REPOSITORY].",
    )(f)
    f = click.option(
        "--api-url",
        envvar="GITHUB_API_URL",
        default="https://api.github.com",
        show_default=True,
        help="GitHub API URL [env: GITHUB_API_URL].",
    )(f)
    return click.option(
        "--token",
        envvar=["JITOPS_GITHUB_TOKEN", "GITHUB_TOKEN"],
        metavar="TOKEN",
        help="GitHub token [env: JITOPS_GITHUB_TOKEN, GITHUB_TOKEN].",
    )(f)


def ledger_options(f: FC) -> FC:
    f = click.option(
        "--remote", default="origin", show_default=True, help="Git remote to push to."
    )(f)
    f = click.option(
        "--branch", default="main", show_default=True, help="The protected branch holding grants."
    )(f)
    return click.option(
        "--vault-addr",
        envvar="VAULT_ADDR",
        metavar="URL",
        help="Vault address [env: VAULT_ADDR]; login via GitHub OIDC, AppRole "
        "(VAULT_ROLE_ID/VAULT_SECRET_ID) or VAULT_TOKEN.",
    )(f)


def format_option(f: FC) -> FC:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "github", "json"]),
        default=None,
        help="Output: text, github (step summary) or json [default: github inside Actions].",
    )(f)


def _services(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    vault_addr: str | None,
    remote: str,
    branch: str,
) -> Any:
    from jitops.github import GitHub
    from jitops.lifecycle.services import Services
    from jitops.vault import Vault

    if not repo_name:
        raise UsageError("--repo-name OWNER/REPO is required (or GITHUB_REPOSITORY)")
    if not token:
        raise UsageError("a GitHub token is required: --token, JITOPS_GITHUB_TOKEN or GITHUB_TOKEN")
    environ = dict(os.environ)

    def connect(policy: Any) -> Vault:
        if not vault_addr:
            raise UsageError("the Vault address is required: --vault-addr or VAULT_ADDR")
        return Vault.connect(vault_addr, policy.settings.vault, environ)

    return Services(
        git=Git(resolve_repo(repo)),
        github=GitHub(repo_name, token, api_url, bot_login=environ.get("JITOPS_BOT_LOGIN") or None),
        connect_vault=connect,
        environ=environ,
        remote=remote,
        branch=branch,
        repository=repo_name,
        say=lambda msg: click.echo(msg, err=True),
    )


def _report(title: str, outcomes: Sequence[Outcome], fmt: str | None) -> int:
    fmt = fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    failed = [o for o in outcomes if o.action in ("failed", "flagged")]
    if fmt == "json":
        click.echo(json.dumps([o.__dict__ for o in outcomes], indent=2))
    else:
        for o in outcomes:
            pr = f" (#{o.pull_request})" if o.pull_request else ""
            click.echo(f"{o.grant}{pr}: {o.action} — {o.detail}")
        if not outcomes:
            click.echo(f"{title}: nothing to do")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if fmt == "github" and summary:
            # ids and details can quote requester-written text (a role name from the file):
            # code spans, so no link, mention or HTML in it renders
            rows = "\n".join(
                f"| {code_span(o.grant, in_table=True)} | {o.pull_request or ''} | {o.action} | "
                f"{code_span(o.detail, in_table=True, limit=None)} |"
                for o in outcomes
            )
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(
                    f"### jitops {title}\n\n"
                    + (
                        "| grant | PR | action | detail |\n| --- | --- | --- | --- |\n" + rows
                        if outcomes
                        else "nothing to do"
                    )
                    + "\n\n"
                )
    return EXIT_REJECTED if failed else EXIT_OK


def _push_range(before: str | None, after: str | None) -> tuple[str | None, str | None]:
    """The pushed range (for early revokes); every unissued grant at the tip is handled
    whatever the range, so a run without one (schedule, dispatch) loses nothing."""
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if after is None and event_path and Path(event_path).is_file():
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        if isinstance(event, dict):
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
    from jitops.duration import DurationError, parse_duration

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
@repo_option
@github_options
@ledger_options
@format_option
@click.option("--before", metavar="SHA", help="Start of the pushed range [event: before].")
@click.option("--after", metavar="SHA", help="End of the pushed range [event: after].")
@give_up_option
def issue_cmd(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    vault_addr: str | None,
    remote: str,
    branch: str,
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

    svc = _services(repo, repo_name, api_url, token, vault_addr, remote, branch)
    svc = dataclasses.replace(svc, give_up_after=_give_up(give_up_after))
    before, after = _push_range(before, after)
    return _report("issue", run_issue(svc, before=before, after=after), fmt)


@click.command("sweep")
@repo_option
@github_options
@ledger_options
@format_option
@click.option("--now", "now_text", metavar="TIME", help="Pretend it is this time (RFC 3339).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
@give_up_option
def sweep_cmd(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    vault_addr: str | None,
    remote: str,
    branch: str,
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

    svc = _services(repo, repo_name, api_url, token, vault_addr, remote, branch)
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
    help="Who asks for the revoke, recorded as the Jitops-Actor trailer [env: GITHUB_ACTOR; "
    "default: the owner of the GitHub token].",
)
@repo_option
@github_options
@ledger_options
@format_option
def revoke_cmd(
    grant_id: str,
    reason: str,
    actor: str | None,
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    vault_addr: str | None,
    remote: str,
    branch: str,
    fmt: str | None,
) -> int:
    """Break-glass: end grant ID now (revoke its token, remove its file)."""
    from jitops.lifecycle.sweep import run_revoke

    svc = _services(repo, repo_name, api_url, token, vault_addr, remote, branch)
    who = actor or svc.github.whoami()
    return _report("revoke", [run_revoke(svc, grant_id, reason, actor=who)], fmt)


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
    help="SSH private key to open the delivery with [default: ~/.ssh/id_ed25519, then id_rsa].",
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
    from_file: Path | None,
    pull_request: int | None,
    bot: str | None,
    vault_addr: str | None,
    fmt: str,
) -> int:
    """Open your sealed delivery for grant ID and unwrap it (once) in Vault.

    The delivery can be opened only with a private key matching an SSH key on your GitHub
    account, and unwrapped only once: if it was already unwrapped, someone else got there
    first — have it revoked (`jitops revoke ID --reason ...`) and ask again.
    """
    from jitops import deliver
    from jitops.lifecycle import claim
    from jitops.vault import Vault

    root = resolve_repo(repo)  # its policy may pin Vault's address
    if from_file is not None:
        armored = from_file.read_text(encoding="utf-8")
    else:
        from jitops.github import GitHub

        if not repo_name or not token:
            raise UsageError(
                "to fetch the delivery from the pull request give --repo-name and --token "
                "(or GITHUB_REPOSITORY and GITHUB_TOKEN), or save it and use --from FILE"
            )
        trusted = claim.delivery_bot(bot, root)
        gh = GitHub(repo_name, token, api_url)
        armored = claim.find_delivery(
            grant_id=grant_id,
            repo=root,
            comments_of=lambda n: [(c.author, c.body) for c in gh.comments(n)],
            bot=trusted,
            pull_request=pull_request,
        )
    keys = list(identities) or deliver.default_identities(Path.home())
    payload = deliver.unseal_first(armored, keys, grant_id=grant_id)
    addr = claim.unwrap_address(payload.vault_addr, vault_addr, root)
    click.echo(f"unwrapping at {addr}", err=True)
    vault = Vault(addr, namespace=payload.vault_namespace)
    try:
        unwrapped = vault.unwrap(payload.wrapping_token)
    finally:
        vault.close()
    click.echo(claim.render(grant_id, unwrapped, fmt, datetime.now(UTC)))
    return EXIT_OK


COMMANDS: list[click.Command] = [issue_cmd, claim_cmd, sweep_cmd, revoke_cmd]
