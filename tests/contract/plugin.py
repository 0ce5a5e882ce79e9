"""A session-wide contract check: every response any GitHub stand-in served during the test
session is validated against GitHub's OpenAPI description when the session ends.

Any schema error fails the session (exit status 1) with the errors grouped by operation; the
terminal summary says how many responses and operations were checked and how long it took.
Injected faults are left out (they are the test's words, not the stand-in's). Sessions in
which no stand-in answered anything need no description.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from jitops_sandbox.github import RequestRecord
from jitops_sandbox.github.server import OBSERVERS
from tests.contract.openapi import Description, Report, description_path, summarise

_lock = threading.Lock()
_records: list[RequestRecord] = []
_result: dict[str, Any] = {}


def _observe(record: RequestRecord) -> None:
    with _lock:
        _records.append(record)


def pytest_configure(config: pytest.Config) -> None:
    if _observe not in OBSERVERS:
        OBSERVERS.append(_observe)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    with _lock:
        records = list(_records)
    if not records:
        return
    started = time.monotonic()
    try:
        report: Report | None = Description(description_path()).check(records)
        error = None
    except AssertionError as exc:  # the description is missing: that fails the session
        report, error = None, str(exc)
    _result.update(report=report, error=error, seconds=time.monotonic() - started)
    if error is not None or (report is not None and report.problems):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _result:
        return
    report: Report | None = _result["report"]
    write = terminalreporter.write_line
    terminalreporter.section("GitHub stand-in vs GitHub's OpenAPI description")
    if report is None:
        write(f"FAILED: {_result['error']}")
        return
    operations = {(method, template) for method, template, _ in report.operations}
    write(
        f"{report.checked} responses of {len(operations)} operations "
        f"({len(report.operations)} operation/status pairs) checked in "
        f"{_result['seconds']:.2f}s: {len(report.problems)} schema errors"
    )
    if report.problems:
        write(summarise(report.problems))
