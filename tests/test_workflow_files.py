"""The shipped workflows are hardened as STYLE.md asks, and agree with `vault setup`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jitops.vaultsetup import DEFAULT_WORKFLOWS
from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # noqa: S506
    return data


def test_the_lifecycle_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml", "ci.yml"} <= names
    # the Vault JWT role written by `vault setup` trusts exactly these two files
    assert {Path(w).name for w in DEFAULT_WORKFLOWS} == {"jitops-issue.yml", "jitops-sweep.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_hardening(path: Path) -> None:
    wf = load(path)
    assert wf["permissions"] == {}, "top-level permissions must be {}"
    for name, job in wf["jobs"].items():
        assert "timeout-minutes" in job, f"{name} has no timeout"
        assert "permissions" in job, f"{name} must grant its own permissions"
        pushes = job["permissions"].get("id-token") == "write"
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                if step["uses"].startswith("actions/checkout@"):
                    want = "true" if pushes else "false"
                    assert step["with"]["persist-credentials"] == want
            if "run" in step:
                assert "${{" not in step["run"], f"expression inside run: in {name}"


def test_issue_and_sweep_share_one_queue_without_cancelling() -> None:
    groups = []
    for name in ("jitops-issue.yml", "jitops-sweep.yml"):
        wf = load(ROOT / ".github" / "workflows" / name)
        groups.append(wf["concurrency"])
        assert wf["jobs"][next(iter(wf["jobs"]))]["environment"] == "jitops"
    assert groups[0] == groups[1] == {"group": "jitops-ledger", "cancel-in-progress": "false"}
