"""An adopter's first day: a new repository, `jitops init`, `jitops vault setup`, then the
GENERATED workflows run by events through the whole lifecycle.

The repository starts as GitHub creates it (a README only), in the GitHub stand-in. Vault is the
one the test `World` runs; nothing of the World's own access repository is used. The workflows
are read from the stand-in's repository at each event's commit, as GitHub does; the jitops
Action they pin resolves to this checkout, and the GitHub App's token step is simulated by the
harness (tests/harness/actions.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import VaultError
from jitops.errors import Secret
from jitops_sandbox.demo.oidc import OWNER_ID, REPOSITORY_ID
from jitops_sandbox.demo.world import World
from jitops_sandbox.github import GitHubSandbox
from tests.conftest import git
from tests.fixtures.vault_backend import OidcIssuer, github_claims
from tests.harness.actions import HarnessError, Runner

pytestmark = pytest.mark.integration

REPO = "acme/first-day"
ADMIN = "alice"  # access admin: CODEOWNER, approver of the starter role
REQUESTER = "octocat"
APP_SLUG = "acme-jitops"
APP = f"{APP_SLUG}[bot]"
ACTION_SHA = "0123456789abcdef0123456789abcdef01234567"
JITOPS = str(Path(sys.executable).parent / "jitops")
GRANT = (
    f"requester: {REQUESTER}\nrole: example-readonly\nduration: 30m\n"
    "reason: Check the example role works end to end\n"
)


def jitops(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VAULT_"))}
    proc = subprocess.run(
        [JITOPS, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"jitops {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def changed(repo: Path, before: str, after: str) -> list[str]:
    return git(repo, "diff", "--name-only", before, after).split()


@dataclass
class FirstDay:
    world: World
    gh: Any  # GitHubSandbox of the new repository
    runner: Runner
    checkout: Path
    oidc_pem: Path

    def push(self, before: str, sender: str) -> list[Any]:
        after = self.gh.branch_sha("main")
        return self.runner.fire(
            "push",
            {
                "ref": "refs/heads/main",
                "before": before,
                "after": after,
                "sender": {"login": sender},
            },
            sha=after,
            ref="refs/heads/main",
            changed=changed(self.gh.repo_path, before, after),
        )


@pytest.fixture
def first_day(tmp_path: Path, oidc: OidcIssuer) -> Iterator[FirstDay]:
    with World.create(tmp_path / "world", use_postgres=False, jwt_pubkeys=(oidc.public_pem,)) as w:
        gh = GitHubSandbox(
            tmp_path / "github", REPO, initial_files={"README.md": "# Access requests\n"}
        ).start()
        try:
            gh.add_user(ADMIN, write=True)
            gh.add_user(REQUESTER)
            gh.add_team("acme", "access-admins", [ADMIN])
            gh.add_ssh_key(REQUESTER, w.key.public_line)
            app_token = gh.add_user(APP, write=True, bot=True)

            def oidc_env(workflow: str) -> dict[str, str]:
                oidc.claims = github_claims(REPO, workflow=workflow, actor=APP)
                return oidc.environ()

            runner = Runner(
                repo_path=gh.repo_path,
                workdir=tmp_path / "runs",
                env={
                    "GITHUB_API_URL": gh.api_url,
                    "GITHUB_REPOSITORY": REPO,
                    "GITHUB_REPOSITORY_OWNER": "acme",
                },
                # the jitops environment's secrets (the stand-in App's key is never used: the
                # harness hands out the App's installation token)
                secrets={
                    "JITOPS_APP_ID": "424242",
                    "JITOPS_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY----- (simulated)",
                    "VAULT_ADDR": w.vault_url,
                },
                # a pull request's workflow token: statuses, its comment, review requests
                github_token=gh.add_user("github-actions[bot]", write=True, bot=True),
                oidc_env=oidc_env,
                app_token=app_token,
                app_slug=APP_SLUG,
                workflows_from_repo=True,
            )
            pem = tmp_path / "oidc.pem"
            pem.write_text(oidc.public_pem)
            yield FirstDay(w, gh, runner, gh.clone(tmp_path / "admin"), pem)
            assert gh.errors == [], "the GitHub stand-in itself failed"
        finally:
            gh.stop()


def test_first_day_from_init_to_audit(first_day: FirstDay) -> None:
    d, gh, runner, repo = first_day, first_day.gh, first_day.runner, first_day.checkout
    started = time.monotonic()

    # 1. the platform engineer scaffolds the repository and proves the starter policy
    out = jitops(
        "init",
        str(repo),
        "--admins",
        "@acme/access-admins",
        "--app-slug",
        APP_SLUG,
        "--action-ref",
        ACTION_SHA,
        cwd=repo,
    )
    assert "14 file(s) written" in out
    assert "4 passed, 0 failed" in jitops("policy", "test", cwd=repo)
    git(repo, "config", "user.name", ADMIN)
    git(repo, "config", "user.email", f"{ADMIN}@example.com")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Set up jitops (jitops init)")
    before = gh.branch_sha("main")
    git(repo, "push", "-q", "origin", "HEAD:main")
    # the set-up push touches no grant: no jitops workflow runs
    assert d.push(before, ADMIN) == []

    # 2. Vault: the admin writes the role's ACL policy and secret, then `jitops vault setup`
    admin = d.world.admin()
    try:
        admin.write(
            "sys/policies/acl/jit-example-readonly",
            {"policy": 'path "secret/data/example/*" {\n  capabilities = ["read"]\n}\n'},
        )
        admin.write(
            "secret/data/example/readonly", {"data": {"username": "reader", "password": "pw-1"}}
        )
    finally:
        admin.close()
    vault_env = {"VAULT_ADDR": d.world.vault_url, "VAULT_TOKEN": d.world.root_token}
    ids = ["--repository-id", REPOSITORY_ID, "--repository-owner-id", OWNER_ID]
    setup = [
        "vault",
        "setup",
        "--repo-name",
        REPO,
        *ids,
        "--jwt-validation-pubkey",
        str(d.oidc_pem),
    ]
    jitops(*setup, cwd=repo, env=vault_env)

    # 3. a requester opens a pull request adding one grant -> the generated jitops-pr.yml
    n = gh.open_pr(REQUESTER, "access", "Access", files={"grants/first-1.yaml": GRANT})
    head = gh.head_sha(n)
    runs = runner.fire(
        "pull_request",
        {"action": "opened", "pull_request": {"number": n, "head": {"sha": head}}},
        sha=head,
        ref=f"refs/pull/{n}/merge",
        changed=["grants/first-1.yaml"],
    )
    assert [r.workflow for r in runs] == ["jitops-pr.yml"]
    assert runs[0].ok, runs[0].output()
    states = {s.context: s.state for s in reversed(gh.statuses(head))}
    assert states["jitops/validate"] == "success"
    assert states["jitops/approval"] == "pending"

    # 4. the admin approves -> jitops pr approvals
    gh.review(n, ADMIN, "APPROVED")
    runs = runner.fire(
        "pull_request_review",
        {"action": "submitted", "pull_request": {"number": n}},
        sha=head,
        ref=f"refs/pull/{n}/merge",
        changed=[],
    )
    assert runs and runs[0].ok, runs[0].output()
    states = {s.context: s.state for s in reversed(gh.statuses(head))}
    assert states["jitops/approval"] == "success"

    # 5. merge -> push -> the generated jitops-issue.yml, Vault login by OIDC, the App pushes
    before = gh.branch_sha("main")
    gh.merge_pr(n, ADMIN)
    merged = gh.branch_sha("main")
    runs = d.push(before, ADMIN)
    assert [r.workflow for r in runs] == ["jitops-issue.yml"]
    assert runs[0].ok, runs[0].output()
    issued = time.monotonic() - started
    grant_on_main = gh.read_file("main", "grants/first-1.yaml") or ""
    assert "state: active" in grant_on_main
    print(f"\ntime from jitops init to the first issued grant: {issued:.1f}s")
    delivery = [c for c in gh.comments(n) if "BEGIN AGE ENCRYPTED FILE" in c]
    assert len(delivery) == 1
    # the App's own status commit queues no issue run
    assert gh.branch_sha("main") != merged
    runs = d.push(merged, APP)
    assert [r.workflow for r in runs] == ["jitops-issue.yml"]
    assert runs[0].steps == [], runs[0].output()

    # 6. the requester claims it on their laptop (comments by the App only)
    laptop = gh.clone(d.world.workdir / "laptop")
    claimed = jitops(
        "claim",
        "first-1",
        "--identity",
        str(d.world.key.private),
        "--format",
        "json",
        cwd=laptop,
        env={
            "GITHUB_API_URL": gh.api_url,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": gh.token(REQUESTER),
        },
    )
    # the starter role hands out a Vault token (no static secret): it works until revoked
    credential = json.loads(claimed)
    assert credential["kind"] == "token"
    token = credential["credentials"]["token"]
    grantee = Vault(d.world.vault_url, Secret(token), namespace=d.world.namespace)
    try:
        assert (grantee.read("secret/data/example/readonly") or {})["data"]["password"] == "pw-1"
    finally:
        grantee.close()

    # 7. the requester ends it early: the sweep workflow, dispatched -> jitops revoke
    runs = runner.fire(
        "workflow_dispatch",
        {"inputs": {}, "sender": {"login": REQUESTER}},
        sha=gh.branch_sha("main"),
        ref="refs/heads/main",
        changed=[],
        inputs={"grant": "first-1", "reason": "done with it"},
    )
    assert [r.workflow for r in runs] == ["jitops-sweep.yml"]
    assert runs[0].ok, runs[0].output()
    assert gh.read_file("main", "grants/first-1.yaml") is None
    # the credential stopped working with the revoke (not at some later expiry)
    grantee = Vault(d.world.vault_url, Secret(token), namespace=d.world.namespace)
    try:
        with pytest.raises(VaultError):
            grantee.read("secret/data/example/readonly")
    finally:
        grantee.close()

    # 8. audit: the history tells who had what, approved by whom, until when
    git(laptop, "pull", "-q", "origin", "main")
    audit = jitops("audit", "--format", "json", cwd=laptop)
    assert "first-1" in audit and REQUESTER in audit and ADMIN in audit
    verify = jitops("audit", "verify", cwd=laptop)
    assert "consistent" in verify


def test_the_harness_refuses_a_workflow_that_installs_from_the_tree(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    repo.mkdir()
    jitops(
        "init",
        str(repo),
        "--admins",
        "@acme/access-admins",
        "--action-ref",
        ACTION_SHA,
        cwd=tmp_path,
    )
    issue = repo / ".github" / "workflows" / "jitops-issue.yml"
    issue.write_text(
        issue.read_text().replace(
            "      - name: jitops issue\n",
            "      - name: Install jitops\n        run: python -m pip install .\n"
            "      - name: jitops issue\n",
        )
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=a", "-c", "user.email=a@example.com", "add", "-A")
    git(repo, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-qm", "init")
    sha = git(repo, "rev-parse", "HEAD").strip()
    runner = Runner(
        repo_path=repo,
        workdir=tmp_path / "runs",
        env={},
        secrets={"JITOPS_APP_ID": "1", "JITOPS_APP_PRIVATE_KEY": "k"},
        github_token="t",
        app_token="t",
        app_slug=APP_SLUG,
        workflows_from_repo=True,
    )
    with pytest.raises(HarnessError, match="never from the caller's checkout"):
        runner.fire(
            "push",
            {"ref": "refs/heads/main", "sender": {"login": ADMIN}},
            sha=sha,
            ref="refs/heads/main",
            changed=["grants/x-1.yaml"],
        )
    # a local action is refused as well
    issue.write_text(
        issue.read_text()
        .replace("      - name: Install jitops\n        run: python -m pip install .\n", "")
        .replace(f"uses: jitops/jitops@{ACTION_SHA}", "uses: ./")
    )
    git(repo, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-qam", "local")
    sha = git(repo, "rev-parse", "HEAD").strip()
    with pytest.raises(HarnessError, match="runs an action from the caller's checkout"):
        runner.fire(
            "push",
            {"ref": "refs/heads/main", "sender": {"login": ADMIN}},
            sha=sha,
            ref="refs/heads/main",
            changed=["grants/x-1.yaml"],
        )
