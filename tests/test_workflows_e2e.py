"""The whole lifecycle driven only by events through the REAL workflow files.

A typo in a workflow (a wrong command, option, secret or permission) fails this test.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from jitops_sandbox.demo.world import BOT, DBA, REPO, REQUESTER, World
from tests.fixtures.vault_backend import OidcIssuer, github_claims
from tests.harness.actions import Runner

pytestmark = pytest.mark.integration

#: the GitHub App this repository's own workflows act as (`jitops init --app-slug acme-jitops`)
APP = "acme-jitops[bot]"

GRANT = (
    "requester: octocat\nrole: staging-admin\nduration: 3s\n"
    "reason: Debug the staging deploy pipeline\n"
)


def changed(world: World, before: str, after: str) -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--name-only", before, after],
        cwd=world.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture
def rig(tmp_path: Path, oidc: OidcIssuer) -> Any:
    with World.create(tmp_path / "w", use_postgres=False, jwt_pubkeys=(oidc.public_pem,)) as w:

        def oidc_env(workflow: str) -> dict[str, str]:
            oidc.claims = github_claims(REPO, workflow=workflow)
            return oidc.environ()

        runner = Runner(
            repo_path=w.gh.repo_path,
            workdir=tmp_path / "runs",
            env={
                "GITHUB_API_URL": w.gh.api_url,
                "GITHUB_REPOSITORY": REPO,
                "GITHUB_REPOSITORY_OWNER": REPO.split("/")[0],
            },
            secrets={
                "JITOPS_APP_ID": "12345",
                "JITOPS_APP_PRIVATE_KEY": "app key (the harness mints the token)",
                "VAULT_ADDR": w.vault_url,
            },
            github_token=w.gh.token(BOT),
            oidc_env=oidc_env,
            app_token=w.gh.add_user(APP, write=True, bot=True),
            app_slug=APP.removesuffix("[bot]"),
        )
        yield w, runner


def test_lifecycle_by_events_only(rig: Any) -> None:
    w, runner = rig
    # a pull request adding a grant -> jitops pr check
    n = w.gh.open_pr(REQUESTER, "req", "Access", files={"grants/stg-octocat-1.yaml": GRANT})
    head = w.gh.head_sha(n)
    payload = {"action": "opened", "pull_request": {"number": n, "head": {"sha": head}}}
    runs = runner.fire(
        "pull_request",
        payload,
        sha=head,
        ref=f"refs/pull/{n}/merge",
        changed=["grants/stg-octocat-1.yaml"],
    )
    assert [r.workflow for r in runs] == ["jitops-pr.yml"]
    assert runs[0].ok, runs[0].output()
    assert {s.context: s.state for s in reversed(w.gh.statuses(head))}[
        "jitops/validate"
    ] == "success"
    assert "jitops" in runs[0].summary

    # a review -> jitops pr approvals
    w.gh.review(n, DBA, "COMMENTED", body="looks fine")
    runs = runner.fire(
        "pull_request_review",
        {"action": "submitted", "pull_request": {"number": n}},
        sha=head,
        ref=f"refs/pull/{n}/merge",
        changed=[],
    )
    assert runs and runs[0].ok, runs[0].output()

    # the merge -> push -> jitops issue, logging in to Vault with GitHub OIDC
    before = w.main_sha()
    after = w.gh.merge_pr(n, DBA)
    runs = runner.fire(
        "push",
        {"ref": "refs/heads/main", "before": before, "after": after, "sender": {"login": DBA}},
        sha=after,
        ref="refs/heads/main",
        changed=changed(w, before, after),
    )
    assert [r.workflow for r in runs] == ["jitops-issue.yml"]
    assert runs[0].ok, runs[0].output()
    assert "status:" in (w.gh.read_file("main", "grants/stg-octocat-1.yaml") or "")
    assert any("BEGIN AGE ENCRYPTED FILE" in c for c in w.gh.comments(n))
    # the App's status commit is a push touching grants/ too: it queues no useless issue job
    before2, after2 = after, w.main_sha()
    assert "grants/stg-octocat-1.yaml" in changed(w, before2, after2)
    runs = runner.fire(
        "push",
        {"ref": "refs/heads/main", "before": before2, "after": after2, "sender": {"login": APP}},
        sha=after2,
        ref="refs/heads/main",
        changed=changed(w, before2, after2),
    )
    assert [r.workflow for r in runs] == ["jitops-issue.yml"]
    assert runs[0].steps == [], runs[0].output()
    assert "jitops-issue.yml/issue: skipped by its if:" in runner.log

    # a schedule tick after the grant's 3 seconds -> jitops sweep
    time.sleep(4)
    tip = w.main_sha()
    runs = runner.fire(
        "schedule", {"schedule": "*/10 * * * *"}, sha=tip, ref="refs/heads/main", changed=[]
    )
    assert [r.workflow for r in runs] == ["jitops-sweep.yml"]
    assert runs[0].ok, runs[0].output()
    assert w.gh.read_file("main", "grants/stg-octocat-1.yaml") is None

    # break-glass through the manual dispatch
    n2 = w.gh.open_pr(
        REQUESTER, "req2", "Access", files={"grants/stg-octocat-2.yaml": GRANT.replace("3s", "1h")}
    )
    before = w.main_sha()
    after = w.gh.merge_pr(n2, DBA)
    runner.fire(
        "push",
        {"ref": "refs/heads/main", "before": before, "after": after, "sender": {"login": DBA}},
        sha=after,
        ref="refs/heads/main",
        changed=changed(w, before, after),
    )
    assert "status:" in (w.gh.read_file("main", "grants/stg-octocat-2.yaml") or "")
    # any writer can dispatch it (GitHub), but only the requester or an admin ends the grant
    runs = runner.fire(
        "workflow_dispatch",
        {"inputs": {}, "sender": {"login": "mallory"}},
        sha=w.main_sha(),
        ref="refs/heads/main",
        changed=[],
        inputs={"grant": "stg-octocat-2", "reason": "not mine to end"},
    )
    assert not runs[0].ok
    assert "mallory may not end octocat's access" in runs[0].output()
    assert "status:" in (w.gh.read_file("main", "grants/stg-octocat-2.yaml") or "")
    runs = runner.fire(
        "workflow_dispatch",
        {"inputs": {}, "sender": {"login": DBA}},
        sha=w.main_sha(),
        ref="refs/heads/main",
        changed=[],
        inputs={"grant": "stg-octocat-2", "reason": "laptop stolen"},
    )
    assert runs[0].ok, runs[0].output()
    # the revoke, then the auditor's report of the run: a job summary and the HTML artifact
    assert [s.name for s in runs[0].steps] == [
        "Check the dispatch inputs",
        "jitops",
        "jitops",
        "Job summary",
    ]
    page = runs[0].artifacts["jitops-audit"].decode()
    assert page.lower().startswith("<!doctype html>") and "stg-octocat-2" in page
    assert "stg-octocat-2" in runs[0].summary
    assert w.gh.read_file("main", "grants/stg-octocat-2.yaml") is None
    log = subprocess.run(
        ["git", "log", "-1", "--format=%B", "main"],
        cwd=w.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Jitops-Action: revoke" in log and "laptop stolen" in log


def test_every_pull_request_and_merge_group_gets_the_statuses(rig: Any) -> None:
    w, runner = rig
    # a pull request that touches no grant still runs jitops pr check (no paths filter)
    n = w.gh.open_pr(REQUESTER, "docs", "Typo", files={"README.md": "Access requests.\n"})
    head = w.gh.head_sha(n)
    runs = runner.fire(
        "pull_request",
        {"action": "opened", "pull_request": {"number": n, "head": {"sha": head}}},
        sha=head,
        ref=f"refs/pull/{n}/merge",
        changed=["README.md"],
    )
    assert [r.workflow for r in runs] == ["jitops-pr.yml"]
    assert [s.name for s in runs[0].steps] == ["jitops"]
    # both required statuses are reported (what they say is pr check's decision)
    assert {s.context for s in w.gh.statuses(head)} >= {"jitops/validate", "jitops/approval"}
    # a merge queue's group commit gets both required statuses
    group = w.main_sha()
    runs = runner.fire(
        "merge_group",
        {
            "action": "checks_requested",
            "merge_group": {
                "head_sha": group,
                "head_ref": "refs/heads/gh-readonly-queue/main/pr-1-" + group,
                "base_ref": "refs/heads/main",
            },
        },
        sha=group,
        ref="refs/heads/gh-readonly-queue/main/pr-1-" + group,
        changed=[],
    )
    assert [r.workflow for r in runs] == ["jitops-pr.yml"]
    assert runs[0].ok, runs[0].output()
    states = {s.context: s.state for s in w.gh.statuses(group)}
    assert states == {"jitops/validate": "success", "jitops/approval": "success"}


def test_an_app_without_members_read_still_sweeps(rig: Any) -> None:
    """Members: read is optional on the App: asking a token for a permission the installation
    lacks fails (create-github-app-token), so the workflows fall back to a token without it
    instead of failing every run; only team rules are left without an answer (they fail
    closed, the door saying the App needs Members: read)."""
    w, runner = rig
    runner.app_permissions = frozenset({"contents", "pull-requests"})
    runs = runner.fire(
        "schedule",
        {"schedule": "*/10 * * * *"},
        sha=w.main_sha(),
        ref="refs/heads/main",
        changed=[],
    )
    assert [r.workflow for r in runs] == ["jitops-sweep.yml"]
    assert runs[0].ok, runs[0].output()
    # the sweep, then its audit report (the job summary is a plain step)
    assert [s.name for s in runs[0].steps] == ["jitops", "jitops", "Job summary"]
    assert any("continue-on-error" in line for line in runner.log), runner.log
