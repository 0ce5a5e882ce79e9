"""`jitops policy test`: cases in policies/tests/*.yaml proving what the policy decides.

Runs offline: team memberships come from each case. A case gets the same evaluation a pull
request would (schema, policy checks, approval rule), so a passing suite means the policy does
what its admins claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from jitops.core import approvals, checks, schema, yamlsafe
from jitops.core.approvals import Review
from jitops.core.grant import parse_time, read_grant
from jitops.core.judge import judge
from jitops.core.policy import Policy
from jitops.errors import Problem

#: The request time of a case without ``at:`` (a working day's noon, UTC).
DEFAULT_AT = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
HEAD = "0" * 39 + "1"
OLDER = "0" * 39 + "2"


@dataclass(frozen=True)
class CaseFailure:
    path: str
    line: int
    name: str
    expected: str
    got: str
    why: tuple[str, ...]

    def __str__(self) -> str:
        because = "; ".join(self.why) or "no explanation"
        return (
            f"{self.path}:{self.line}: case {self.name!r}: expected {self.expected}, got "
            f"{self.got} — {because}"
        )


@dataclass(frozen=True)
class TestReport:
    passed: int = 0
    failures: tuple[CaseFailure | Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failures


def _teams(raw: Mapping[str, list[str]]) -> Any:
    members = {k.lower().lstrip("@"): {m.lower() for m in v} for k, v in raw.items()}

    def lookup(org: str, slug: str, login: str) -> bool:
        return login.lower() in members.get(f"{org}/{slug}".lower(), set())

    return lookup


def run_case(policy: Policy, case: Mapping[str, Any], path: str, line: int) -> CaseFailure | None:
    text = yaml.safe_dump(case["grant"], sort_keys=False).encode()
    grant, problems = read_grant(text, "grants/policy-test-case.yaml")
    author = case.get("author") or (case["grant"] or {}).get("requester", "")
    teams = _teams(case.get("teams") or {})
    base = datetime(2026, 1, 1, tzinfo=UTC)
    reviews = [
        Review(
            r["user"], r["state"], OLDER if r.get("stale") else HEAD, base + timedelta(minutes=i)
        )
        for i, r in enumerate(case.get("reviews") or [])
    ]
    if grant is None:
        got, why = "invalid", tuple(p.message for p in problems)
    else:
        # -- time and risk: the case's `at:` is the request time (default: a Thursday noon UTC)
        at = parse_time(str(case["at"])) if case.get("at") else DEFAULT_AT
        judgement = judge(grant, policy, at=at, teams=teams)
        problems += checks.check_grant(
            grant, judgement.policy, checks.GrantContext(is_new=True, author=author, teams=teams)
        )
        problems += judgement.problems
        result = approvals.evaluate(
            grant,
            judgement.policy,
            author=author,
            head_sha=HEAD,
            reviews=reviews,
            teams=teams,
            problems=problems,
        )
        got, why = result.outcome, tuple(result.explain())
    if got == case["expect"]:
        return None
    return CaseFailure(path, line, case["name"], case["expect"], got, why)


def run_cases(policy: Policy, files: Mapping[str, bytes]) -> TestReport:
    """Run every case of every file (``{path: bytes}``)."""
    passed = 0
    failures: list[CaseFailure | Problem] = []
    for path in sorted(files):
        try:
            doc = yamlsafe.load(files[path], path, max_bytes=yamlsafe.POLICY_MAX_BYTES)
        except yamlsafe.YamlError as exc:
            failures += exc.problems
            continue
        found = schema.check(doc, "policy-test")
        if found:
            failures += found
            continue
        for i, case in enumerate(doc.data["cases"]):
            failure = run_case(policy, case, path, doc.line(("cases", i)))
            if failure is None:
                passed += 1
            else:
                failures.append(failure)
    if not files:
        failures.append(
            Problem("policies/tests", 0, "no test cases found; add policies/tests/<name>.yaml")
        )
    return TestReport(passed, tuple(failures))
