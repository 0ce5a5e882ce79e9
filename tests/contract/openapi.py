"""GitHub's own OpenAPI description (npm ``@octokit/openapi``) as a judge of the stand-in.

Where the description is found: ``JITOPS_GITHUB_OPENAPI`` (the ``api.github.com.json`` file,
or the package directory), else ``node_modules/@octokit/openapi`` at the repository root
(``npm install --prefix . @octokit/openapi@VERSION``). CI (``.ci/run``) installs the pinned
version and sets the variable. A missing description fails the tests that need it.

Each response is checked against the schema of its operation (method and path template, the
stand-in's aliases ``/repositories/{id}`` and ``/organizations/{id}/team/{id}`` mapped to
GitHub's spellings) and status, with OpenAPI 3.0's ``nullable`` turned into JSON Schema.
Schemas are not weakened: a field GitHub requires must be there, with GitHub's type.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema

from jitops_sandbox.github import RequestRecord

PINNED_VERSION = "23.0.2"
ENV = "JITOPS_GITHUB_OPENAPI"
ROOT = Path(__file__).resolve().parents[2]
_RELATIVE = Path("node_modules/@octokit/openapi/generated/api.github.com.json")

# The stand-in also answers on the ids GitHub puts into its own links; GitHub's description
# lists these operations under their named spelling only.
_ALIASES = (
    (re.compile(r"^/repositories/\d+(?=/|$)"), "/repos/o/r"),
    (re.compile(r"^/organizations/\d+/team/\d+(?=/|$)"), "/orgs/o/teams/t"),
    (re.compile(r"^/organizations/\d+/team/(\d+)(?=/|$)"), r"/teams/\1"),
    (re.compile(r"^/teams/\d+(?=/|$)"), "/orgs/o/teams/t"),
    # PyGithub's Commit.get_statuses reads the older spelling of "list statuses for a ref"
    (re.compile(r"^(/repos/[^/]+/[^/]+)/statuses/([^/]+)$"), r"\1/commits/\2/statuses"),
)
# parameters that may hold slashes (a file path, a ref like heads/main, a branch)
_GREEDY = ("path", "ref", "branch")


def description_path() -> Path:
    """The ``api.github.com.json`` to judge by; fails (never skips) when it is missing."""
    configured = os.environ.get(ENV)
    candidates = []
    if configured:
        path = Path(configured)
        candidates.append(path if path.suffix == ".json" else path / "generated" / _RELATIVE.name)
    candidates.append(ROOT / _RELATIVE)
    for path in candidates:
        if path.is_file():
            return path
    raise AssertionError(
        f"GitHub's OpenAPI description is missing (looked at {[str(c) for c in candidates]}); "
        f"install it with 'npm install --prefix . @octokit/openapi@{PINNED_VERSION}' or set "
        f"{ENV} to its api.github.com.json"
    )


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema (draft 7): ``nullable: true`` admits null."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "type" not in out:
            return {"anyOf": [{"type": "null"}, out]}
    return out


@dataclass(frozen=True)
class Problem:
    method: str
    operation: str
    status: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.operation} -> {self.status} ({self.path}): {self.message}"


@dataclass
class Report:
    checked: int
    operations: set[tuple[str, str, int]]
    problems: list[Problem]


class Description:
    """GitHub's REST description: find an operation, validate a response."""

    def __init__(self, path: Path) -> None:
        self.doc = json.loads(path.read_text())
        self.version = str(self.doc["info"]["version"])
        self.components = _nullable(self.doc["components"])
        self._routes: list[tuple[re.Pattern[str], int, str]] = []
        for template in self.doc["paths"]:

            def param(m: re.Match[str]) -> str:
                if m.group(1) == "path":
                    return "\0"  # a file path, empty for the root directory
                return ".+" if m.group(1) in _GREEDY else "[^/]+"

            regex = re.sub(r"\\\{([^/]+?)\\\}", param, re.escape(template))
            regex = regex.replace("/\0", "(?:/.*)?")
            literal = sum(1 for seg in template.split("/") if seg and "{" not in seg)
            self._routes.append((re.compile(f"^{regex}$"), literal, template))
        self._validators: dict[tuple[str, str, int], jsonschema.Draft7Validator | None] = {}

    @cached_property
    def basic_error(self) -> jsonschema.Draft7Validator:
        """GitHub's error body, for errors its description declares without a body."""
        schema = {"$ref": "#/components/schemas/basic-error", "components": self.components}
        return jsonschema.Draft7Validator(schema)

    def operation(self, method: str, path: str) -> str | None:
        """GitHub's path template for a concrete ``path`` (the most literal match)."""
        verb = "get" if method == "HEAD" else method.lower()
        path = path.rstrip("/") or "/"
        spellings = [path]
        for regex, replacement in _ALIASES:
            if regex.match(path):
                spellings.append(regex.sub(replacement, path, count=1))
        for spelling in spellings:
            found = [
                (lit, tpl)
                for regex, lit, tpl in self._routes
                if regex.match(spelling) and verb in self.doc["paths"][tpl]
            ]
            if found:
                return max(found)[1]
        return None

    def validator(
        self, method: str, template: str, status: int
    ) -> tuple[jsonschema.Draft7Validator | None, str | None]:
        """The validator for a response (None: no body is described); or the reason it is not
        described at all."""
        verb = "get" if method == "HEAD" else method.lower()
        responses = self.doc["paths"][template][verb]["responses"]
        declared = responses.get(str(status)) or responses.get("default")
        if declared is None and status >= 400:
            # GitHub answers errors its description does not list for every operation (403
            # "Resource not accessible by integration", 400 "Problems parsing JSON", ...),
            # always with its error body: hold them to that
            return self.basic_error, None
        if declared is None:
            return None, f"status {status} is not one GitHub describes ({sorted(responses)})"
        key = (verb, template, status)
        if key not in self._validators:
            if "$ref" in declared:
                declared = self.doc["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
            content = declared.get("content") or {}
            media = next((v for k, v in content.items() if "json" in k), None)
            if media is None or "schema" not in media:
                self._validators[key] = None
            else:
                schema = dict(_nullable(media["schema"]))
                schema["components"] = self.components
                self._validators[key] = jsonschema.Draft7Validator(schema)
        return self._validators[key], None

    def check(self, records: Iterable[RequestRecord]) -> Report:
        checked = 0
        operations: set[tuple[str, str, int]] = set()
        problems: list[Problem] = []
        for record in records:
            if record.fault:
                continue  # an injected fault: the test's words, not the stand-in's
            template = self.operation(record.method, record.path)
            if template is None and record.route is None and record.status in (401, 404):
                continue  # a path neither GitHub nor the stand-in serves: 404 (or 401 first)
            if template is None:
                problems.append(
                    Problem(record.method, "?", record.status, record.path, "no such operation")
                )
                continue
            checked += 1
            operations.add((record.method, template, record.status))
            validator, undescribed = self.validator(record.method, template, record.status)
            if undescribed is not None:
                problems.append(
                    Problem(record.method, template, record.status, record.path, undescribed)
                )
                continue
            if validator is None and record.status >= 400 and record.body is not None:
                validator = self.basic_error  # GitHub sends {message, documentation_url}
            if validator is None:
                if record.body not in (None, "", {}):
                    problems.append(
                        Problem(
                            record.method,
                            template,
                            record.status,
                            record.path,
                            "GitHub describes no body, the stand-in sent one",
                        )
                    )
                continue
            for error in validator.iter_errors(record.body):
                where = "/".join(str(p) for p in error.absolute_path) or "(body)"
                problems.append(
                    Problem(
                        record.method,
                        template,
                        record.status,
                        record.path,
                        f"{where}: {error.message[:300]}",
                    )
                )
        return Report(checked, operations, problems)


def summarise(problems: list[Problem], limit: int = 60) -> str:
    """Problems grouped by operation and message, most frequent first."""
    groups: dict[str, int] = {}
    for problem in problems:
        operation = problem.operation if problem.operation != "?" else problem.path
        key = f"{problem.method} {operation} -> {problem.status}: {problem.message}"
        groups[key] = groups.get(key, 0) + 1
    lines = [f"{n}x {key}" for key, n in sorted(groups.items(), key=lambda kv: -kv[1])]
    more = f"\n... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more
