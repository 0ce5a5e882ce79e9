"""The one renderer per output format: text for people, ``github`` (annotations and the job's
step summary) and JSON for machines. Every command's report goes through here: validation
reports, pull request decisions and the outcomes of issue, sweep and revoke."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from jitops.core.inert import code_span, one_line, printable
from jitops.errors import Problem
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.validate import Report


def text(report: Report) -> str:
    lines = [_text_line(p) for p in report.problems]
    lines.extend(f"note: {n}" for n in report.notices)
    lines.append(_summary(report))
    return "\n".join(lines)


def _text_line(p: Problem) -> str:
    """One line for a terminal: a file name or message cannot carry escape sequences."""
    if p.severity == "error":
        return one_line(str(p))
    where = f"{p.path}:{p.line}" if p.line else p.path
    return one_line(f"{where}: {p.severity}: {p.message}")


def _summary(report: Report) -> str:
    if report.policy_problems:
        return f"policy ({report.policy_ref}) is invalid: no grant could be judged"
    total = len(report.results)
    bad = sum(not r.valid for r in report.results)
    warn = sum(1 for p in report.problems if p.severity == "warning")
    extra = f", {warn} warning{'s' if warn != 1 else ''}" if warn else ""
    return (
        f"{total} grant file{'s' if total != 1 else ''} checked against the policy of "
        f"{report.policy_ref}: {total - bad} valid, {bad} invalid{extra}"
    )


def _escape_data(s: str) -> str:
    """A workflow command value: GitHub's escapes for % CR LF, other controls shown as text
    (the log viewer would render ANSI escapes)."""
    s = printable(s, newlines=True)
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github_annotations(problems: Iterable[Problem]) -> str:
    """GitHub workflow commands, one per problem."""
    out = []
    for p in problems:
        level = {"error": "error", "warning": "warning"}.get(p.severity, "notice")
        props = f"file={_escape_prop(p.path)}"
        if p.line:
            props += f",line={p.line}"
        out.append(f"::{level} {props}::{_escape_data(p.message)}")
    return "\n".join(out)


def _md(s: str) -> str:
    """Text for a markdown table cell that renders as itself: the characters that start
    markup backslash-escaped (CommonMark), so no link, image, HTML, entity or emphasis."""
    return _PUNCT.sub(r"\\\g<0>", one_line(s))


_PUNCT = re.compile(r"[\\`*_\[\]<>!|~&]")


def step_summary(report: Report) -> str:
    head = "### jitops validate\n\n" + _summary(report) + "\n"
    if not report.problems:
        return head
    rows = ["| file | line | severity | problem |", "| --- | --- | --- | --- |"]
    for p in report.problems:
        path = code_span(p.path, in_table=True)
        rows.append(f"| {path} | {p.line or ''} | {p.severity} | {_md(p.message)} |")
    return head + "\n" + "\n".join(rows) + "\n"


def to_json(report: Report) -> str:
    def prob(p: Problem) -> dict[str, Any]:
        return {"path": p.path, "line": p.line, "severity": p.severity, "message": p.message}

    data = {
        "ok": report.ok,
        "policy": {
            "ref": report.policy_ref,
            "valid": not report.policy_problems,
            "problems": [prob(p) for p in report.policy_problems],
        },
        "grants": [
            {
                "path": r.path,
                "id": r.grant.id if r.grant else None,
                "valid": r.valid,
                "requester": r.grant.requester if r.grant else None,
                "role": r.grant.role if r.grant else None,
                "duration": r.grant.duration_text if r.grant else None,
                "active": r.grant.is_active if r.grant else False,
                "problems": [prob(p) for p in r.problems],
            }
            for r in report.results
        ],
        "notices": list(report.notices),
    }
    return json.dumps(data, indent=2)


def output_format(fmt: str | None) -> str:
    """``--format`` as given, else ``github`` inside GitHub Actions and ``text`` elsewhere."""
    return fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")


def append_step_summary(markdown: str) -> None:
    """Add ``markdown`` to the job's step summary (nothing outside GitHub Actions)."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown)


def outcomes_json(outcomes: Sequence[Outcome]) -> str:
    return json.dumps([dataclasses.asdict(o) for o in outcomes], indent=2)


def outcomes_text(title: str, outcomes: Sequence[Outcome]) -> str:
    lines = [
        f"{o.grant}{f' (#{o.pull_request})' if o.pull_request else ''}: {o.action} — {o.detail}"
        for o in outcomes
    ]
    return "\n".join(lines) if outcomes else f"{title}: nothing to do"


def outcomes_summary(title: str, outcomes: Sequence[Outcome]) -> str:
    # ids and details can quote requester-written text (a role name from the file):
    # code spans, so no link, mention or HTML in it renders
    rows = "\n".join(
        f"| {code_span(o.grant, in_table=True)} | {o.pull_request or ''} | {o.action} | "
        f"{code_span(o.detail, in_table=True, limit=None)} |"
        for o in outcomes
    )
    table = "| grant | PR | action | detail |\n| --- | --- | --- | --- |\n" + rows
    return f"### jitops {title}\n\n" + (table if outcomes else "nothing to do") + "\n\n"
