"""A small GitHub Actions runner for jitops' workflows, against the loopback stand-ins.

It reads REAL workflow files (this repository's, or an access repository's at the event's
commit, as GitHub does), selects the jobs an event triggers (event, activity types, branches,
paths), evaluates the expressions the workflows use, builds GitHub's environment and runs every
`run:` step with bash. The jitops Action (`<action repo>@<full SHA>`) is resolved to THIS
checkout's `action.yml` and its composite steps run too. Emulated, and only these:
`actions/checkout` (a real clone of the stand-in's repository at the event's commit),
`actions/setup-python` (the test's own interpreter), `actions/create-github-app-token` (the
token of the stand-in's App account, given only when the App id and key secrets are set), and
the Action's install step (jitops is already installed in the test environment: the step is
checked to install from the Action's own directory with --require-hashes, then replaced by a
venv whose `jitops` is the test's). A workflow that installs anything itself (code from the
caller's checkout above all), uses a local action (`./`), any other action, or an unknown
expression or context fails the test with :class:`HarnessError`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import jitops
import jitops_sandbox

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION = ROOT / "action.yml"
SHA = re.compile(r"^[0-9a-f]{40}$")


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
    artifacts: dict[str, bytes] = field(default_factory=dict)  # name -> the uploaded file

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


#: GitHub's job status check functions; a step ``if:`` without one means ``success() && ...``
#: (docs.github.com/en/actions/reference/workflows-and-actions/expressions#status-check-functions)
_STATUS_FUNCTIONS = ("always", "cancelled", "success", "failure")
_FAILED = "__a_step_failed__"  # the context key the status functions read


def _runs_after_failure(condition: str | None) -> bool:
    """Whether a step still runs once an earlier step of its job failed: only when its ``if:``
    calls a status function (and then the condition decides)."""
    return (
        condition is not None
        and re.search(r"\b(" + "|".join(_STATUS_FUNCTIONS) + r")\s*\(", condition) is not None
    )


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
        if t in _STATUS_FUNCTIONS and peek() == "(":
            take()
            if take() != ")":
                raise HarnessError(f"status functions take no argument: {expr!r}")
            failed = bool(ctx.get(_FAILED))
            return {
                "always": True,
                "cancelled": False,  # the harness never cancels a run
                "success": not failed,
                "failure": failed,
            }[t]
        head, *rest = t.split(".")
        if head not in ctx:
            raise HarnessError(f"unknown context {head!r} in {expr!r}")
        value = ctx[head]
        for part in rest:
            if value == "":  # a property of something missing (a skipped step) is null
                break
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


# -- refusing code from the caller's tree ---------------------------------------------------------
_INSTALLERS = re.compile(
    r"\b(pip3?|pipx|uv|poetry|pdm|hatch)\b[^\n;&|]*\binstall\b|setup\.py|\bpython3?\s+-m\s+build\b"
)


def installs_from_caller(script: str) -> str | None:
    """Why ``script`` (a workflow's `run:`) would install code, or None.

    A workflow of an access repository never installs anything itself: the jitops Action
    installs jitops from its own directory. Installing from the checkout (`pip install .`,
    `-e .`, `-r requirements.txt`, `setup.py`) would run code a pull request can change.
    """
    text = script.replace("\\\n", " ")
    for line in text.splitlines():
        m = _INSTALLERS.search(line)
        if m:
            return f"installs code in a workflow step ({line.strip()[:80]!r})"
    return None


def check_action_install(script: str) -> None:
    """The Action's own install step: hash-locked, and only from the Action's directory."""
    text = script.replace("\\\n", " ")
    installs = [ln for ln in text.splitlines() if re.search(r"\bpip\b.*\binstall\b", ln)]
    if not installs:
        raise HarnessError("the jitops Action does not install jitops")
    for line in installs:
        words = shlex.split(line)
        rest = words[words.index("install") + 1 :]
        targets: list[str] = []
        i = 0
        while i < len(rest):
            word = rest[i]
            if word in ("-r", "--requirement", "-e", "--editable", "-c", "--constraint"):
                targets.append(rest[i + 1])
                i += 2
            elif word in ("--only-binary", "--no-binary"):
                i += 2
            elif word.startswith("-"):
                i += 1
            else:
                targets.append(word)
                i += 1
        if "--require-hashes" not in words and "--no-index" not in words:
            raise HarnessError(f"the Action installs without --require-hashes: {line.strip()}")
        for t in targets:
            if not t.startswith("$JITOPS_ACTION_DIR"):
                raise HarnessError(
                    f"the Action installs {t!r}, which is not in its own directory "
                    "(it would take code from the caller's checkout or the network)"
                )


# -- the runner ---------------------------------------------------------------------------------
def _outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, mark = line.split("<<", 1)
            j = lines.index(mark, i + 1)
            out[key] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


@dataclass
class Runner:
    repo_path: Path  # the stand-in's bare repository
    workdir: Path
    env: dict[str, str]  # GITHUB_API_URL etc.
    secrets: dict[str, str]
    github_token: str
    oidc_env: Any = None  # callable(workflow_file) -> {ACTIONS_ID_TOKEN_REQUEST_URL: ..., ...}
    #: the GitHub App: its installation token and slug (what create-github-app-token outputs)
    app_token: str = ""
    app_slug: str = ""
    #: OWNER/REPO under which workflows refer to the jitops Action (resolved to this checkout)
    action_repo: str = "jitops/jitops"
    #: read the workflows from the stand-in's repository at the event's commit (as GitHub
    #: does) instead of this checkout's .github/workflows
    workflows_from_repo: bool = False
    #: the permissions of the App's installation (None: whatever a step asks); asking for
    #: another one fails the token step, as create-github-app-token does ("Setting a
    #: permission that the installation does not have will result in an error")
    app_permissions: frozenset[str] | None = None
    runs: int = 0
    log: list[str] = field(default_factory=list)

    # -- which workflows ------------------------------------------------------------------
    def _workflows(self, sha: str) -> dict[str, str]:
        if not self.workflows_from_repo:
            return {p.name: p.read_text() for p in sorted(WORKFLOWS.glob("jitops-*.yml"))}
        names = subprocess.run(
            ["git", "ls-tree", "--name-only", f"{sha}:.github/workflows"],
            cwd=self.repo_path,
            capture_output=True,
            text=True,
        ).stdout.split()
        return {
            n: subprocess.run(
                ["git", "show", f"{sha}:.github/workflows/{n}"],
                cwd=self.repo_path,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for n in sorted(names)
            if n.endswith((".yml", ".yaml"))
        }

    def triggered(
        self, event: str, payload: dict[str, Any], changed: list[str], sha: str = "HEAD"
    ) -> list[str]:
        out = []
        for name, text in self._workflows(sha).items():
            wf = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506
            on = wf["on"]
            if isinstance(on, str):
                on = {on: {}}
            elif isinstance(on, list):
                on = {e: {} for e in on}
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
            out.append(name)
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
        workflows = self._workflows(sha)
        runs = []
        for name in self.triggered(event, payload, changed, sha):
            runs.append(
                self._run_workflow(name, workflows[name], event, payload, sha, ref, inputs or {})
            )
        return runs

    # -- running --------------------------------------------------------------------------
    def _run_workflow(
        self,
        name: str,
        text: str,
        event: str,
        payload: dict[str, Any],
        sha: str,
        ref: str,
        inputs: dict[str, str],
    ) -> Run:
        wf = yaml.safe_load(text)
        for job in wf["jobs"].values():
            for step in job.get("steps", []):
                if "run" in step and (why := installs_from_caller(step["run"])):
                    raise HarnessError(
                        f"{name}: {why}; jitops must come from the pinned jitops Action, never "
                        "from the caller's checkout"
                    )
        run = Run(name)
        self.runs += 1
        base = self.workdir / f"run-{self.runs}"
        base.mkdir(parents=True)
        event_path = base / "event.json"
        event_path.write_text(json.dumps(payload))
        summary = base / "summary.md"
        # GitHub sets github.actor / GITHUB_ACTOR to who started the run (the event's sender;
        # for workflow_dispatch, who dispatched it), and a workflow cannot overwrite it
        sender = payload.get("sender")
        actor = str(sender.get("login", "")) if isinstance(sender, dict) else ""
        for job_name, job in wf["jobs"].items():
            ctx: dict[str, Any] = {
                "github": {
                    "actor": actor,
                    "triggering_actor": actor,
                    "event_name": event,
                    "token": self.github_token,
                    "sha": sha,
                    "ref": ref,
                    "event": payload,
                    "workspace": str(base / job_name),
                },
                "secrets": self.secrets,
                "inputs": inputs,
                "env": {},
                "steps": {},
                "runner": {"temp": str(base)},
            }
            if "if" in job and not evaluate(_bare(job["if"]), ctx):
                self.log.append(f"{name}/{job_name}: skipped by its if:")
                continue
            checkout = base / job_name
            checkout.mkdir()
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("GITHUB_", "VAULT_", "ACTIONS_", "JITOPS_", "RUNNER_"))
                },
                **self.env,
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": event,
                "GITHUB_EVENT_PATH": str(event_path),
                **({"GITHUB_ACTOR": actor, "GITHUB_TRIGGERING_ACTOR": actor} if actor else {}),
                "GITHUB_SHA": sha,
                "GITHUB_REF": ref,
                "GITHUB_WORKSPACE": str(checkout),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_ENV": str(base / "env"),
                "RUNNER_TEMP": str(base),
                "HOME": str(base),
            }
            job_env = {k: substitute(str(v), ctx) for k, v in (job.get("env") or {}).items()}
            env.update(job_env)
            ctx["env"] = dict(job_env)
            if job.get("permissions", {}).get("id-token") == "write" and self.oidc_env:
                env.update(self.oidc_env(name))
            ctx[_FAILED] = False
            for step in job["steps"]:
                label = step.get("name") or step.get("uses") or step.get("run", "")[:30]
                if ctx[_FAILED] and not _runs_after_failure(step.get("if")):
                    continue  # GitHub skips it: an if without a status function is success()
                if "if" in step and not evaluate(_bare(step["if"]), ctx):
                    continue
                step_env = {
                    **env,
                    **{k: substitute(str(v), ctx) for k, v in (step.get("env") or {}).items()},
                }
                if "uses" in step:
                    with_ = {
                        k: substitute(str(v), ctx) for k, v in (step.get("with") or {}).items()
                    }
                    before = len(run.steps)
                    outputs = self._uses(
                        name, job_name, step["uses"], with_, step_env, ctx, checkout, sha, ref, run
                    )
                    failed = len(run.steps) > before and run.steps[-1].returncode != 0
                    if step.get("id"):
                        # outcome: the result before continue-on-error is applied
                        ctx["steps"][step["id"]] = {
                            "outputs": outputs,
                            "outcome": "failure" if failed else "success",
                        }
                    if failed and step.get("continue-on-error") is not True:
                        ctx[_FAILED] = True
                        continue
                    if failed:  # the job goes on and does not fail for it (GitHub's rule)
                        self.log.append(f"{name}/{job_name}: {label} failed, continue-on-error")
                        run.steps.pop()
                    continue
                result, outputs = self._bash(step["run"], step_env, checkout, base)
                run.steps.append(StepResult(job_name, label, *result))
                if step.get("id"):
                    ctx["steps"][step["id"]] = {
                        "outputs": outputs,
                        "outcome": "failure" if result[0] != 0 else "success",
                    }
                if result[0] != 0:
                    ctx[_FAILED] = True
        run.summary = summary.read_text() if summary.exists() else ""
        return run

    def _bash(
        self, script: str, env: dict[str, str], cwd: Path, base: Path
    ) -> tuple[tuple[int, str, str], dict[str, str]]:
        self.outputs_seq = getattr(self, "outputs_seq", 0) + 1
        output_file = base / f"output-{self.outputs_seq}"
        output_file.touch()
        env = {**{k: v for k, v in env.items() if v != ""}, "GITHUB_OUTPUT": str(output_file)}
        proc = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return (proc.returncode, proc.stdout, proc.stderr), _outputs(output_file)

    def _uses(
        self,
        workflow: str,
        job: str,
        uses: str,
        with_: dict[str, str],
        env: dict[str, str],
        ctx: dict[str, Any],
        checkout: Path,
        sha: str,
        ref: str,
        run: Run,
    ) -> dict[str, str]:
        if uses.startswith("./") or uses.startswith("."):
            raise HarnessError(
                f"{workflow}: `uses: {uses}` runs an action from the caller's checkout; call "
                "the jitops Action pinned to a commit SHA"
            )
        action, _, version = uses.partition("@")
        if not SHA.match(version):
            raise HarnessError(f"{workflow}: {uses} is not pinned to a full commit SHA")
        if action == "actions/checkout":
            subprocess.run(["git", "clone", "-q", str(self.repo_path), str(checkout)], check=True)
            subprocess.run(["git", "checkout", "-q", sha], cwd=checkout, check=True)
            if ref.startswith("refs/heads/"):
                subprocess.run(
                    ["git", "checkout", "-q", "-B", ref.removeprefix("refs/heads/"), sha],
                    cwd=checkout,
                    check=True,
                )
            return {}
        if action == "actions/setup-python":
            return {"python-path": sys.executable, "python-version": sys.version.split()[0]}
        if action == "actions/create-github-app-token":
            if not with_.get("app-id") or not with_.get("private-key"):
                raise HarnessError(
                    f"{workflow}/{job}: create-github-app-token without an App id and key "
                    "(the secrets are not set for this job)"
                )
            if not self.app_token:
                raise HarnessError(f"{workflow}: no GitHub App configured in the harness")
            asked = {k.removeprefix("permission-") for k in with_ if k.startswith("permission-")}
            if self.app_permissions is not None and asked - self.app_permissions:
                message = "The permissions requested are not granted to this installation."
                run.steps.append(StepResult(job, "create-github-app-token", 1, "", message))
                return {}
            return {"token": self.app_token, "app-slug": self.app_slug, "installation-id": "1"}
        if action == "actions/upload-artifact":
            # one file per artifact is all the workflows upload; a missing one with
            # if-no-files-found: error fails the step, as the action does
            path = Path(with_["path"])
            if not path.is_file():
                if with_.get("if-no-files-found", "warn") == "error":
                    message = f"No files were found with the provided path: {path}."
                    run.steps.append(StepResult(job, "upload-artifact", 1, "", message))
                return {}
            run.artifacts[with_["name"]] = path.read_bytes()
            return {"artifact-id": str(len(run.artifacts))}
        if action == self.action_repo:
            return self._jitops_action(workflow, job, with_, env, ctx, checkout, run)
        raise HarnessError(f"{workflow}: action {action} is not emulated")

    def _jitops_action(
        self,
        workflow: str,
        job: str,
        with_: dict[str, str],
        env: dict[str, str],
        ctx: dict[str, Any],
        checkout: Path,
        run: Run,
    ) -> dict[str, str]:
        spec = yaml.safe_load(ACTION.read_text())
        inputs = {k: str(v.get("default", "")) for k, v in spec["inputs"].items()}
        for key, value in with_.items():
            if key not in inputs:
                raise HarnessError(f"{workflow}: the jitops Action has no input {key!r}")
            inputs[key] = value
        for key, v in spec["inputs"].items():
            if v.get("required") and not with_.get(key):
                raise HarnessError(f"{workflow}: the jitops Action needs input {key!r}")
        actx: dict[str, Any] = {
            **ctx,
            "github": {**ctx["github"], "action_path": str(ROOT)},
            "inputs": {k: substitute(v, ctx) for k, v in inputs.items()},
            "steps": {},
        }
        base = Path(ctx["runner"]["temp"])
        for step in spec["runs"]["steps"]:
            label = step.get("name") or step.get("uses")
            step_env = {
                **env,
                **{k: substitute(str(v), actx) for k, v in (step.get("env") or {}).items()},
                "GITHUB_ACTION_PATH": str(ROOT),
            }
            if "uses" in step:
                outputs = self._uses(
                    "action.yml", job, step["uses"], {}, step_env, actx, checkout, "", "", run
                )
            elif "pip" in step["run"] and "install" in step["run"]:
                check_action_install(step["run"])
                venv = Path(step_env["JITOPS_VENV"])
                (venv / "bin").mkdir(parents=True, exist_ok=True)
                for exe, target in (
                    ("python", sys.executable),
                    ("jitops", str(Path(sys.executable).parent / "jitops")),
                ):
                    wrapper = venv / "bin" / exe
                    # the "installed release" is the code under test: the tree this test
                    # imported jitops from (the Action unsets PYTHONPATH before it runs)
                    wrapper.write_text(
                        f'#!/bin/sh\nPYTHONPATH={shlex.quote(CODE_PATH)} exec "{target}" "$@"\n'
                    )
                    wrapper.chmod(0o755)
                outputs = {}
            else:
                result, outputs = self._bash(step["run"], step_env, checkout, base)
                run.steps.append(StepResult(job, f"{label}", *result))
                if result[0] != 0:
                    break
            if step.get("id"):
                actx["steps"][step["id"]] = {"outputs": outputs}
        return {
            k: substitute(str(v["value"]), actx) if "steps." in str(v["value"]) else ""
            for k, v in (spec.get("outputs") or {}).items()
        }


#: where the jitops and jitops_sandbox this test process runs were imported from
CODE_PATH = ":".join(
    sorted(
        {
            str(Path(jitops.__file__).resolve().parent.parent),
            str(Path(jitops_sandbox.__file__).resolve().parent.parent),
        }
    )
)


def _bare(expr: Any) -> str:
    text = str(expr).strip()
    m = re.fullmatch(r"\$\{\{\s*(.*?)\s*\}\}", text)
    return m.group(1) if m else text
