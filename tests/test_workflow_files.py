"""The shipped workflows are hardened as docs/workflows.md says, and agree with `vault setup`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jitops.setup.vault import DEFAULT_WORKFLOWS
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
        (job,) = wf["jobs"].values()
        groups.append(job["concurrency"])
        assert job["environment"] == "jitops"
    assert groups[0] == groups[1] == {"group": "jitops-ledger", "cancel-in-progress": "false"}


def test_this_repositorys_workflows_are_init_s_output() -> None:
    """Our own jitops-*.yml are what `jitops init` writes (no drift from the templates)."""
    from jitops.setup.init import WORKFLOWS, InitOptions, render_workflow

    for name in WORKFLOWS:
        text = (ROOT / ".github" / "workflows" / name).read_text()
        pinned = re.search(r"uses: jitops/jitops@([0-9a-f]{40})", text)
        assert pinned, name
        options = InitOptions(("@acme/access-admins",), "acme-jitops", "jitops/jitops", pinned[1])
        assert render_workflow(name, options) == text, f"{name} differs from the template"


def test_the_action_takes_nothing_from_the_callers_checkout() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    runs = [s for s in action["runs"]["steps"] if "run" in s]
    for step in runs:
        assert "${{" not in step["run"], f"expression inside run: in {step['name']}"
        assert "GITHUB_WORKSPACE" not in step["run"]
    install = next(s for s in runs if "pip" in s["run"])
    assert install["env"]["JITOPS_ACTION_DIR"] == "${{ github.action_path }}"
    assert install["working-directory"] == "${{ github.action_path }}"
    assert "--require-hashes" in install["run"]
    assert '-r "$JITOPS_ACTION_DIR/requirements/action.txt"' in install["run"]
    assert '--no-deps --no-build-isolation --no-index "$JITOPS_ACTION_DIR"' in install["run"]
    for step in action["runs"]["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_the_action_lock_pins_every_dependency_with_hashes() -> None:
    """requirements/action.txt satisfies pyproject.toml (CI also installs it: .ci/run)."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (ROOT / "requirements" / "action.txt").read_text()
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", lock):
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if m:
            assert "--hash=sha256:" in block, f"{m[1]} has no hash"
            pins[canonicalize_name(m[1])] = m[2]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = list(project["project"]["dependencies"]) + list(project["build-system"]["requires"])
    for spec in needed:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements/action.txt: re-run pip-compile"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} does not satisfy {spec}: re-run pip-compile"
        )


def _run_action_step(tmp_path: Path, command: str, args: str, prints: str) -> tuple[int, Any]:
    """Run the Action's `jitops` step with a stand-in jitops that records its arguments."""
    import json
    import os
    import subprocess
    import sys

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "jitops").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f'open({str(tmp_path / "argv.json")!r}, "w").write(json.dumps(sys.argv[1:]))\n'
        f"print({prints!r})\n"
    )
    for exe in venv.iterdir():
        exe.chmod(0o755)
    output = tmp_path / "output"
    output.touch()
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "JITOPS_VENV": str(tmp_path / "venv"),
        "JITOPS_COMMAND": command,
        "JITOPS_ARGS": args,
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    argv = (tmp_path / "argv.json").read_text() if (tmp_path / "argv.json").exists() else None
    return proc.returncode, (json.loads(argv) if argv else None, output.read_text())


def test_the_action_passes_arguments_without_a_shell(tmp_path: Path) -> None:
    hostile = "--reason=$(touch pwned); `touch pwned2` 'q' \"dq\" *\n--\nstg-octocat-2"
    rc, (argv, outputs) = _run_action_step(tmp_path, "revoke", hostile, '[{"grant": "x"}]')
    assert rc == 0
    assert argv == [
        "revoke",
        "--reason=$(touch pwned); `touch pwned2` 'q' \"dq\" *",
        "--",
        "stg-octocat-2",
    ]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert "exit-code=0" in outputs
    assert '[{"grant": "x"}]' in outputs  # the outcomes output, when jitops printed JSON


def test_the_action_refuses_a_command_that_is_not_words(tmp_path: Path) -> None:
    rc, (argv, _) = _run_action_step(tmp_path, "issue; touch pwned", "", "")
    assert rc == 2 and argv is None
    assert not (tmp_path / "pwned").exists()


def test_the_sweep_publishes_the_audit_report() -> None:
    """Every sweep run, whatever the sweep's outcome, writes the report from one audit pass:
    the html as an artifact, the short summary (no free text) into the job summary."""
    wf = load(ROOT / ".github" / "workflows" / "jitops-sweep.yml")
    (job,) = wf["jobs"].values()
    steps = {s.get("name"): s for s in job["steps"]}
    report = steps["jitops audit report"]
    assert report["if"] == "${{ !cancelled() }}"
    assert report["with"]["command"] == "audit"
    args = report["with"]["args"].splitlines()  # one argument per line
    assert "--format=html" in args and "--ref=refs/remotes/origin/main" in args
    html_out = next(a.split("=", 1)[1] for a in args if a.startswith("--output="))
    summary = next(a.split("=", 1)[1] for a in args if a.startswith("--summary="))
    assert steps["Job summary"]["run"].strip() == (
        'cat "$RUNNER_TEMP/jitops-audit-summary.md" >> "$GITHUB_STEP_SUMMARY"'
    )
    assert summary == "${{ runner.temp }}/jitops-audit-summary.md"
    keep = steps["Keep the report"]
    assert keep["uses"].startswith(
        "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"
    )
    assert keep["with"]["path"] == html_out
    assert set(job["permissions"]) == {"contents", "id-token"}  # nothing more for this
