"""The html audit report in a real headless browser: filters work, the timeline is drawn."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.audit.test_history import Ledger, run
from tests.audit.test_history import story as story
from tests.audit.test_verify import ledger as ledger
from tests.fixtures.browser import browse

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def visible_grants(dom: str) -> list[str]:
    rows = re.findall(r"<tr data-requester=[^>]*?(style=\"display: none;\")?>\s*<td>([^<]*)", dom)
    return [gid for hidden, gid in rows if not hidden]


def test_report_filters_and_timeline(story: Ledger, tmp_path: Path) -> None:
    report = tmp_path / "audit.html"
    assert run(story.repo, "--format", "html", "--output", str(report))[0] == 0
    dom = browse(tmp_path, "--dump-dom", report.as_uri())
    assert sorted(visible_grants(dom)) == [
        "db-hubot-2",
        "db-octo-3",
        "stg-mona-4",
        "stg-octo-1",
        "stg-octo-5",
    ]
    for f in ("requester", "role", "action", "text"):
        assert f'id="f-{f}"' in dom
    assert dom.count("<rect") == 3  # the three grants ever issued
    legend = re.search(r'<p class="legend">(.*?)</p>', dom)
    assert legend and re.sub(r"<[^>]+>", "|", legend.group(1)).split("|") == [
        "who held which role when:",
        "",
        "expired",
        "",
        "revoked",
        "",
        "active (in grants/)",
    ]  # exactly the colours drawn: nothing was denied after issue or removed by hand
    assert re.search(r"<b>octocat</b> — staging-admin until [^<]*\(2h\d\dm left\)", dom)
    filtered = browse(tmp_path, "--dump-dom", report.as_uri() + "#requester=octo&action=expire")
    assert visible_grants(filtered) == ["stg-octo-1"]
    filtered = browse(tmp_path, "--dump-dom", report.as_uri() + "#text=laptop")
    assert visible_grants(filtered) == ["db-hubot-2"]  # the revoke's reason
    filtered = browse(tmp_path, "--dump-dom", report.as_uri() + "#role=prod-db")
    assert sorted(visible_grants(filtered)) == ["db-hubot-2", "db-octo-3"]
    shot = tmp_path / "audit.png"
    browse(tmp_path, f"--screenshot={shot}", "--window-size=1300,1000", report.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    keep = os.environ.get("JITOPS_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
