"""The html audit report in a real headless browser: the summary band, links to GitHub, the
filters, the layout on a laptop screen, and hostile text that stays text."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.audit.test_history import T0, Ledger, request, run
from tests.audit.test_history import story as story
from tests.audit.test_verify import ledger as ledger
from tests.fixtures.browser import browse

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WEB = "https://github.com/acme/access"


def visible_grants(dom: str) -> list[str]:
    rows = re.findall(r"<tr data-i=[^>]*?( hidden=\"\")?>\s*<td>([^<]*)", dom)
    return [gid for hidden, gid in rows if not hidden]


def report(repo: Path, tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "audit.html"
    code, text = run(repo, "--format", "html", "--output", str(out), *args)
    assert code == 0, text
    return out


def probe(page: Path, tmp_path: Path, expr: str, size: str = "1280,800") -> str:
    """``expr`` evaluated in the page at a window of ``size`` (a copy of the page whose
    policy also allows the probe's script, which writes the value into the DOM)."""
    text = page.read_text()
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    script = f"<script>document.body.dataset.probe = String({expr});</script>"
    copy = tmp_path / "probe.html"
    copy.write_text(text.replace("</body>", script + "</body>"))
    dom = browse(tmp_path, f"--window-size={size}", "--dump-dom", copy.as_uri())
    m = re.search(r'<body data-probe="([^"]*)"', dom)
    assert m, "the probe did not run"
    return html.unescape(m.group(1))


def test_report_summary_links_filters(story: Ledger, tmp_path: Path) -> None:
    page = report(story.repo, tmp_path, "--web-url", WEB)
    dom = browse(tmp_path, "--dump-dom", page.as_uri())
    assert sorted(visible_grants(dom)) == [
        "db-hubot-2",
        "db-octo-3",
        "stg-mona-4",
        "stg-octo-1",
        "stg-octo-5",
    ]
    assert "5 of 5 shown" in dom
    tiles = dict(re.findall(r'<div class="tile" data-tile="([^"]+)"><b>([^<]*)</b>', dom))
    assert tiles["issued"] == "3" and tiles["denied"] == "1" and tiles["active now"] == "1"
    assert "unratified" not in tiles and "break glass" not in tiles  # none in this ledger
    assert tiles["median time to approval"] != "n/a"
    # state in words, never "ended by: active"
    states = dict(
        re.findall(r'<tr data-i="\d+"[^>]*>\s*<td>([^<]*)</td>.*?class="st"[^>]*>([^<]*)<', dom)
    )
    assert states == {
        "stg-octo-1": "expired",
        "db-hubot-2": "revoked early",
        "db-octo-3": "denied",
        "stg-mona-4": "approved, not issued yet",
        "stg-octo-5": "active now",
    }
    assert "ended by" not in dom
    # every pull request and commit links to the repository on GitHub, and the commits exist
    prs = re.findall(r'<a class="pr" href="([^"]+)">#(\d+)</a>', dom)
    assert prs and all(href == f"{WEB}/pull/{n}" for href, n in prs)
    shas = re.findall(r'<a class="sha" href="' + re.escape(WEB) + r'/commit/([0-9a-f]{40})"', dom)
    assert len(shas) >= 5
    for sha in shas:
        subprocess.run(["git", "cat-file", "-e", sha], cwd=story.repo, check=True)
    # the ticket column, the timeline's three bars and a real time axis
    assert ">INC-7</td>" in dom
    assert dom.count("<rect") == 3
    assert len(re.findall(r'<text class="ax"', dom)) >= 4
    # filters: requester, state, role, text, date range (also from the link's #fragment)
    for fragment, want in (
        ("#requester=octo&state=expire", ["stg-octo-1"]),
        ("#text=laptop", ["db-hubot-2"]),  # the revoke's reason
        ("#role=prod-db-readonly", ["db-hubot-2", "db-octo-3"]),
        (f"#from={(T0 + timedelta(days=1)):%Y-%m-%d}", ["stg-octo-5"]),
        (f"#to={T0:%Y-%m-%d}&role=staging-admin", ["stg-mona-4", "stg-octo-1"]),
        ("#state=active", ["stg-octo-5"]),
    ):
        filtered = browse(tmp_path, "--dump-dom", page.as_uri() + fragment)
        assert sorted(visible_grants(filtered)) == want, fragment
    filtered = browse(tmp_path, "--dump-dom", page.as_uri() + "#role=prod-db-readonly")
    assert len(re.findall(r'<rect [^>]*style="display: none;"', filtered)) == 2  # bars follow


def test_report_fits_a_laptop_screen(story: Ledger, tmp_path: Path) -> None:
    long = "a-very-long-reason-without-any-space-" * 8
    pr = story.add("stg-long-6", request("octocat", "staging-admin", ticket=long), T0)
    story.issue("stg-long-6", T0 + timedelta(minutes=1), pr=pr)
    page = report(story.repo, tmp_path, "--web-url", WEB)
    scroll = probe(page, tmp_path, "document.documentElement.scrollWidth + ' ' + innerWidth")
    width, inner = map(int, scroll.split())
    assert inner == 1280 and width <= inner, scroll  # no sideways scrolling
    shot = tmp_path / "audit.png"
    browse(tmp_path, f"--screenshot={shot}", "--window-size=1280,800", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    keep = os.environ.get("JITOPS_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


HOSTILE = (
    "</script><img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
)


def test_hostile_request_text_stays_text(ledger: Ledger, tmp_path: Path) -> None:
    quoted = HOSTILE.replace("'", "''")  # a YAML single-quoted scalar
    text = (
        "requester: octocat\nrole: staging-admin\nduration: 2h\n"
        f"reason: '{quoted}'\nticket: '\"><svg onload=\"document.title=1\">'\n"
    )
    pr = ledger.add("stg-octo-1", text, T0)
    ledger.issue("stg-octo-1", T0 + timedelta(seconds=30), pr=pr)
    page = report(ledger.repo, tmp_path)
    dom = browse(tmp_path, "--dump-dom", page.as_uri())
    assert "<title>jitops audit</title>" in dom  # no script of the requester's ran
    assert "<img" not in dom and "<svg onload" not in dom
    assert html.escape(HOSTILE, quote=False) in dom  # shown, as text
    assert sorted(visible_grants(dom)) == ["stg-octo-1"]
    assert '&gt;&lt;svg onload="document.title=1"&gt;' in dom
