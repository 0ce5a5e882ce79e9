"""`jitops doctor`'s run: read what the checks need from Vault, the checkout and GitHub (the
thin I/O part), and judge it with :mod:`jitops.setup.doctor` and
:mod:`jitops.setup.doctor_github`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from jitops.core.policy import Policy
from jitops.doors.github import GitHub, GitHubError, GitHubNotFound
from jitops.doors.vault.client import Vault
from jitops.errors import JitopsError
from jitops.lifecycle.validate import read_policy
from jitops.setup import doctor
from jitops.setup import doctor_github as dg
from jitops.setup.init import DEFAULT_ENVIRONMENT
from jitops.setup.upgrade import Record, read_record


def run_doctor(
    root: Path,
    vault_addr: str | None,
    environ: Mapping[str, str],
    *,
    github: tuple[str, str, str] | None,
    branch: str,
    app_id: int | None,
) -> list[doctor.Finding]:
    """Every finding about Vault, then GitHub (``github``: repository, API URL and token;
    None skips the GitHub checks, which is a finding too)."""
    policy = read_policy(root, None)
    opened: list[Vault] = []

    def connect() -> Vault:
        vault = Vault.connect(vault_addr, policy.settings.vault, environ)
        opened.append(vault)
        return vault

    try:
        findings = doctor.vault_findings(policy, connect)
    finally:
        for vault in opened:
            vault.close()
    if github is None:
        return [*findings, dg.github_skipped_finding()]
    repo_name, api_url, token = github
    return findings + github_findings(root, policy, repo_name, api_url, token, branch, app_id)


def github_findings(
    root: Path,
    policy: Policy,
    repo_name: str,
    api_url: str,
    token: str,
    branch: str,
    app_id: int | None,
) -> list[doctor.Finding]:
    """Read what the GitHub checks need (the thin I/O part) and judge it."""
    folder = root / ".github" / "workflows"
    workflows = {
        name: (folder / name).read_text("utf-8") if (folder / name).is_file() else None
        for name in dg.WORKFLOWS
    }
    codeowners = next(
        ((root / p).read_text("utf-8") for p in dg.CODEOWNERS_PLACES if (root / p).is_file()),
        None,
    )
    try:
        record = read_record(root)
    except JitopsError as exc:
        record = None
        findings = [doctor.Finding("init record", False, str(exc), "fix .jitops/init.yaml")]
    else:
        findings = (
            []
            if record is not None
            else [
                doctor.Finding(
                    "init record",
                    True,
                    "warning: no .jitops/init.yaml: the workflows are checked against the "
                    "defaults; `jitops init` with your options writes it",
                )
            ]
        )
    findings += dg.workflow_findings(workflows, policy.settings.bot, record)
    if record is not None and record.options.jwt_mount != policy.settings.vault.jwt_mount:
        findings.append(
            doctor.Finding(
                "init record",
                False,
                f"the policy's settings.vault.jwt_mount is {policy.settings.vault.jwt_mount!r}, "
                f"the record's {record.options.jwt_mount!r}",
                "make them agree: the JWT mount Vault has (`jitops init --upgrade --jwt-mount "
                "PATH` changes the record)",
            )
        )
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
    # -- break-glass: the on-call teams bypass the branch's rules for pull requests only
    oncall = {
        p
        for role in policy.roles.values()
        if role.break_glass is not None
        for p in role.break_glass.requesters
        if p.kind != "anyone"
    }
    team_ids: dict[str, int | None] = {}
    for p in sorted(oncall, key=str):
        if p.slug:
            try:
                team_ids[str(p)] = gh.team_id(p.login, p.slug)
            except GitHubError:
                team_ids[str(p)] = None
    people = sorted(str(p) for p in oncall if not p.slug)
    findings += dg.rules_findings(
        rules,
        rulesets,
        protection,
        branch=branch,
        app_id=app_id,
        break_glass_teams={t for t in team_ids.values() if t is not None},
    )
    findings += dg.break_glass_findings(team_ids, people, rulesets, branch=branch)
    findings.append(dg.bypass_mode_finding(rulesets, app_id))
    findings.append(
        dg.bot_finding(policy.settings.bot, record.options.app_slug if record else None)
    )
    findings += environment_findings(gh, record)
    findings += sweep_findings(gh, workflows.get(dg.SWEEP))
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


def environment_findings(gh: GitHub, record: Record | None) -> list[doctor.Finding]:
    """Read the jitops environment, its deployment branches and its secret names; judge them."""
    name = record.options.environment if record else DEFAULT_ENVIRONMENT
    ca = record.options.vault_ca_cert_secret if record else ""
    try:
        environment = gh.environment(name)
    except GitHubError as exc:
        return [doctor.Finding(f"environment {name}", False, str(exc), "fix the access above")]
    out = [dg.environment_exists_finding(name, environment)]
    if environment is None:
        return out
    policies: list[dict[str, Any]] | None = None
    if (environment.get("deployment_branch_policy") or {}).get("custom_branch_policies"):
        try:
            policies = gh.environment_branch_policies(name)
        except GitHubError as exc:
            out.append(doctor.Finding(f"environment {name} branches", False, str(exc), ""))
            policies = None
    if policies is not None or not (environment.get("deployment_branch_policy") or {}).get(
        "custom_branch_policies"
    ):
        out.append(dg.environment_branch_finding(name, environment, policies or []))
    try:
        names: list[str] | None = gh.environment_secret_names(name)
        error = ""
    except GitHubError as exc:
        names, error = None, str(exc)
    out.append(dg.environment_secrets_finding(name, names, ca, error))
    return out


def sweep_findings(gh: GitHub, sweep_text: str | None) -> list[doctor.Finding]:
    """Read the sweep workflow's state and its latest scheduled runs; judge them."""
    try:
        workflow = gh.workflow(dg.SWEEP)
        runs = gh.workflow_runs(dg.SWEEP, event="schedule") if workflow else []
    except GitHubError as exc:
        return [
            doctor.Finding(
                "sweep enabled", False, str(exc), "run doctor with a token that may read Actions"
            )
        ]
    return dg.sweep_findings(workflow, runs, _cron(sweep_text), datetime.now(UTC))


def _cron(text: str | None) -> str | None:
    try:
        wf = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        return None
    on = wf.get("on", wf.get(True)) if isinstance(wf, dict) else None
    schedule = (on or {}).get("schedule") if isinstance(on, dict) else None
    if isinstance(schedule, list) and schedule and isinstance(schedule[0], dict):
        return str(schedule[0].get("cron") or "") or None
    return None
