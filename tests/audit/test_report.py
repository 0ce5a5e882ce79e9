"""What the report computes, without a browser: the web address, the time axis, the job
summary and the states in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitops.audit.history import Record
from jitops.audit.html import ticks
from jitops.audit.report import span, state_words, to_markdown, web_url
from tests.audit.test_history import Ledger, run
from tests.audit.test_history import story as story
from tests.audit.test_verify import ledger as ledger

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("remote", "env", "given", "want"),
    [
        ("git@github.com:acme/access.git", {}, None, "https://github.com/acme/access"),
        ("https://github.com/acme/access.git", {}, None, "https://github.com/acme/access"),
        # a token in the remote URL (actions/checkout with persist-credentials) is never kept
        (
            "https://x-access-token:ghs_secret@github.com/acme/access",
            {},
            None,
            "https://github.com/acme/access",
        ),
        (
            "ssh://git@ghe.example.com:2222/acme/access.git",
            {},
            None,
            "https://ghe.example.com/acme/access",
        ),
        (
            None,
            {"GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_REPOSITORY": "acme/access"},
            None,
            "https://ghe.example.com/acme/access",
        ),
        (
            "git@github.com:acme/access.git",
            {},
            "https://github.example/acme/x/",
            "https://github.example/acme/x",
        ),
        ("/srv/git/access.git", {}, None, None),
        ("https://github.com/acme/access", {}, "javascript:alert(1)", None),
        ('https://github.com/acme/"><script>', {}, None, None),
    ],
)
def test_web_url(
    remote: str | None, env: dict[str, str], given: str | None, want: str | None
) -> None:
    assert web_url(remote, env, given) == want


def test_ticks_are_calendar_aligned_and_labelled() -> None:
    t0 = datetime(2026, 11, 1, 10, 17, tzinfo=UTC)
    hours = ticks(t0, t0 + timedelta(hours=20))
    assert 4 <= len(hours) <= 10 and all(t.minute == 0 and t.hour % 3 == 0 for t, _ in hours)
    months = ticks(t0, t0 + timedelta(days=400))
    assert [label for _, label in months][:3] == ["Jan 2027", "Mar 2027", "May 2027"]
    years = ticks(t0, t0 + timedelta(days=365 * 12))
    assert [label for _, label in years][:3] == ["2028", "2030", "2032"]
    five = ticks(t0, t0 + timedelta(days=365 * 5))
    assert len(five) <= 10 and all(t.day == 1 and t.month in (1, 7) for t, _ in five)


def test_durations_and_states_in_words() -> None:
    assert [span(timedelta(seconds=s)) for s in (45, 125, 7500, 90000, 172800)] == [
        "45s",
        "2m05s",
        "2h05m",
        "1d 1h",
        "2d",
    ]
    assert state_words("expire") == "expired" and state_words("quarantined") == "quarantined"
    assert state_words("unratified") == "break-glass never ratified"  # with a colour of its own


def test_a_new_end_action_gets_its_own_tile_and_words() -> None:
    """Records jitops learns to write later (a ``quarantined`` end, say) appear in the summary
    band and the job summary without changing the report; ``unratified`` has its words."""
    r = Record("stg-octo-1", "octocat", "staging-admin", 1, ["alice"], NOW - timedelta(hours=2))
    r.ended_by, r.ended_at = "quarantined", NOW - timedelta(hours=1)
    text = to_markdown([r], NOW)
    assert "**1** quarantined" in text and "Nobody has access right now." in text
    r.ended_by = "unratified"
    assert "**1** break-glass never ratified" in to_markdown([r], NOW)


def test_job_summary_is_short_and_only_ids_logins_roles(story: Ledger, tmp_path: Path) -> None:
    code, out = run(story.repo, "--format", "markdown")
    assert code == 0, out
    assert "**5** requests · **3** issued · **1** denied · **1** active now" in out
    # staging-admin reads a KV secret (static: true in the policy that judged the issue)
    assert "| `stg-octo-5` | `octocat` | `staging-admin` static secret: rotate it |" in out
    assert "| `staging-admin` | 2 |" in out
    # no free text (reasons, tickets) in a summary every reader of the Actions tab sees
    assert "Debug" not in out and "INC-7" not in out and "laptop" not in out
    assert len(out.splitlines()) < 20


def test_an_active_grant_never_says_ended(story: Ledger) -> None:
    code, out = run(story.repo, "--format", "html")
    assert code == 0
    assert "ended by" not in out and ">active now</span>" in out


def test_one_pass_writes_the_report_and_its_summary(story: Ledger, tmp_path: Path) -> None:
    page, summary = tmp_path / "r" / "index.html", tmp_path / "summary.md"
    code, out = run(story.repo, "--format", "html", "-o", str(page), "--summary", str(summary))
    assert code == 0, out
    assert 'data-tile="issued"><b>3</b>' in page.read_text()
    same = run(story.repo, "--format", "markdown")[1].splitlines()[1:]  # but the time line
    assert summary.read_text().splitlines()[1:] == same and "**3** issued" in same[1]


def test_a_web_url_that_is_not_an_address_is_refused(story: Ledger) -> None:
    code, out = run(story.repo, "--format", "html", "--web-url", "javascript:alert(1)")
    assert code == 2 and "is not an http(s) address" in out
