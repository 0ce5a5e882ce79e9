"""`jitops init`: what an admin sees when scaffolding an access repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core.policy import load_policy
from jitops.setup.init import InitOptions, plan_init, release
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
        ".jitops/policy-test.schema.json",
        ".jitops/policy.schema.json",
        ".pre-commit-config.yaml",
        "grants/README.md",
        "policies/policy.yaml",
        "policies/tests/policy.yaml",
    ]
    assert "12 file(s) written" in out and "docs/setup.md" in out
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
    # in git, release.json has no commit: only the release build can know it
    assert release() == type(release())("jitops/jitops", "")
    code, out = run("init", str(tmp_path), "--admins", "@a/b")
    assert code == 2 and "pass --action-ref" in out


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
