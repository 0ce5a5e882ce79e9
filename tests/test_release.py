"""A release as an adopter gets it: the jitops wheel alone, built from a clean copy of the tree.

Both distributions are built from a `git clone` of this repository (what a tag's checkout
is); only the jitops wheel is installed, the way the Action installs it (the hash-locked
requirements/action.txt, then the wheel without dependencies), into a fresh virtual
environment that sees no source tree. Then: no stand-in module exists, `jitops --version`
names the commit, `jitops init` in an empty repository pins that commit with no flag, the
organisation's choices land in every job that needs them and survive `init --upgrade` with
another pin, and zizmor finds nothing in the result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
OTHER = "0123456789abcdef0123456789abcdef01234567"


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment of someone outside this checkout: no PYTHONPATH, no virtualenv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(tmp / "home")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _jobs(root: Path) -> list[tuple[str, dict[str, object]]]:
    out = []
    for path in sorted((root / ".github" / "workflows").glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            out.append((f"{path.name}:{name}", job))
    return out


def _vault_steps(root: Path) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = []
    for _, job in _jobs(root):
        for step in job["steps"]:  # type: ignore[attr-defined]
            if "VAULT_ADDR" in (step.get("env") or {}):
                steps.append(step)
    return steps


def _check_choices(root: Path, pin: str) -> None:
    jobs = _jobs(root)
    assert len(jobs) == 5  # check, approvals, merge-queue, issue, sweep
    for where, job in jobs:
        assert job["runs-on"] == "self-hosted", where
        for step in job["steps"]:  # type: ignore[attr-defined]
            if "jitops/jitops@" in str(step.get("uses", "")):
                assert step["uses"] == f"jitops/jitops@{pin}", where
    vault = _vault_steps(root)
    assert len(vault) == 3  # issue, revoke, sweep: every step that logs in to Vault
    assert all(s["env"]["VAULT_NAMESPACE"] == "admin/team-a" for s in vault)  # type: ignore[index]


def test_the_jitops_wheel_alone_pins_the_commit_it_was_built_from(tmp_path: Path) -> None:
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert zizmor, "zizmor is a dev dependency: pip install -e './sandbox' -e '.[dev]'"
    env = _clean_env(tmp_path)

    # a clean copy of the tree, and both distributions built from it
    src = tmp_path / "src"
    _run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(src)], tmp_path)
    head = _run(["git", "rev-parse", "HEAD"], src).strip()
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)]
    _run([*build, "."], src)
    _run([*build, "sandbox"], src)
    (wheel,) = dist.glob("jitops-*.whl")
    (sandbox_wheel,) = dist.glob("jitops_sandbox-*.whl")
    assert wheel.name != sandbox_wheel.name

    # only the jitops wheel, installed as the Action installs it, in a fresh environment
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--quiet", "--no-input", "--no-deps"]
    lock = src / "requirements" / "action.txt"
    _run([*pip, "--require-hashes", "--only-binary", ":all:", "-r", str(lock)], tmp_path, env)
    _run([*pip, str(wheel)], tmp_path, env)
    jitops = str(venv / "bin" / "jitops")

    where = _run(
        [
            str(py),
            "-I",
            "-c",
            "import importlib.util as u, jitops; print(jitops.__file__); "
            "print([m for m in ('jitops.sandbox', 'jitops.demo', 'jitops_sandbox') "
            "if u.find_spec(m)])",
        ],
        tmp_path,
        env,
    ).splitlines()
    assert where[0].startswith(str(venv)), f"jitops came from {where[0]}, not the wheel"
    assert where[1] == "[]", f"stand-ins in the production wheel: {where[1]}"

    version = _run([jitops, "--version"], tmp_path, env)
    assert f"(commit {head})" in version, version

    # an empty repository, no --action-ref
    access = tmp_path / "access"
    _run(["git", "init", "--quiet", str(access)], tmp_path, env)
    org = ["--runs-on", "self-hosted", "--vault-namespace", "admin/team-a"]
    out = _run(
        [jitops, "init", str(access), "--admins", "@acme/access-admins", *org], tmp_path, env
    )
    assert "written" in out
    _check_choices(access, head)
    pre_commit = yaml.safe_load((access / ".pre-commit-config.yaml").read_text())
    assert pre_commit["repos"][0]["rev"] == head

    # another pin: every choice stays
    _run([jitops, "init", str(access), "--upgrade", "--action-ref", OTHER], tmp_path, env)
    _check_choices(access, OTHER)
    assert f'ref: "{OTHER}"' in (access / ".jitops" / "init.yaml").read_text()

    # and zizmor finds nothing in what an adopter commits
    _run([zizmor, "--offline", str(access / ".github" / "workflows")], tmp_path, env)
