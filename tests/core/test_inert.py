"""What a requester wrote is inert wherever people read it: PR comments, Slack messages,
the audit table in a terminal, the HTML report and the validate step summary."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jitops.core import yamlsafe
from jitops.core.grant import Grant
from jitops.core.inert import code_span, one_line
from jitops.core.notify_payload import Event, slack_payload
from jitops.core.prcomment import grant_comment
from jitops.errors import Problem
from tests.audit.test_history import T0, Ledger, run
from tests.audit.test_history import ledger as ledger

HOSTILE_ROLE = "x` @acme/admins [click](https://evil.example) ``` <img src=x>"
HOSTILE_REASON = (
    "Debug it <!channel> <@U024BE7LH> \x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\"
)


def test_a_code_span_cannot_be_closed_from_inside() -> None:
    for text in ("a`b", "``", "`start", "end`", "x ``` y", HOSTILE_ROLE):
        span = code_span(text)
        fence = re.match("`+", span)
        assert fence is not None
        inner = span[len(fence.group()) : -len(fence.group())]
        # no run of backticks inside is as long as the fence: CommonMark cannot end it early
        assert all(len(run) < len(fence.group()) for run in re.findall("`+", inner))
        assert span.endswith(fence.group()) and "\n" not in span


def test_one_line_shows_escape_sequences_instead_of_sending_them() -> None:
    shown = one_line("ok\x1b[31mred\x1b]8;;https://e\x07link\u202egnp.exe\nnext")
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[31m" in shown and "\\u202e" in shown and "\n" not in shown


def test_the_pr_comment_renders_requester_text_as_text() -> None:
    grant = Grant(
        id="db-octo-1",
        path="grants/db-octo-1.yaml",
        requester="octocat\n@acme/admins",
        role=HOSTILE_ROLE,
        duration=timedelta(hours=2),
        duration_text="2h`@x",
        reason=HOSTILE_REASON,
    )
    problems = [Problem("grants/db-octo-1.yaml", 2, f"role {HOSTILE_ROLE!r} is not defined")]
    body = grant_comment(grant, None, problems, None, "invalid", None)
    # every line that carries hostile text carries it inside a code span no backtick closes
    for line in body.splitlines():
        if "@acme/admins" in line or "evil.example" in line:
            outside = re.sub(r"(`+)(?:(?!\1).)*?\1", "", line.removeprefix("| "))
            assert "@acme" not in outside and "evil" not in outside and "<img" not in outside, line
    assert "@octocat" not in body  # an invalid login is not mentioned either
    assert "\x1b" not in body


def test_a_valid_requester_is_still_mentioned() -> None:
    grant = Grant(
        "db-octo-1", "grants/db-octo-1.yaml", "octocat", "prod-db", timedelta(hours=1), "1h", "r"
    )
    assert "| requester | @octocat |" in grant_comment(grant, None, [], None, "valid", None)


def test_a_reason_the_lint_refuses_is_not_repeated_in_the_comment() -> None:
    token = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
    grant = Grant(
        "db-octo-1", "grants/db-octo-1.yaml", "octocat", "prod-db", timedelta(hours=1), "1h",
        f"Debug with {token}", ticket="4666 1760 3137 2159",
    )  # fmt: skip
    body = grant_comment(grant, None, [], None, "invalid", None)
    assert token not in body and "4666" not in body
    assert "| reason | *(not shown: see the problems below)* |" in body
    assert "| ticket | *(not shown: see the problems below)* |" in body
    ordinary = grant_comment(
        replace(grant, reason="Slow queries", ticket="INC-7"), None, [], None, "valid", None
    )
    assert "| reason | `Slow queries` |" in ordinary and "| ticket | `INC-7` |" in ordinary


def test_slack_messages_carry_no_mention_link_or_escape() -> None:
    event = Event(
        kind="revoked",
        grant_id="db-octo-1",
        requester="octocat",
        role="prod-db",
        at=datetime(2026, 11, 23, tzinfo=UTC),
        reason=HOSTILE_REASON + "\n*bold* <https://evil.example|docs>",
    )
    text = json.dumps(json.loads(slack_payload(event)))
    for bad in ("<!channel>", "<@U024BE7LH>", "<https://evil", "\\u001b", "\\n"):
        assert bad not in text, bad
    assert "&lt;!channel&gt;" in text  # shown, not executed


def test_the_audit_table_and_report_survive_markup_and_escapes(
    ledger: Ledger, tmp_path: Path
) -> None:
    text = (
        'requester: "[/bold]oc\\u001b]8;;https://evil.example\\u001b\\\\tocat"\n'
        "role: staging-admin\nduration: 2h\n"
        "reason: Debug it <script>alert(1)</script> [red]x[/red]\n"
    )
    assert yamlsafe.load(text.encode(), "x").data["requester"].startswith("[/bold]oc\x1b")
    ledger.add("stg-evil-1", text, T0)
    code, out = run(ledger.repo)
    assert code == 0, out  # Rich markup in history used to make this exit 3 for ever
    assert "[/bold]oc" in out and "\x1b" not in out and "\\x1b" in out
    code, _ = run(ledger.repo, "--format", "html", "-o", str(tmp_path / "a.html"))
    page = (tmp_path / "a.html").read_text()
    assert code == 0 and "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "\x1b" not in page
    code, _ = run(ledger.repo, "--format", "csv", "-o", str(tmp_path / "a.csv"))
    assert code == 0 and "\x1b" not in (tmp_path / "a.csv").read_text()


def test_a_formula_in_free_text_stays_text_in_a_spreadsheet(ledger: Ledger, tmp_path: Path) -> None:
    text = "requester: octocat\nrole: staging-admin\nduration: 2h\n"
    text += 'reason: \'=HYPERLINK("https://evil.example","open me")\'\n'
    ledger.add("stg-octo-1", text, T0 + timedelta(hours=1))
    code, out = run(ledger.repo, "--format", "csv")
    assert code == 0
    assert ",'=HYPERLINK(" in out.replace('"', "") or "'=HYPERLINK" in out
