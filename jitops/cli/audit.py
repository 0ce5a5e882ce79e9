"""`jitops audit` and `jitops audit verify`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jitops.cli.options import Target, format_option, repo_option, resolve_repo, target_options
from jitops.cli.output import write_output
from jitops.core.duration import DurationError, parse_duration
from jitops.core.grant import parse_time
from jitops.core.inert import one_line
from jitops.doors.git import Git
from jitops.errors import EXIT_OK, EXIT_REJECTED, UsageError
from jitops.lifecycle.audit import load_history, note_static_secrets, verify_ledger

if TYPE_CHECKING:
    pass


def _time(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A ``--since``/``--until`` value: a time, or a date meaning the start of that day (UTC),
    or for ``--until`` (``end_of_day``) its last microsecond, so the whole day is included;
    or a duration back from now (``90d``, ``12h``), for scheduled exports."""
    if value is None:
        return None
    if value[:1].isdigit() and value[-1:] in ("m", "h", "d", "w") and "-" not in value:
        try:
            return datetime.now(UTC) - parse_duration(value)
        except DurationError as exc:
            raise UsageError(f"{name} {value!r}: {exc}") from None
    full = value if "T" in value else value + ("T23:59:59.999999Z" if end_of_day else "T00:00:00Z")
    try:
        return parse_time(full)
    except ValueError:
        raise UsageError(
            f"{name} {value!r} is not a date like 2026-11-23 or 2026-11-23T10:00:00Z"
        ) from None


def _require(git: Git, ref: str) -> None:
    if git.rev_parse(ref) is None:
        raise UsageError(
            f"--ref {ref}: no such commit here; run it in a clone of the access repository"
        )


@click.group("audit", invoke_without_command=True)
@repo_option
@click.option(
    "--ref", default="HEAD", show_default=True, help="The history to read (e.g. origin/main)."
)
@click.option(
    "--since",
    metavar="DATE",
    help="Only grants issued (or requested) on or after DATE (UTC; a date: from its start; "
    "or a duration back from now, e.g. 90d). With jsonl/ocsf: only events on or after DATE "
    "(incremental export).",
)
@click.option(
    "--until",
    metavar="DATE",
    help="Only grants issued (or requested) on or before DATE (UTC; a date: to its end).",
)
@click.option("--requester", metavar="LOGIN", help="Only this requester.")
@click.option("--role", metavar="ROLE", help="Only this role.")
@click.option("--active", is_flag=True, help="Who has access right now, with the time left.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html", "markdown", "jsonl", "ocsf"]),
    default="table",
    show_default=True,
    help="table for people, csv for spreadsheets, json, a self-contained html report, a short "
    "markdown summary (for a job summary), or events for a SIEM: jsonl (one event per line, "
    "`jitops schema audit-event`) or ocsf (OCSF User Access Management events, one per line).",
)
@click.option(
    "--summary",
    "summary_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the short markdown summary (what --format markdown prints: ids, logins, "
    "roles, times) to FILE, from the same records (e.g. for a job summary).",
)
@click.option(
    "--web-url",
    metavar="URL",
    help="The repository's web address, for links in the html report and events (default: "
    "from GITHUB_SERVER_URL and GITHUB_REPOSITORY, else the origin remote).",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@click.option(
    "--vault-audit-log",
    "vault_logs",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --format html: add a usage section from this Vault/OpenBao file audit log "
    "(repeat for rotated files; gzip is read as is). See `jitops audit usage`.",
)
@click.pass_context
def audit_group(
    ctx: click.Context,
    repo: Path | None,
    ref: str,
    since: str | None,
    until: str | None,
    requester: str | None,
    role: str | None,
    active: bool,
    fmt: str,
    output: Path | None,
    summary_file: Path | None,
    web_url: str | None,
    vault_logs: tuple[Path, ...],
) -> int | None:
    """Every grant's record — who had what, approved by whom, why, for how long — from git alone.

    Reads the Jitops-* commit trailers, the grant files as they were added and the commit
    dates: one streaming git log pass and one batched object read; then, for the issued
    grants shown, the policy that judged each issue (a role whose secret has no lease is
    marked: revoking the grant does not end that secret, rotate it).
    """
    ctx.ensure_object(dict)
    ctx.obj["repo"] = repo
    ctx.obj["ref"] = ref
    if ctx.invoked_subcommand is not None:
        return None
    from jitops.audit import history as audit
    from jitops.audit import render as audit_render

    git = Git(resolve_repo(repo))
    _require(git, ref)
    now = datetime.now(UTC)
    if vault_logs and fmt != "html":
        raise UsageError(
            "--vault-audit-log adds a section to --format html; for usage alone run "
            "`jitops audit usage --vault-audit-log FILE`"
        )
    history = load_history(git, ref)
    start, end = _time(since, "--since"), _time(until, "--until", end_of_day=True)
    stream = fmt in ("jsonl", "ocsf")  # --since/--until bound the events, not the grants
    records = audit.select(
        history.records.values(),
        since=None if stream else start,
        until=None if stream else end,
        requester=requester,
        role=role,
        active=active,
    )
    # a static secret outlives its grant: every output says so (the policy that judged each
    # issue, read only for the issued records shown)
    note_static_secrets(git, records)
    count = f"{len(records)} records"
    if fmt in ("html", "jsonl", "ocsf"):
        import os

        from jitops.audit.report import web_url as find_web_url
        from jitops.lifecycle.audit import request_times

        web = find_web_url(git.remote_url(), os.environ, web_url)
        if web_url and web is None:
            raise UsageError(
                f"--web-url {web_url!r} is not an http(s) address like "
                "https://github.com/acme/access"
            )
        times = request_times(git, records)
    if fmt == "html":
        from jitops.audit.html import to_html

        section = ""
        if vault_logs:
            from jitops.audit import usage as audit_usage
            from jitops.lifecycle.usage import usage_report

            report = usage_report(git, ref, vault_logs, since=start, now=now)
            section = "<section>" + audit_usage.to_html_section(report) + "</section>"
        text = to_html(records, now, web=web, request_times=times, extra_section=section)
    elif stream:
        from jitops import __version__
        from jitops.audit import events as audit_events

        evs = audit_events.events(records, request_times=times, since=start, until=end)
        count = f"{len(evs)} events"
        text = (
            audit_events.to_jsonl(evs, web)
            if fmt == "jsonl"
            else audit_events.to_ocsf_lines(evs, web, __version__)
        )
    elif fmt == "markdown":
        from jitops.audit.report import to_markdown

        text = to_markdown(records, now)
    else:
        text = {
            "json": lambda: audit_render.to_json(records),
            "csv": lambda: audit_render.to_csv(records),
            "table": lambda: audit_render.to_table(records, now, active=active),
        }[fmt]()
    if summary_file is not None:
        from jitops.audit.report import to_markdown

        write_output(summary_file, to_markdown(records, now))
    if output is not None:
        write_output(output, text)
        click.echo(f"wrote {count} to {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    return EXIT_OK


@audit_group.command("verify")
@click.option(
    "--tolerance",
    default="30m",
    show_default=True,
    help="How long past expires_at a grant may stay in git (one sweep interval and then some).",
)
@click.option(
    "--allowed-signers",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="SSH allowed signers file (git's gpg.ssh.allowedSignersFile format): every jitops "
    "commit must carry a good signature by one of its keys.",
)
@repo_option
@click.option("--ref", default=None, help="The history to read (default: HEAD, or audit's --ref).")
@click.pass_context
def verify_cmd(
    ctx: click.Context,
    tolerance: str,
    allowed_signers: Path | None,
    repo: Path | None,
    ref: str | None,
) -> int:
    """Check the ledger's invariants; exit 1 with one line per violation.

    Every issue has a merged pull request and approvers (unless the role needed none); no grant
    id reused; every active grant has an expiry and none stayed in git past it plus the
    tolerance; status blocks and trailers agree; every commit touching grants/ is a pull request
    merge or jitops' own; Jitops-* trailers appear only on jitops' own commits, each of which
    changes exactly what its action says (and, with --allowed-signers, is signed).
    """
    try:
        tol = parse_duration(tolerance)
    except DurationError as exc:
        raise UsageError(f"--tolerance: {exc}") from None
    git = Git(resolve_repo(repo or ctx.obj["repo"]))
    ref = ref or ctx.obj["ref"]
    _require(git, ref)
    history, problems, signatures = verify_ledger(
        git, ref, now=datetime.now(UTC), tolerance=tol, allowed_signers=allowed_signers
    )
    for line in problems:
        click.echo(one_line(line))
    n, v = len(history.records), len(problems)
    signed = f"; {len(history.own)} jitops commits signed" if signatures is not None else ""
    click.echo(
        f"{n} grant{'' if n == 1 else 's'} checked: "
        + (
            f"{v} violation{'' if v == 1 else 's'}"
            if problems
            else f"the ledger is consistent{signed}"
        )
    )
    return EXIT_REJECTED if problems else EXIT_OK


@audit_group.command("close")
@click.argument("grant_id", metavar="ID")
@click.option("--reason", required=True, help="Why the unratified access is understood; recorded.")
@click.option(
    "--actor",
    envvar="GITHUB_ACTOR",
    metavar="LOGIN",
    help="The admin closing it (settings.admins; never the grant's requester); recorded as "
    "Jitops-Actor [env: GITHUB_ACTOR; default: the owner of the GitHub token].",
)
@target_options
@format_option
def close_cmd(
    grant_id: str, reason: str, actor: str | None, target: Target, fmt: str | None
) -> int:
    """Close the finding of unratified emergency grant ID with a recorded reason.

    Records a `close` commit (Jitops-Actor, Jitops-Reason) on the protected branch; `audit
    verify` stops reporting the grant, `audit` keeps showing it as never ratified.
    """
    from jitops.cli.lifecycle import _report, _services
    from jitops.lifecycle.ratify import CloseError, run_close

    svc = _services(target)
    who = actor or svc.github.whoami()
    try:
        outcome = run_close(svc, grant_id, reason, actor=who, now=datetime.now(UTC))
    except CloseError as exc:
        click.echo(f"jitops audit close: {exc}", err=True)
        return EXIT_REJECTED
    return _report("audit close", [outcome], fmt)


@audit_group.command("usage")
@click.option(
    "--vault-audit-log",
    "vault_logs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A Vault/OpenBao file audit device's log (JSON lines); repeat it for rotated files. "
    "gzip files are read as they are.",
)
@click.option(
    "--since",
    metavar="DATE",
    help="Only requests on or after DATE, and grants whose window reaches it (UTC).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@repo_option
@click.option("--ref", default=None, help="The history to read (default: HEAD, or audit's --ref).")
@click.pass_context
def usage_cmd(
    ctx: click.Context,
    vault_logs: tuple[Path, ...],
    since: str | None,
    fmt: str,
    output: Path | None,
    repo: Path | None,
    ref: str | None,
) -> int:
    """Which grants were used: per grant, first and last request, request count, paths,
    time used against time granted, and the grants never used.

    Requests are attributed through the metadata jitops puts on every grant token
    (jitops_grant), which the audit device writes as it is; HMAC'd values (tokens, accessors)
    stay HMAC'd and nothing secret is printed. Grants come from git (run it in a clone of the
    access repository).
    """
    from jitops.audit import usage as audit_usage
    from jitops.lifecycle.usage import usage_report

    git = Git(resolve_repo(repo or ctx.obj["repo"]))
    ref = ref or ctx.obj["ref"]
    _require(git, ref)
    now = datetime.now(UTC)
    report = usage_report(git, ref, vault_logs, since=_time(since, "--since"), now=now)
    if fmt == "html":
        from html import escape

        text = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>jitops usage</title><style>body{font:14px system-ui,sans-serif;margin:2em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 5px}"
            f"</style></head><body><h1>jitops usage</h1><p>Generated {escape(str(now))}.</p>"
            + audit_usage.to_html_section(report)
            + "</body></html>\n"
        )
    else:
        text = {
            "text": audit_usage.to_text,
            "json": audit_usage.to_json,
            "csv": audit_usage.to_csv,
        }[fmt](report)
    if output is not None:
        write_output(output, text)
        click.echo(f"wrote usage of {len(report.grants)} grants to {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    return EXIT_OK


COMMANDS: list[click.Command] = [audit_group]
