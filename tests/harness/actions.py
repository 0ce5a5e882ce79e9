"""A small GitHub Actions runner for the shipped workflows, against the loopback stand-ins.

It reads the REAL workflow files, selects the jobs an event triggers (event, activity types,
branches, paths), evaluates the expressions the workflows use, builds GitHub's environment and
runs every `run:` step with bash. Emulated, and only these: `actions/checkout` (a real clone of
the stand-in's repository at the event's commit), `actions/setup-python` (the test's own
interpreter), and the `python -m pip install .` step (jitops is already installed in the test
environment; the access repository of the stand-in is not a Python project). Anything else —
another action, an unknown expression or context — fails the test.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
INSTALL = "python -m pip install ."


class HarnessError(AssertionError):
    pass


@dataclass
class StepResult:
    job: str
    name: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Run:
    workflow: str
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return all(s.returncode == 0 for s in self.steps)

    def output(self) -> str:
        return "\n".join(
            f"[{s.job}/{s.name}] rc={s.returncode}\n{s.stdout}{s.stderr}" for s in self.steps
        )


def _glob(pattern: str, path: str) -> bool:
    regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
    return re.fullmatch(regex, path) is not None


# -- expressions --------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(==|!=|&&|\|\||!|\(|\)|'(?:[^']|'')*'|[A-Za-z_][\w.-]*)")


def evaluate(expr: str, ctx: dict[str, Any]) -> Any:
    tokens = [t for t in _TOKEN.findall(expr)]
    if "".join(t.strip() for t in tokens) != expr.replace(" ", ""):
        raise HarnessError(f"unsupported expression: {expr!r}")
    pos = 0

    def peek() -> str | None:
        return tokens[pos].strip() if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1].strip()

    def atom() -> Any:
        t = take()
        if t == "(":
            v = or_()
            if take() != ")":
                raise HarnessError(f"unbalanced: {expr!r}")
            return v
        if t == "!":
            return not atom()
        if t.startswith("'"):
            return t[1:-1].replace("''", "'")
        if t in ("true", "false"):
            return t == "true"
        head, *rest = t.split(".")
        if head not in ctx:
            raise HarnessError(f"unknown context {head!r} in {expr!r}")
        value = ctx[head]
        for part in rest:
            if not isinstance(value, dict):
                raise HarnessError(f"cannot index {t!r}")
            value = value.get(part, "")
        return value

    def cmp() -> Any:
        left = atom()
        while peek() in ("==", "!="):
            op = take()
            right = atom()
            left = (str(left).lower() == str(right).lower()) == (op == "==")
        return left

    def and_() -> Any:
        left = cmp()
        while peek() == "&&":
            take()
            right = cmp()
            left = left and right
        return left

    def or_() -> Any:
        left = and_()
        while peek() == "||":
            take()
            right = and_()
            left = left or right
        return left

    value = or_()
    if pos != len(tokens):
        raise HarnessError(f"trailing tokens in {expr!r}")
    return value


def substitute(text: str, ctx: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: str(evaluate(m.group(1), ctx)), text)


# -- the runner ---------------------------------------------------------------------------------
@dataclass
class Runner:
    repo_path: Path  # the stand-in's bare repository
    workdir: Path
    env: dict[str, str]  # GITHUB_API_URL etc.
    secrets: dict[str, str]
    github_token: str
    oidc_env: Any = None  # callable(workflow_file) -> {ACTIONS_ID_TOKEN_REQUEST_URL: ..., ...}
    runs: int = 0

    def triggered(self, event: str, payload: dict[str, Any], changed: list[str]) -> list[str]:
        out = []
        for path in sorted(WORKFLOWS.glob("jitops-*.yml")):  # the access repository's own
            wf = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # noqa: S506
            on = wf["on"]
            if event not in on:
                continue
            spec = on[event] or {}
            if isinstance(spec, dict):
                if "types" in spec and payload.get("action") not in spec["types"]:
                    continue
                if "branches" in spec:
                    ref = payload.get("ref", "")
                    if not any(
                        fnmatch.fnmatch(ref.removeprefix("refs/heads/"), b)
                        for b in spec["branches"]
                    ):
                        continue
                if "paths" in spec and not any(_glob(p, f) for p in spec["paths"] for f in changed):
                    continue
            out.append(path.name)
        return out

    def fire(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        sha: str,
        ref: str,
        changed: list[str],
        inputs: dict[str, str] | None = None,
    ) -> list[Run]:
        runs = []
        for name in self.triggered(event, payload, changed):
            runs.append(self._run_workflow(name, event, payload, sha, ref, inputs or {}))
        return runs

    def _run_workflow(
        self,
        name: str,
        event: str,
        payload: dict[str, Any],
        sha: str,
        ref: str,
        inputs: dict[str, str],
    ) -> Run:
        wf = yaml.safe_load((WORKFLOWS / name).read_text())
        run = Run(name)
        self.runs += 1
        base = self.workdir / f"run-{self.runs}"
        base.mkdir(parents=True)
        event_path = base / "event.json"
        event_path.write_text(json.dumps(payload))
        summary = base / "summary.md"
        ctx = {
            "github": {
                "event_name": event,
                "token": self.github_token,
                "sha": sha,
                "ref": ref,
                "event": payload,
            },
            "secrets": self.secrets,
            "inputs": inputs,
            "env": {},
        }
        for job_name, job in wf["jobs"].items():
            if "if" in job and not evaluate(str(job["if"]), ctx):
                continue
            checkout = base / job_name
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("GITHUB_", "VAULT_", "ACTIONS_", "JITOPS_"))
                },
                **self.env,
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": event,
                "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_SHA": sha,
                "GITHUB_REF": ref,
                "GITHUB_WORKSPACE": str(checkout),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_OUTPUT": str(base / "output"),
                "GITHUB_ENV": str(base / "env"),
                "RUNNER_TEMP": str(base),
                "HOME": str(base),
                "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
            }
            if job.get("permissions", {}).get("id-token") == "write" and self.oidc_env:
                env.update(self.oidc_env(name))
            for step in job["steps"]:
                label = step.get("name") or step.get("uses") or step.get("run", "")[:30]
                if "if" in step and not evaluate(str(step["if"]), ctx):
                    continue
                if "uses" in step:
                    action = step["uses"].split("@")[0]
                    if action == "actions/checkout":
                        subprocess.run(
                            ["git", "clone", "-q", str(self.repo_path), str(checkout)], check=True
                        )
                        subprocess.run(["git", "checkout", "-q", sha], cwd=checkout, check=True)
                        subprocess.run(
                            ["git", "checkout", "-q", "-B", ref.removeprefix("refs/heads/"), sha],
                            cwd=checkout,
                            check=True,
                        ) if ref.startswith("refs/heads/") else None
                    elif action != "actions/setup-python":
                        raise HarnessError(f"{name}: action {action} is not emulated")
                    continue
                script = step["run"]
                if script.strip() == INSTALL:
                    continue  # emulated: jitops is installed in this environment
                step_env = {
                    **env,
                    **{k: substitute(str(v), ctx) for k, v in (step.get("env") or {}).items()},
                }
                step_env = {k: v for k, v in step_env.items() if v != ""}
                proc = subprocess.run(
                    ["bash", "-e", "-c", script],
                    cwd=checkout,
                    env=step_env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                run.steps.append(
                    StepResult(job_name, label, proc.returncode, proc.stdout, proc.stderr)
                )
                if proc.returncode != 0:
                    break
        run.summary = summary.read_text() if summary.exists() else ""
        return run
