"""`jitops doctor`'s checks of what breaks a running set-up: the jitops environment, the
ruleset's bypass mode, settings.bot against the App, whether the sweep still runs, and a
skipped GitHub part. One test per check, then the door and the stand-in together.

Shapes follow GitHub's REST API description: ``environment`` (``deployment_branch_policy:
{protected_branches, custom_branch_policies}``), ``deployment-branch-policy`` (``name``,
``type: branch|tag``), ``actions-secret`` (``name``), ``workflow`` (``state``),
``workflow-run`` (``event``, ``created_at``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jitops.doors.github import GitHub
from jitops.setup import doctor_github as dg
from jitops.setup.checkup import environment_findings, sweep_findings
from jitops.setup.doctor import failed, render_text

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CUSTOM = {"protected_branches": False, "custom_branch_policies": True}


def test_a_missing_environment_fails_before_github_creates_it_unprotected() -> None:
    missing = dg.environment_exists_finding("jitops", None)
    assert not missing.ok and "unprotected" in missing.message
    assert dg.environment_exists_finding("jitops", {"name": "jitops"}).ok


@pytest.mark.parametrize(
    ("policy", "branches", "said"),
    [
        (None, [], "every branch may use"),
        ({"protected_branches": True, "custom_branch_policies": False}, [], "protected branch"),
        (CUSTOM, [{"name": "main"}, {"name": "release/*"}], "main, release/*"),
        (CUSTOM, [{"name": "main"}, {"name": "v*", "type": "tag"}], "tag v*"),
    ],
)
def test_only_main_may_use_the_environment(
    policy: dict[str, Any] | None, branches: list[dict[str, Any]], said: str
) -> None:
    bad = dg.environment_branch_finding("jitops", {"deployment_branch_policy": policy}, branches)
    assert not bad.ok and said in bad.message
    good = dg.environment_branch_finding(
        "jitops", {"deployment_branch_policy": CUSTOM}, [{"name": "main", "type": "branch"}]
    )
    assert good.ok


def test_the_environment_holds_the_secrets_the_workflows_read() -> None:
    some = dg.environment_secrets_finding("jitops", ["JITOPS_APP_ID", "VAULT_ADDR"])
    assert not some.ok and "JITOPS_APP_PRIVATE_KEY" in some.message
    all_ = [*dg.ENVIRONMENT_SECRETS, "VAULT_CA_CERT"]
    assert dg.environment_secrets_finding("jitops", all_, "VAULT_CA_CERT").ok
    no_ca = dg.environment_secrets_finding("jitops", list(dg.ENVIRONMENT_SECRETS), "VAULT_CA")
    assert not no_ca.ok and "VAULT_CA" in no_ca.message
    assert not dg.environment_secrets_finding("jitops", None, error="403").ok


def test_the_app_must_bypass_always_not_only_through_pull_requests() -> None:
    def ruleset(mode: str) -> dict[int, Any]:
        actor = {"actor_id": 42, "actor_type": "Integration", "bypass_mode": mode}
        return {7: {"bypass_actors": [actor]}}

    bad = dg.bypass_mode_finding(ruleset("pull_request"), 42)
    assert not bad.ok and "ruleset 7: pull_request" in bad.message
    assert dg.bypass_mode_finding(ruleset("always"), 42).ok


def test_settings_bot_is_the_apps_login() -> None:
    assert dg.bot_finding("acme-jitops[bot]", "acme-jitops").ok
    wrong = dg.bot_finding("jitops[bot]", "acme-jitops")
    assert not wrong.ok and "acme-jitops[bot]" in wrong.fix
    assert not dg.bot_finding(None, "acme-jitops").ok
    assert dg.bot_finding("x[bot]", None).warning


def test_schedule_minutes() -> None:
    assert dg.schedule_minutes("*/10 * * * *") == 10
    assert dg.schedule_minutes("5 * * * *") == 60
    assert dg.schedule_minutes("0 3 * * *") == 1440
    assert dg.schedule_minutes("0 3 * * 1") is None


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("disabled_inactivity", "60 days without repository activity"),
        ("disabled_manually", "someone disabled it"),
    ],
)
def test_a_disabled_sweep_fails(state: str, why: str) -> None:
    (finding,) = dg.sweep_findings({"state": state}, [], "*/10 * * * *", NOW)
    assert not finding.ok and why in finding.message
    assert "cron line also re-activates it" in finding.fix


def test_the_sweep_must_have_run_within_twice_its_schedule() -> None:
    def run(minutes_ago: int) -> dict[str, Any]:
        return {"created_at": (NOW - timedelta(minutes=minutes_ago)).isoformat()}

    active = {"state": "active"}
    enabled, ran = dg.sweep_findings(active, [run(19)], "*/10 * * * *", NOW)
    assert enabled.ok and ran.ok
    _, late = dg.sweep_findings(active, [run(21), run(31)], "*/10 * * * *", NOW)
    assert not late.ok and "more than twice its schedule (20m)" in late.message
    _, never = dg.sweep_findings(active, [], "*/10 * * * *", NOW)
    assert not never.ok and "never run" in never.message
    (unknown,) = dg.sweep_findings(None, [], None, NOW)
    assert not unknown.ok


def test_skipped_github_checks_are_never_ok() -> None:
    skipped = dg.github_skipped_finding()
    assert not skipped.ok and skipped.warning
    text = render_text([skipped])
    assert text.startswith("WARN  GitHub: GitHub checks skipped")
    assert "all ok" in text and "1 warning" in text  # not a failure, and not silently "ok"
    assert not failed([skipped])


@pytest.mark.integration
def test_the_door_reads_environment_and_sweep_from_the_stand_in(tmp_path: Path) -> None:
    from jitops_sandbox.github import GitHubSandbox

    gh = GitHubSandbox(tmp_path / "gh", "acme/access", initial_files={"README.md": "x\n"})
    gh.start()
    try:
        admin = gh.add_user("alice", write=True, admin=True)
        door = GitHub("acme/access", admin, gh.api_url)
        # nothing set up yet: both fail, saying what to do
        out = environment_findings(door, None) + sweep_findings(door, None)
        assert [f.check for f in out if not f.ok] == ["environment jitops", "sweep enabled"]
        gh.add_environment("jitops", branches=["main"], secrets=dg.ENVIRONMENT_SECRETS)
        gh.set_workflow("jitops-sweep.yml", name="jitops sweep")
        gh.add_workflow_run("jitops-sweep.yml", created_at=datetime.now(UTC) - timedelta(hours=3))
        gh.add_workflow_run("jitops-sweep.yml", event="workflow_dispatch")
        sweep_text = 'on:\n  schedule:\n    - cron: "*/10 * * * *"\n'
        out = environment_findings(door, None) + sweep_findings(door, sweep_text)
        assert {f.check: f.ok for f in out} == {
            "environment jitops": True,
            "environment jitops branches": True,
            "environment jitops secrets": True,
            "sweep enabled": True,
            "sweep ran": False,  # the dispatched run is not the schedule
        }
        gh.add_workflow_run("jitops-sweep.yml")
        assert all(f.ok for f in sweep_findings(door, sweep_text))
        gh.set_workflow("jitops-sweep.yml", state="disabled_inactivity")
        (disabled,) = sweep_findings(door, sweep_text)
        assert not disabled.ok and "60 days" in disabled.message
        gh.add_environment("jitops", branches=None, secrets=["VAULT_ADDR"])
        out = {f.check: f for f in environment_findings(door, None)}
        assert "every branch" in out["environment jitops branches"].message
        assert "JITOPS_APP_ID" in out["environment jitops secrets"].message
    finally:
        gh.stop()
