"""`jitops doctor`, GitHub part: workflows, CODEOWNERS, rulesets, bypass actors, members.

The rule and ruleset dicts below have the shapes of GitHub's REST API description
(github/rest-api-description, `repository-rule-detailed` = a rule plus `ruleset_source_type`,
`ruleset_source`, `ruleset_id`; `repository-ruleset` with `bypass_actors` of `{actor_id,
actor_type: Integration|OrganizationAdmin|RepositoryRole|Team|DeployKey, bypass_mode}`).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jitops.doors.github import GitHub
from jitops.setup.doctor import Finding
from jitops.setup.doctor_github import (
    ENVIRONMENT_SECRETS,
    code_owners,
    codeowners_findings,
    members_finding,
    rules_findings,
    workflow_findings,
)
from jitops.setup.init import WORKFLOWS, InitOptions, plan_init
from tests.conftest import ROOT

APP_ID = 424242


def _minutes_ago(minutes: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


SHA = "0123456789abcdef0123456789abcdef01234567"


def ruleset_rule(rtype: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "type": rtype,
        "ruleset_source_type": "Repository",
        "ruleset_source": "acme/access",
        "ruleset_id": 7,
    }
    if parameters is not None:
        rule["parameters"] = parameters
    return rule


def good_rules(**changes: Any) -> list[dict[str, Any]]:
    pr = {
        "dismiss_stale_reviews_on_push": True,
        "require_code_owner_review": True,
        "require_last_push_approval": True,
        "required_approving_review_count": 0,
        "required_review_thread_resolution": False,
    }
    checks = {
        "required_status_checks": [
            {"context": "jitops/validate", "integration_id": 15368},
            {"context": "jitops/approval", "integration_id": 15368},
        ],
        "strict_required_status_checks_policy": False,
    }
    pr.update({k: v for k, v in changes.items() if k in pr})
    checks.update({k: v for k, v in changes.items() if k in checks})
    return [
        ruleset_rule("deletion"),
        ruleset_rule("non_fast_forward"),
        ruleset_rule("pull_request", pr),
        ruleset_rule("required_status_checks", checks),
    ]


def ruleset(*actors: dict[str, Any]) -> dict[int, dict[str, Any] | None]:
    return {
        7: {
            "id": 7,
            "name": "main",
            "target": "branch",
            "source_type": "Repository",
            "source": "acme/access",
            "enforcement": "active",
            "bypass_actors": list(actors),
        }
    }


APP = {"actor_id": APP_ID, "actor_type": "Integration", "bypass_mode": "always"}


def failed(findings: list[Finding]) -> list[str]:
    assert all(f.fix for f in findings if not f.ok), "every failure says how to fix it"
    return [f.message for f in findings if not f.ok]


def warnings(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings if f.ok and f.message.startswith("warning:")]


def generated() -> dict[str, str]:
    return plan_init(InitOptions(("@acme/access-admins",), "acme-jitops", "jitops/jitops", SHA))


# -- workflows ---------------------------------------------------------------------------------
def test_generated_and_this_repositorys_workflows_pass() -> None:
    files = generated()
    assert failed(workflow_findings({n: files[f".github/workflows/{n}"] for n in WORKFLOWS})) == []
    ours = {n: (ROOT / ".github" / "workflows" / n).read_text() for n in WORKFLOWS}
    assert failed(workflow_findings(ours)) == []


def test_every_workflow_gap_is_found() -> None:
    files = {n: generated()[f".github/workflows/{n}"] for n in WORKFLOWS}
    issue = files["jitops-issue.yml"]
    broken: dict[str, str | None] = {
        "jitops-pr.yml": files["jitops-pr.yml"].replace(
            f"jitops/jitops@{SHA}", "jitops/jitops@v1", 1
        ),
        "jitops-issue.yml": issue.replace(
            f"      - name: jitops issue\n        uses: jitops/jitops@{SHA}",
            "      - run: python -m pip install .\n      - name: jitops issue\n        uses: ./",
        )
        .replace("environment: jitops", "environment: prod")
        .replace("cancel-in-progress: false", "cancel-in-progress: true"),
        "jitops-sweep.yml": None,
    }
    problems = " | ".join(failed(workflow_findings(broken)))
    assert "jitops-pr.yml: job check: jitops/jitops@v1 is not pinned to a full commit SHA" in (
        problems
    )
    assert "job issue installs code in a run: step" in problems
    assert "uses the local action ./" in problems
    assert "job issue does not run in the jitops environment" in problems
    assert "job issue cancels runs in progress" in problems
    assert ".github/workflows/jitops-sweep.yml is missing" in problems


def test_the_issue_job_must_skip_the_policys_bot() -> None:
    files: dict[str, str | None] = {n: generated()[f".github/workflows/{n}"] for n in WORKFLOWS}
    assert failed(workflow_findings(files, "acme-jitops[bot]")) == []
    problems = failed(workflow_findings(files, "renamed-app[bot]"))
    assert any("skips pushes of another account than the policy's bot" in p for p in problems)


def test_two_pinned_versions_are_a_finding() -> None:
    files = {n: generated()[f".github/workflows/{n}"] for n in WORKFLOWS}
    files["jitops-sweep.yml"] = files["jitops-sweep.yml"].replace(SHA, "f" * 40)
    assert any("pin different jitops Action commits" in m for m in failed(workflow_findings(files)))


def test_the_workflows_are_checked_against_the_init_record() -> None:
    from dataclasses import replace

    from jitops.setup.upgrade import parse_record

    options = replace(
        InitOptions(("@acme/access-admins",), "acme-jitops", "jitops/jitops", SHA),
        runs_on=("self-hosted", "linux"),
        environment="access",
        vault_namespace="admin/team-a",
        vault_ca_cert_secret="VAULT_CA_CERT",
    )
    planned = plan_init(options)
    record = parse_record(planned[".jitops/init.yaml"].encode())
    files: dict[str, str | None] = {n: planned[f".github/workflows/{n}"] for n in WORKFLOWS}
    findings = workflow_findings(files, "acme-jitops[bot]", record)
    assert failed(findings) == []
    assert "init record" in {f.check for f in findings} and warnings(findings) == []
    # a hand edit that drops the namespace, the runner labels and the CA file; another pin
    sweep = str(files["jitops-sweep.yml"])
    files["jitops-sweep.yml"] = (
        sweep.replace("          VAULT_NAMESPACE: admin/team-a\n", "", 1)
        .replace("runs-on: [self-hosted, linux]", "runs-on: ubuntu-latest")
        .replace("${{ secrets.VAULT_CA_CERT }}", "${{ secrets.OTHER }}")
    )
    files["jitops-pr.yml"] = str(files["jitops-pr.yml"]).replace(SHA, "f" * 40)
    findings = workflow_findings(files, "acme-jitops[bot]", record)
    problems = " | ".join(failed(findings))
    assert "job sweep runs on ['ubuntu-latest'], not the recorded ['self-hosted', 'linux']" in (
        problems
    )
    assert "step 'jitops revoke' has VAULT_NAMESPACE None, not the recorded 'admin/team-a'" in (
        problems
    )
    assert "job sweep never writes the CA certificate from secrets.VAULT_CA_CERT" in problems
    assert f"calls jitops/jitops@{'f' * 40}, not the recorded jitops/jitops@{SHA}" in problems
    assert any("jitops-pr.yml, jitops-sweep.yml changed by hand" in w for w in warnings(findings))
    # without the record, the environment it names is not the default one
    plain = workflow_findings({n: planned[f".github/workflows/{n}"] for n in WORKFLOWS})
    assert "job issue does not run in the jitops environment" in " | ".join(failed(plain))


# -- CODEOWNERS --------------------------------------------------------------------------------
def test_codeowners_last_match_wins_and_ownerless_lines() -> None:
    text = generated()[".github/CODEOWNERS"]
    assert code_owners(text, "policies/policy.yaml") == ["@acme/access-admins"]
    assert code_owners(text, "grants/x-1.yaml") == []  # left to requesters
    assert code_owners(text, "grants/README.md") == ["@acme/access-admins"]
    assert failed(codeowners_findings(text)) == []
    assert failed(codeowners_findings((ROOT / ".github" / "CODEOWNERS").read_text())) == []
    # the old guide's form: only two folders are owned, a new file at the root is not
    old = "/policies/   @acme/access-admins\n/.github/    @acme/access-admins\n"
    assert failed(codeowners_findings(old)) == [
        "no code owner for grants/README.md, any-new-file.txt"
    ]
    # a later ownerless line takes the policy away from the admins
    assert "policies/policy.yaml" in failed(codeowners_findings(text + "/policies/\n"))[0]
    assert failed(codeowners_findings(None)) == ["there is no CODEOWNERS file"]


# -- rulesets ----------------------------------------------------------------------------------
def test_a_ruleset_as_setup_md_describes_passes() -> None:
    findings = rules_findings(good_rules(), ruleset(APP), None, app_id=APP_ID)
    assert failed(findings) == []
    assert warnings(findings) == []
    assert "only the jitops App may bypass the rules" in [f.message for f in findings]


def test_every_ruleset_gap_is_found_with_a_fix() -> None:
    rules = good_rules(
        require_code_owner_review=False,
        dismiss_stale_reviews_on_push=False,
        required_status_checks=[{"context": "jitops/validate"}],
    )
    admin = {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}
    problems = failed(rules_findings(rules, ruleset(APP, admin), None, app_id=APP_ID))
    assert "main does not require jitops/approval" in problems
    assert "code-owner review is not required" in problems
    assert "approvals survive new pushes" in problems
    assert any("RepositoryRole 5" in p for p in problems)


def test_bypass_by_another_app_or_nobody() -> None:
    other_app = {"actor_id": 1, "actor_type": "Integration", "bypass_mode": "always"}
    assert any(
        "Integration 1" in p
        for p in failed(rules_findings(good_rules(), ruleset(other_app), None, app_id=APP_ID))
    )
    assert any(
        "the jitops App is not a bypass actor" in p
        for p in failed(rules_findings(good_rules(), ruleset(), None, app_id=APP_ID))
    )
    # a token that is not an admin's does not see bypass_actors
    hidden = ruleset(APP)
    assert hidden[7] is not None
    del hidden[7]["bypass_actors"]
    assert any(
        "could not read the bypass list" in p
        for p in failed(rules_findings(good_rules(), hidden, None))
    )


def test_up_to_date_branches_and_unpinned_sources_are_warned_about() -> None:
    rules = good_rules(
        strict_required_status_checks_policy=True,
        required_status_checks=[{"context": "jitops/validate"}, {"context": "jitops/approval"}],
    )
    findings = rules_findings(rules, ruleset(APP), None, app_id=APP_ID)
    assert failed(findings) == []
    said = " | ".join(warnings(findings))
    assert "Require branches to be up to date" in said
    assert "may be set by anyone with write access" in said


def test_classic_protection_alone_or_nothing() -> None:
    classic = {
        "contexts": ["jitops/validate", "jitops/approval"],
        "dismiss_stale_reviews": True,
        "require_code_owner_reviews": True,
    }
    problems = failed(rules_findings([], {}, classic))
    assert problems == [
        "main is protected only by classic branch protection, which cannot name a GitHub App "
        "that may push"
    ]
    assert failed(rules_findings([], {}, None)) == ["main has no ruleset and no branch protection"]


def test_members_finding() -> None:
    assert members_finding("@acme/dba", None).ok
    bad = members_finding("@acme/dba", "GitHub denied access")
    assert not bad.ok and "Members: read" in bad.fix


# -- the door reads GitHub's documented responses ---------------------------------------------
ANSWERS: dict[str, Any] = {}


@pytest.fixture
def rules_api() -> Iterator[str]:
    ANSWERS.clear()
    ANSWERS.update(
        {
            "/repos/acme/access/rules/branches/main": good_rules(),
            "/repos/acme/access/rulesets/7": ruleset(APP)[7],
            # the jitops environment (main only, its secrets) and a sweep that runs
            "/repos/acme/access/environments/jitops": {
                "name": "jitops",
                "deployment_branch_policy": {
                    "protected_branches": False,
                    "custom_branch_policies": True,
                },
            },
            "/repos/acme/access/environments/jitops/deployment-branch-policies": {
                "total_count": 1,
                "branch_policies": [{"name": "main", "type": "branch"}],
            },
            "/repos/acme/access/environments/jitops/secrets": {
                "total_count": 3,
                "secrets": [{"name": n} for n in ENVIRONMENT_SECRETS],
            },
            "/repos/acme/access/actions/workflows/jitops-sweep.yml": {"state": "active"},
            "/repos/acme/access/actions/workflows/jitops-sweep.yml/runs": {
                "total_count": 1,
                "workflow_runs": [{"event": "schedule", "created_at": _minutes_ago(4)}],
            },
        }
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ANSWERS.get(self.path.split("?", 1)[0])
            status = 200
            if isinstance(body, int):
                status, body = body, {"message": "Resource not accessible by integration"}
            elif body is None:
                status, body = 404, {"message": "Not Found"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_the_door_reads_rules_and_rulesets(rules_api: str) -> None:
    gh = GitHub("acme/access", "t", rules_api, max_attempts=1)
    rules = gh.branch_rules("main")
    assert [r["type"] for r in rules] == [
        "deletion",
        "non_fast_forward",
        "pull_request",
        "required_status_checks",
    ]
    assert gh.ruleset(7)["bypass_actors"] == [APP]
    assert failed(rules_findings(rules, {7: gh.ruleset(7)}, None, app_id=APP_ID)) == []


@pytest.mark.integration
def test_branch_protection_is_read_through_the_api(world) -> None:  # type: ignore[no-untyped-def]
    gh = world.github()
    assert gh.branch_protection("main") is None
    world.gh.protect_branch(
        "main",
        required_checks=("jitops/validate", "jitops/approval"),
        required_approvals=1,
        dismiss_stale_reviews=True,
        require_code_owner_reviews=True,
    )
    assert gh.branch_protection("main") == {
        "contexts": ["jitops/validate", "jitops/approval"],
        "dismiss_stale_reviews": True,
        "require_code_owner_reviews": True,
    }


@pytest.mark.integration
def test_doctor_command_checks_a_generated_repository(rules_api: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jitops.cli import cli
    from jitops.setup.init import apply_init

    apply_init(tmp_path, generated())
    args = ["doctor", "--repo", str(tmp_path), "--repo-name", "acme/access", "--token", "t"]
    args += ["--api-url", rules_api, "--app-id", str(APP_ID), "--format", "json"]
    env = {"VAULT_ADDR": "", "VAULT_TOKEN": "", "GITHUB_ACTIONS": ""}
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    report = json.loads(result.output)
    github = [f for f in report["findings"] if not f["check"].startswith("vault")]
    assert [f["check"] for f in github if not f["ok"]] == [], github
    assert {f["check"] for f in github} >= {
        "workflow jitops-issue.yml",
        "CODEOWNERS",
        "required statuses",
        "bypass",
        "team membership",
    }
    # the App cannot read members: the finding says what to grant
    ANSWERS["/orgs/acme/teams/access-admins/memberships/acme-jitops%5Bbot%5D"] = 403
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    members = next(
        f for f in json.loads(result.output)["findings"] if f["check"] == "team membership"
    )
    assert not members["ok"] and "Members: read" in members["fix"]
