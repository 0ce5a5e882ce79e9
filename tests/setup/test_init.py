"""`jitops init`: what an admin sees when scaffolding an access repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core.policy import load_policy
from jitops.release import build
from jitops.setup.init import InitOptions, plan_init
from tests.conftest import ROOT

SHA = "89abcdef0123456789abcdef0123456789abcdef"
ARGS = ["--admins", "@acme/access-admins", "--app-slug", "acme-jitops", "--action-ref", SHA]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_init_writes_a_complete_repository(tmp_path: Path) -> None:
    code, out = run("init", str(tmp_path / "access"), *ARGS)
    assert code == 0, out
    root = tmp_path / "access"
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == [
        ".github/CODEOWNERS",
        ".github/workflows/jitops-issue.yml",
        ".github/workflows/jitops-pr.yml",
        ".github/workflows/jitops-sweep.yml",
        ".gitignore",
        ".jitops/grant.schema.json",
        ".jitops/init.schema.json",
        ".jitops/init.yaml",
        ".jitops/policy-test.schema.json",
        ".jitops/policy.schema.json",
        ".pre-commit-config.yaml",
        "grants/README.md",
        "policies/policy.yaml",
        "policies/tests/policy.yaml",
    ]
    assert "14 file(s) written" in out and "docs/setup.md" in out
    # the policy loads, names the App as the bot, and its tests pass
    policy = load_policy({"policies/policy.yaml": (root / "policies/policy.yaml").read_bytes()})
    assert policy.settings.bot == "acme-jitops[bot]"
    code, out = run("policy", "test", "--repo", str(root))
    assert (code, out.strip().splitlines()[-1]) == (0, "4 passed, 0 failed")
    # every workflow pins the Action to the commit asked for
    for name in ("jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml"):
        text = (root / ".github/workflows" / name).read_text()
        assert f"uses: jitops/jitops@{SHA}" in text
        assert "@@" not in text
    pre_commit = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    assert pre_commit["repos"][0]["rev"] == SHA
    assert pre_commit["repos"][0]["hooks"] == [{"id": "jitops-validate"}]
    schema = json.loads((root / ".jitops/grant.schema.json").read_text())
    assert schema["additionalProperties"] is False


def test_init_is_idempotent_and_never_overwrites_silently(tmp_path: Path) -> None:
    root = tmp_path / "access"
    assert run("init", str(root), *ARGS)[0] == 0
    code, out = run("init", str(root), *ARGS)
    assert code == 0 and "already set up: nothing to write" in out
    policy = root / "policies" / "policy.yaml"
    policy.write_text(policy.read_text() + "# my change\n")
    (root / "grants" / "README.md").unlink()
    code, out = run("init", str(root), *ARGS)
    assert code == 1
    assert "policies/policy.yaml: already exist(s) with other content; nothing was written" in out
    assert not (root / "grants" / "README.md").exists(), "a refused run writes nothing"
    assert policy.read_text().endswith("# my change\n")
    # --dry-run says what --force would do, and does nothing
    code, out = run("init", str(root), *ARGS, "--force", "--dry-run")
    assert code == 0
    assert "would overwrite  policies/policy.yaml" in out
    assert "would create  grants/README.md" in out
    assert policy.read_text().endswith("# my change\n")
    code, out = run("init", str(root), *ARGS, "--force")
    assert code == 0 and "overwrote  policies/policy.yaml" in out
    assert not policy.read_text().endswith("# my change\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--admins", "acme/admins", "--action-ref", SHA], "is not '@login' or '@org/team-slug'"),
        (["--admins", "*", "--action-ref", SHA], "--admins cannot be '*'"),
        (["--action-ref", SHA], "--admins is required"),
        (["--admins", "@a/b", "--action-ref", "v1.2.0"], "is not a full commit SHA"),
        (["--admins", "@a/b", "--action-ref", SHA, "--app-slug", "Bad Slug"], "App slug"),
        (["--admins", "@a/b", "--action-ref", SHA, "--action-repo", "x"], "is not OWNER/REPO"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = run("init", str(tmp_path / "x"), *args)
    assert code == 2 and message in out, out
    assert "Traceback" not in out
    assert not (tmp_path / "x").exists()


def test_a_development_build_asks_for_the_action_ref(tmp_path: Path) -> None:
    # the source tree is not a build: only a build knows its commit (tests/test_release.py
    # builds a wheel and shows it pins the stamped commit with no flag)
    assert build().commit == ""
    code, out = run("init", str(tmp_path), "--admins", "@a/b")
    assert code == 2 and "pass --action-ref" in out
    assert "not a build" in out


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".github").write_text("not a folder")
    code, out = run("init", str(tmp_path), *ARGS)
    assert code == 1
    assert "error: .github: is in the way (not a folder); move it away and run init again" in out
    assert (tmp_path / ".github").read_text() == "not a folder"


def test_help_explains_the_command() -> None:
    code, out = run("init", "--help")
    assert code == 0
    assert "--action-ref" in out and "--dry-run" in out and "--force" in out


def test_codeowners_leaves_only_grant_files_to_requesters() -> None:
    options = InitOptions(("@acme/access-admins", "@ciso"), "acme-jitops", "jitops/jitops", SHA)
    text = plan_init(options)[".github/CODEOWNERS"]
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines == ["*                  @acme/access-admins @ciso", "/grants/*.yaml"]


def test_the_shipped_hook_runs_validate() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["jitops-validate"]
    assert hooks[0]["entry"] == "jitops validate"
    assert hooks[0]["language"] == "python"


def test_grants_readme_template_is_this_repositorys() -> None:
    assert (ROOT / "jitops/templates/grants-README.md").read_text() == (
        ROOT / "grants/README.md"
    ).read_text()


ORG = [
    "--runs-on",
    "self-hosted",
    "--runs-on",
    "linux,x64",
    "--vault-namespace",
    "admin/team-a",
    "--vault-ca-cert-secret",
    "VAULT_CA_CERT",
    "--jwt-mount",
    "github/jwt",
    "--environment",
    "access",
]


def _jobs(root: Path, name: str) -> dict[str, dict[str, object]]:
    wf = yaml.safe_load((root / ".github/workflows" / name).read_text())
    jobs: dict[str, dict[str, object]] = wf["jobs"]
    return jobs


def _vault_steps(root: Path) -> list[dict[str, object]]:
    """Every step that runs a jitops command logging in to Vault (issue, revoke, sweep)."""
    steps = []
    for name in ("jitops-issue.yml", "jitops-sweep.yml"):
        for job in _jobs(root, name).values():
            steps += [s for s in job["steps"] if "VAULT_ADDR" in (s.get("env") or {})]  # type: ignore[attr-defined, union-attr]
    return steps


def test_the_organisation_s_choices_land_in_every_job(tmp_path: Path) -> None:
    root = tmp_path / "access"
    code, out = run("init", str(root), *ARGS, *ORG)
    assert code == 0, out
    assert "--environment access --runner-environment self-hosted" in out
    for name in ("jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml"):
        for job in _jobs(root, name).values():
            assert job["runs-on"] == ["self-hosted", "linux", "x64"]
    for name in ("jitops-issue.yml", "jitops-sweep.yml"):
        (job,) = _jobs(root, name).values()
        assert job["environment"] == "access"
        steps: list[dict[str, object]] = job["steps"]  # type: ignore[assignment]
        ca = next(i for i, s in enumerate(steps) if "VAULT_CA_PEM" in (s.get("env") or {}))  # type: ignore[operator]
        assert steps[ca]["env"] == {"VAULT_CA_PEM": "${{ secrets.VAULT_CA_CERT }}"}
        first_vault = next(i for i, s in enumerate(steps) if "VAULT_ADDR" in (s.get("env") or {}))  # type: ignore[operator]
        assert ca < first_vault, "the CA file is written before any Vault login"
    vault_steps = _vault_steps(root)
    assert len(vault_steps) == 3  # issue, revoke, sweep
    for step in vault_steps:
        assert step["env"] == {
            "VAULT_ADDR": "${{ secrets.VAULT_ADDR }}",
            "VAULT_NAMESPACE": "admin/team-a",
            "VAULT_CACERT": "${{ runner.temp }}/jitops-vault-ca.pem",
        }
    policy = load_policy({"policies/policy.yaml": (root / "policies/policy.yaml").read_bytes()})
    assert policy.settings.vault.jwt_mount == "github/jwt"
    record = yaml.safe_load((root / ".jitops/init.yaml").read_text())
    assert record["runs_on"] == ["self-hosted", "linux", "x64"]
    assert record["vault"] == {
        "namespace": "admin/team-a",
        "ca_cert_secret": "VAULT_CA_CERT",
        "jwt_mount": "github/jwt",
    }
    assert record["action"] == {"repository": "jitops/jitops", "ref": SHA}


def test_defaults_leave_no_trace_of_the_options(tmp_path: Path) -> None:
    root = tmp_path / "access"
    assert run("init", str(root), *ARGS)[0] == 0
    text = "".join(
        (root / ".github/workflows" / n).read_text()
        for n in ("jitops-issue.yml", "jitops-sweep.yml")
    )
    assert "VAULT_NAMESPACE" not in text and "VAULT_CACERT" not in text
    assert "runs-on: ubuntu-latest" in text and "environment: jitops" in text
    assert "jwt_mount" not in (root / "policies/policy.yaml").read_text()


NEW = "fedcba9876543210fedcba9876543210fedcba98"


def test_upgrade_moves_the_pin_and_keeps_every_choice(tmp_path: Path) -> None:
    root = tmp_path / "access"
    assert run("init", str(root), *ARGS, *ORG)[0] == 0
    before = {p: p.read_text() for p in root.rglob("*") if p.is_file()}
    code, out = run("init", str(root), "--upgrade", "--action-ref", NEW)
    assert code == 0, out
    assert f"the workflows pin jitops/jitops@{NEW}" in out
    for path, text in before.items():
        now = path.read_text()
        rel = str(path.relative_to(root))
        if rel.startswith(".github/workflows/") or rel == ".pre-commit-config.yaml":
            assert now == text.replace(SHA, NEW), rel
        elif rel == ".jitops/init.yaml":
            assert NEW in now and "admin/team-a" in now
        else:
            assert now == text, f"{rel}: an upgrade touches only the files init manages"
    assert len(_vault_steps(root)) == 3
    # again: nothing to do
    code, out = run("init", str(root), "--upgrade", "--action-ref", NEW)
    assert code == 0 and "is up to date" in out
    # an option given with --upgrade changes that choice only
    code, out = run("init", str(root), "--upgrade", "--action-ref", NEW, "--runs-on", "big")
    assert code == 0, out
    assert _jobs(root, "jitops-pr.yml")["check"]["runs-on"] == "big"
    assert all(s["env"]["VAULT_NAMESPACE"] == "admin/team-a" for s in _vault_steps(root))  # type: ignore[index]


def test_upgrade_reports_a_hand_edit_and_overwrites_it_only_with_force(tmp_path: Path) -> None:
    root = tmp_path / "access"
    assert run("init", str(root), *ARGS)[0] == 0
    pr = root / ".github/workflows/jitops-pr.yml"
    pr.write_text(pr.read_text().replace("timeout-minutes: 10", "timeout-minutes: 12"))
    issue_before = (root / ".github/workflows/jitops-issue.yml").read_text()
    code, out = run("init", str(root), "--upgrade", "--action-ref", NEW)
    assert code == 1
    assert ".github/workflows/jitops-pr.yml: changed by hand since `jitops init` rendered it" in out
    assert "nothing was written" in out
    assert (root / ".github/workflows/jitops-issue.yml").read_text() == issue_before
    assert "timeout-minutes: 12" in pr.read_text()
    code, out = run("init", str(root), "--upgrade", "--action-ref", NEW, "--dry-run")
    assert code == 0 and "changed by hand  .github/workflows/jitops-pr.yml" in out
    code, out = run("init", str(root), "--upgrade", "--action-ref", NEW, "--force")
    assert code == 0 and "overwrote  .github/workflows/jitops-pr.yml" in out
    assert "timeout-minutes: 12" not in pr.read_text() and NEW in pr.read_text()


def test_upgrade_needs_the_record(tmp_path: Path) -> None:
    code, out = run("init", str(tmp_path), "--upgrade", "--action-ref", NEW)
    assert code == 2 and ".jitops/init.yaml does not exist" in out
    assert run("init", str(tmp_path / "a"), *ARGS)[0] == 0
    record = tmp_path / "a" / ".jitops" / "init.yaml"
    record.write_text(record.read_text().replace("runs_on: [", 'runs_on: ["bad label", '))
    code, out = run("init", str(tmp_path / "a"), "--upgrade", "--action-ref", NEW)
    assert code == 1 and "init.yaml" in out and "runs_on" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs-on", "self hosted"], "is not a runner label"),
        (["--runs-on", "a,${{ secrets.X }}"], "is not a runner label"),
        (["--vault-namespace", "admin team"], "is not a Vault namespace path"),
        (["--vault-ca-cert-secret", "GITHUB_CA"], "is not a GitHub secret name"),
        (["--vault-ca-cert-secret", "a-b"], "is not a GitHub secret name"),
        (["--jwt-mount", "jwt mount"], "is not a Vault auth mount path"),
        (["--environment", "jit ops"], "is not an environment name"),
    ],
)
def test_organisation_options_are_checked(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = run("init", str(tmp_path / "x"), *ARGS, *args)
    assert code == 2 and message in out, out
    assert not (tmp_path / "x").exists()
