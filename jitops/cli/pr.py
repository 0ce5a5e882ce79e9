"""`jitops pr check`, `jitops pr approvals`, `jitops policy test` and `jitops policy diff`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from jitops.cli import render
from jitops.cli.emit import emit, github_event
from jitops.cli.options import format_option, github_options, repo_option, resolve_repo
from jitops.doors.git import Git
from jitops.errors import EXIT_OK, EXIT_REJECTED, UsageError


def _pr_number(pr: int | None, event: Mapping[str, Any]) -> int:
    if pr is not None:
        return pr
    pull = event.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    if isinstance(number, int):
        return number
    raise UsageError("give the pull request with --pr N (or run on a pull_request event)")


def _merge_group_sha(event: Mapping[str, Any]) -> str | None:
    """The commit a ``merge_group`` event asks checks for (None on any other event)."""
    group = event.get("merge_group")
    sha = group.get("head_sha") if isinstance(group, dict) else None
    return sha if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{40}", sha) else None


@dataclass(frozen=True)
class _Decision:
    """A pull request decision as :func:`jitops.cli.emit.emit` renders it."""

    number: int
    decision: Any  # lifecycle.prcheck's result (imported lazily with it)
    marker: str

    def _lines(self, problems: Sequence[str]) -> str:
        d = self.decision
        lines = [*problems]
        if d.evaluation is not None:
            lines.extend(f"  {line}" for line in d.evaluation.explain())
        lines.append(f"#{self.number}: {d.summary}")
        return "\n".join(lines)

    def text(self) -> str:
        return self._lines([str(p) for p in self.decision.problems])

    def github(self) -> tuple[str, str | None]:
        problems = self.decision.problems
        annotations = [render.github_annotations(problems)] if problems else []
        summary = self.decision.comment.replace(self.marker, "") + "\n"
        return self._lines(annotations), summary

    def json(self) -> str:
        d = self.decision
        return json.dumps(
            {
                "pull_request": self.number,
                "kind": d.kind,
                "validate": d.validate,
                "approval": d.approval,
                "summary": d.summary,
                "problems": [str(p) for p in d.problems],
                "explanation": d.evaluation.explain() if d.evaluation else [],
            },
            indent=2,
        )


def _run(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    pr: int | None,
    fmt: str | None,
    *,
    request_reviews: bool,
) -> int:
    from jitops.doors.github import GitHub
    from jitops.lifecycle import prcheck

    if not repo_name or not token:
        raise UsageError(
            "--repo-name and --token are required (or GITHUB_REPOSITORY, GITHUB_TOKEN)"
        )
    event = github_event() if pr is None else {}
    group_sha = _merge_group_sha(event)
    if group_sha is not None:
        prcheck.pass_merge_group(GitHub(repo_name, token, api_url), group_sha)
        click.echo(f"merge group {group_sha[:12]}: {prcheck.MERGE_GROUP_SUMMARY}")
        return EXIT_OK
    number = _pr_number(pr, event)
    writer, members = prcheck.github_doors(repo_name, token, api_url, os.environ)
    decision = prcheck.run(
        Git(resolve_repo(repo)),
        writer,
        number,
        members=members,
        now=datetime.now(UTC),
        request_reviews=request_reviews,
        environ=dict(os.environ),
    )
    emit(_Decision(number, decision, prcheck.MARKER), fmt)
    return EXIT_OK if decision.validate == "success" else EXIT_REJECTED


@click.group("pr")
def pr_group() -> None:
    """Judge a pull request (run by the pull_request workflows)."""


@pr_group.command("check")
@repo_option
@github_options
@format_option
@click.option("--pr", type=int, help="Pull request number [event: pull_request.number].")
def check_cmd(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    fmt: str | None,
    pr: int | None,
) -> int:
    """Validate a pull request against the BASE branch's policy and ask the right reviewers.

    Enforces the pull request's shape (add one grant, or delete active ones; never mix
    policies/ and grants/), checks the grant, the requester (the PR author, eligible, with an
    SSH key jitops can seal to) and the approvals, keeps one sticky comment up to date and sets
    the jitops/validate and jitops/approval statuses. Exit 1 when the pull request is invalid.
    """
    return _run(repo, repo_name, api_url, token, pr, fmt, request_reviews=True)


@pr_group.command("approvals")
@repo_option
@github_options
@format_option
@click.option("--pr", type=int, help="Pull request number [event: pull_request.number].")
def approvals_cmd(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    fmt: str | None,
    pr: int | None,
) -> int:
    """Re-evaluate approvals after a review or a push; update jitops/approval and the comment."""
    return _run(repo, repo_name, api_url, token, pr, fmt, request_reviews=False)


@click.group("policy")
def policy_group() -> None:
    """Work with the policy in policies/."""


@policy_group.command("test")
@repo_option
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Judge with the *.yaml policy files of this directory, and run its tests/*.yaml "
    "[default: policies/ of the repository].",
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def policy_test_cmd(repo: Path | None, policies_dir: Path | None, files: tuple[Path, ...]) -> int:
    """Run the cases in policies/tests/*.yaml (or FILES) against the policy in policies/.

    Exit 0 when every case gets its expected outcome, 1 otherwise (each miss is printed with
    what was expected, what happened and why). No server is needed.
    """
    from jitops.lifecycle.validate import run_policy_tests

    result = run_policy_tests(resolve_repo(repo), policies_dir, files)
    for failure in result.failures:
        click.echo(str(failure))
    click.echo(f"{result.passed} passed, {len(result.failures)} failed")
    return EXIT_OK if result.ok else EXIT_REJECTED


@dataclass(frozen=True)
class _PolicyDiff:
    """`policy diff`'s result as :func:`jitops.cli.emit.emit` renders it."""

    result: Any  # lifecycle.whatif.PolicyDiff (imported lazily with it)

    def text(self) -> str:
        from jitops.core.inert import one_line

        r = self.result
        d = r.diff
        lines = []
        for c in d.changes:
            f = c.facts
            lines.append(
                one_line(
                    f"{f.grant_id} ({f.requester}, {f.role}; {f.state}): "
                    f"{_outcome(c.before)} -> {_outcome(c.after)} [{', '.join(c.kinds)}]"
                )
            )
            lines += [f"  {one_line(detail, 400)}" for detail in c.details]
        lines += [f"note: {one_line(gid, 80)} not judged: {why}" for gid, why in d.skipped]
        if not d.teams_verified:
            lines.append(
                "note: team membership not verified offline (give --token and --repo-name to "
                "read it from GitHub)"
            )
        lines.append(
            f"policy diff {r.base} -> {r.candidate}: {len(d.changes)} judged differently, of "
            f"{d.active} active grant(s) and {d.requests} request(s) since {_day(r.since)}"
        )
        return "\n".join(lines)

    def github(self) -> tuple[str, str | None]:
        from jitops.core.prcomment import whatif_section

        r = self.result
        summary = whatif_section(
            r.diff, r.since, limit=200, candidate=f"the candidate ({r.candidate})"
        )
        return self.text(), f"### jitops: policy diff against {r.base}\n\n{summary}"

    def json(self) -> str:
        r = self.result
        d = r.diff
        return json.dumps(
            {
                "base": r.base,
                "candidate": r.candidate,
                "since": _day(r.since),
                "active": d.active,
                "requests": d.requests,
                "teams_verified": d.teams_verified,
                "changes": [
                    {
                        "grant": c.facts.grant_id,
                        "requester": c.facts.requester,
                        "role": c.facts.role,
                        "state": c.facts.state,
                        "active": c.facts.active,
                        "pull_request": c.facts.pull_request,
                        "approved_by": list(c.facts.approved_by),
                        "before": _judgement(c.before),
                        "after": _judgement(c.after),
                        "kinds": list(c.kinds),
                        "details": list(c.details),
                    }
                    for c in d.changes
                ],
                "skipped": [{"grant": g, "why": why} for g, why in d.skipped],
            },
            indent=2,
        )


def _outcome(j: Any) -> str:
    return (
        " or ".join(j.possible) + " (not verified offline)"
        if j.outcome == "unverified"
        else str(j.outcome)
    )


def _judgement(j: Any) -> dict[str, Any]:
    return {
        "outcome": str(j.outcome),
        "possible": [str(o) for o in j.possible],
        "problems": [p.message for p in j.problems],
    }


def _day(when: datetime) -> str:
    from jitops.core.grant import format_time

    return format_time(when)


def _since(value: str, now: datetime) -> datetime:
    """``--since``: a duration back from now (``30d``, ``12h``) or a date/time (UTC)."""
    from jitops.core.duration import DurationError, parse_duration
    from jitops.core.grant import parse_time

    try:
        return now - parse_duration(value)
    except DurationError:
        pass
    full = value if "T" in value else value + "T00:00:00Z"
    try:
        return parse_time(full)
    except (ValueError, OverflowError):
        raise UsageError(
            f"--since {value!r} is neither a duration like 30d nor a date like 2026-11-01"
        ) from None


def _default_base(git: Git, environ: Mapping[str, str]) -> str:
    """The upstream main: the pull request's base branch inside a PR workflow, else origin/main
    (else main)."""
    # full ref names: a tag a writer called origin/main (or main) never stands in for the branch
    base = environ.get("GITHUB_BASE_REF")
    names = [f"refs/remotes/origin/{base}"] if base else []
    for name in [*names, "refs/remotes/origin/main", "refs/heads/main"]:
        if git.rev_parse(name) is not None:
            return name
    raise UsageError("no origin/main or main here: name the base policy's ref, e.g. origin/main")


@policy_group.command("diff")
@repo_option
@github_options
@format_option
@click.argument("base", required=False)
@click.option(
    "--candidate",
    metavar="REF",
    help="Judge by the policy of this ref [default: policies/ of the working tree].",
)
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="WHEN",
    help="Requests added since WHEN: a duration back from now (30d, 12h) or a date (UTC).",
)
def policy_diff_cmd(
    repo: Path | None,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    fmt: str | None,
    base: str | None,
    candidate: str | None,
    since: str,
) -> int:
    """List the grants a policy change would judge differently.

    Judges the active grants and the requests added since --since (whatever became of them:
    issued, denied, expired, ...), read from BASE's history, by the candidate policy (the
    working tree's policies/, or --candidate REF) and by BASE's policy [default: the pull
    request's base branch inside a PR workflow, else origin/main], and lists each grant whose
    outcome changes: approved -> pending, needs another approver group, now over the maximum
    duration, role removed, requester no longer eligible, ticket now required, and the
    loosenings. Approvals are the ones jitops recorded. Team membership is read from GitHub
    with --token and --repo-name, else not verified (said so). Exit 0 (it only reports).
    """
    from jitops.lifecycle.whatif import policy_diff

    root = resolve_repo(repo)
    now = datetime.now(UTC)
    teams = None
    if token and repo_name:
        from jitops.doors.github import GitHub

        teams = GitHub(repo_name, token, api_url).is_team_member
    result = policy_diff(
        root,
        base=base or _default_base(Git(root), os.environ),
        candidate=candidate,
        since=_since(since, now),
        teams=teams,
    )
    emit(_PolicyDiff(result), fmt)
    return EXIT_OK


COMMANDS: list[click.Command] = [pr_group, policy_group]
