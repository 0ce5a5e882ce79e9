"""`jitops pr check`, `jitops pr approvals` and `jitops policy test`."""

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


COMMANDS: list[click.Command] = [pr_group, policy_group]
