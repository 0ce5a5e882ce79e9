"""`jitops doctor`, GitHub part."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jitops.doctor_github import github_findings, shipped_workflows
from tests.conftest import ROOT


def test_shipped_templates_are_the_repository_workflows() -> None:
    shipped = shipped_workflows()
    assert set(shipped) == {"jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml"}
    for name, text in shipped.items():
        assert (ROOT / ".github" / "workflows" / name).read_text() == text


GOOD = {
    "contexts": ["jitops/validate", "jitops/approval"],
    "dismiss_stale_reviews": True,
    "require_code_owner_reviews": True,
}


def failing(root: Path, protection: dict | None) -> list[str]:  # type: ignore[type-arg]
    return [f.message for f in github_findings(root, protection, shipped_workflows()) if not f.ok]


def test_this_repository_passes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    assert failing(tmp_path, GOOD) == []


def test_every_gap_is_found_with_a_fix(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(
        ROOT / ".github" / "workflows" / "jitops-pr.yml", tmp_path / ".github" / "workflows"
    )
    issue = (ROOT / ".github" / "workflows" / "jitops-issue.yml").read_text()
    (tmp_path / ".github" / "workflows" / "jitops-issue.yml").write_text(
        issue.replace("cancel-in-progress: false", "cancel-in-progress: true")
    )
    problems = failing(tmp_path, {"contexts": ["jitops/validate"]})
    assert ".github/workflows/jitops-sweep.yml is missing" in problems
    assert any(
        "jitops-issue.yml differs" in p and "cancel-in-progress: true" in p for p in problems
    )
    assert "policies/ has no code owner" in problems
    assert "main does not require jitops/approval" in problems
    assert "approvals survive new pushes" in problems
    assert "code-owner review is not required" in problems
    assert "main is not protected" in failing(tmp_path, None)
    assert all(f.fix for f in github_findings(tmp_path, None, shipped_workflows()) if not f.ok)


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
    assert gh.branch_protection("main") == GOOD
