"""`jitops doctor`: check that Vault (and later GitHub) are set up as the policy needs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from jitops.cli.options import github_options, repo_option, resolve_repo
from jitops.doors.vault.client import Vault
from jitops.errors import EXIT_OK, EXIT_REJECTED
from jitops.lifecycle.validate import read_policy
from jitops.setup import doctor


@click.command("doctor")
@repo_option
@click.option("--vault-addr", metavar="URL", default=None, help="Vault address ($VAULT_ADDR).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@github_options
@click.option("--branch", default="main", show_default=True, help="The protected branch.")
@click.option(
    "--app-id",
    type=int,
    envvar="JITOPS_APP_ID",
    default=None,
    help="The jitops GitHub App's id: the only bypass actor allowed [env: JITOPS_APP_ID].",
)
def doctor_cmd(
    repo: Path | None,
    vault_addr: str | None,
    fmt: str,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    branch: str,
    app_id: int | None,
) -> int:
    """Check that Vault matches the policy; every failure says how to fix it.

    Vault: every role's policies exist, the token role covers them (orphan, not renewable,
    long enough explicit max TTL), the JWT role is bound, and each role's vault.secret is
    readable by a token with that role's policies (asked of Vault, the secret is never read).
    GitHub (with --repo-name and a token): the workflows call the jitops Action pinned by a
    full commit SHA and install nothing from the repository; CODEOWNERS gives every path but
    grant files an owner; the branch's rulesets (and classic protection) require
    jitops/validate, jitops/approval and code-owner review, dismiss stale approvals, and let
    only the jitops App bypass; the token can read the members of the policy's teams. Warns
    about 'require branches to be up to date'. Exit 1 when any check fails.
    """
    root = resolve_repo(repo)
    policy = read_policy(root, None)
    opened: list[Vault] = []

    def connect() -> Vault:
        vault = Vault.connect(vault_addr, policy.settings.vault, os.environ)
        opened.append(vault)
        return vault

    try:
        findings = doctor.vault_findings(policy, connect)
    finally:
        for vault in opened:
            vault.close()
    if repo_name and token:
        findings += _github_findings(root, policy, repo_name, api_url, token, branch, app_id)
    else:
        findings.append(
            doctor.Finding(
                "GitHub",
                True,
                "GitHub checks skipped: no --repo-name/--token (GITHUB_REPOSITORY, GITHUB_TOKEN)",
            )
        )
    click.echo(doctor.render_json(findings) if fmt == "json" else doctor.render_text(findings))
    return EXIT_REJECTED if doctor.failed(findings) else EXIT_OK


def _github_findings(
    root: Path,
    policy: Any,
    repo_name: str,
    api_url: str,
    token: str,
    branch: str,
    app_id: int | None,
) -> list[doctor.Finding]:
    """Read what the GitHub checks need (the thin I/O part) and judge it."""
    from jitops.doors.github import GitHub, GitHubError, GitHubNotFound
    from jitops.setup import doctor_github as dg

    folder = root / ".github" / "workflows"
    workflows = {
        name: (folder / name).read_text("utf-8") if (folder / name).is_file() else None
        for name in dg.WORKFLOWS
    }
    codeowners = next(
        ((root / p).read_text("utf-8") for p in dg.CODEOWNERS_PLACES if (root / p).is_file()),
        None,
    )
    findings = dg.workflow_findings(workflows, policy.settings.bot)
    findings += dg.codeowners_findings(codeowners)
    gh = GitHub(repo_name, token, api_url)
    try:
        rules = gh.branch_rules(branch)
    except GitHubNotFound:
        rules = []
    except GitHubError as exc:
        return [*findings, doctor.Finding("rules", False, str(exc), "fix the access above")]
    rulesets: dict[int, dict[str, Any] | None] = {}
    for rid in sorted({int(r["ruleset_id"]) for r in rules if r.get("ruleset_id") is not None}):
        try:
            rulesets[rid] = gh.ruleset(rid)
        except GitHubError:
            rulesets[rid] = None
    try:
        protection = gh.branch_protection(branch)
    except GitHubError:
        protection = None  # reading classic protection needs admin; rulesets are what counts
    findings += dg.rules_findings(rules, rulesets, protection, branch=branch, app_id=app_id)
    team = next(
        (
            p
            for role in policy.roles.values()
            for rule in role.approvals
            for p in rule.principals
            if p.slug
        ),
        None,
    )
    error = None
    if team is not None:
        try:
            gh.is_team_member(team.login, team.slug, policy.settings.bot or "ghost")
        except GitHubError as exc:
            error = str(exc)
    return [*findings, dg.members_finding(str(team) if team else None, error)]


COMMANDS: list[click.Command] = [doctor_cmd]
