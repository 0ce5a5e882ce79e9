"""`jitops audit` on histories written by the real lifecycle code."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core.grant import parse_time
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.revoke import run_revoke
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, World
from tests.fixtures.browser import browse
from tests.lifecycle.test_lifecycle import ORDERS, STAGING, main_grant, merge_grant

pytestmark = pytest.mark.integration


def audit(world: World, *args: str) -> tuple[int, str]:
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    result = CliRunner().invoke(
        cli, ["audit", "--repo", str(world.checkout), "--ref", "origin/main", *args]
    )
    return result.exit_code, result.output


@pytest.fixture
def history(world: World) -> World:
    b, a, _ = merge_grant(world, "stg-octocat-1", STAGING)
    run_issue(world.services(), before=b, after=a)
    b, a, _ = merge_grant(world, "db-octocat-1", ORDERS)  # no approval: denied
    run_issue(world.services(), before=b, after=a)
    b, a, _ = merge_grant(world, "db-octocat-2", ORDERS, approve=True)
    run_issue(world.services(), before=b, after=a)
    run_revoke(world.services(), "db-octocat-2", "done early, thanks", actor="octocat")
    b, a, _ = merge_grant(world, "stg-octocat-3", STAGING.replace("2h", "4h"))
    run_issue(world.services(), before=b, after=a)
    g = main_grant(world, "stg-octocat-1")
    run_sweep(world.services(), now=g.status.expires_at + timedelta(seconds=1))
    return world


def test_json_records_have_the_documented_keys(history: World) -> None:
    code, out = audit(history, "--format", "json")
    assert code == 0, out
    records = {r["grant"]: r for r in json.loads(out)}
    assert set(records) == {"stg-octocat-1", "db-octocat-1", "db-octocat-2", "stg-octocat-3"}
    keys = {
        "grant",
        "requester",
        "role",
        "pull_request",
        "approved_by",
        "issued_at",
        "expires_at",
        "ended_at",
        "ended_by",
        "reason",
    }
    assert all(keys <= set(r) for r in records.values())
    assert records["db-octocat-1"]["ended_by"] == "deny"
    assert records["db-octocat-1"]["issued_at"] is None
    assert records["db-octocat-2"]["ended_by"] == "revoke"
    assert records["db-octocat-2"]["approved_by"] == [DBA]
    assert records["db-octocat-2"]["end_reason"] == "done early, thanks"
    assert records["stg-octocat-1"]["ended_by"] == "expire"
    assert records["stg-octocat-1"]["reason"] == "Debug the staging deploy pipeline"
    assert records["stg-octocat-3"]["ended_by"] is None
    assert records["stg-octocat-3"]["active"] is True
    for r in records.values():
        for k in ("issued_at", "expires_at", "ended_at"):
            assert r[k] is None or (r[k].endswith("Z") and parse_time(r[k]))
    assert records["stg-octocat-1"]["pull_request"] == 1


def test_active_table_csv_and_filters(history: World) -> None:
    code, out = audit(history, "--active")
    assert code == 0
    assert "stg-octocat-3" in out and "stg-octocat-1" not in out
    assert "left" in out
    code, out = audit(history, "--format", "csv", "--role", "orders-db-readonly")
    lines = out.strip().splitlines()
    assert lines[0].startswith("grant,requester,role,pull_request,approved_by")
    assert len(lines) == 3


def test_verify_a_clean_ledger_then_a_tampered_one(history: World) -> None:
    code, out = audit(history, "verify")
    assert code == 0, out
    assert "the ledger is consistent" in out
    # someone pushes straight to main, editing an active grant
    clone = history.workdir / "tamper"
    subprocess.run(["git", "clone", "-q", str(history.gh.repo_path), str(clone)], check=True)
    path = clone / "grants" / "stg-octocat-3.yaml"
    path.write_text(path.read_text().replace("duration: 4h", "duration: 8h"))
    for args in (
        ["add", "-A"],
        ["-c", "user.name=m", "-c", "user.email=m@x", "commit", "-qm", "extend"],
        ["push", "-q", "origin", "HEAD:main"],
    ):
        subprocess.run(["git", *args], cwd=clone, check=True)
    code, out = audit(history, "verify")
    assert code == 1
    assert "was edited outside jitops" in out
    assert "neither from a pull request merge nor from jitops" in out


@pytest.mark.browser
def test_html_report_in_a_real_browser(history: World, tmp_path: Path) -> None:
    report = tmp_path / "audit.html"
    code, _ = audit(history, "--format", "html", "--output", str(report))
    assert code == 0
    dom = browse(tmp_path, "--dump-dom", report.as_uri())
    assert dom.count("<tr data-i=") == 4
    assert 'id="timeline"' in dom and "<rect" in dom
    assert "octocat</b> · staging-admin" in dom
    shot = tmp_path / "audit.png"
    browse(tmp_path, f"--screenshot={shot}", "--window-size=1280,800", report.as_uri())
    assert shot.stat().st_size > 5000


def test_a_hostile_requester_cannot_forge_trailers_through_the_deny(world: World) -> None:
    """A grant whose requester is a quoted YAML string full of trailer lines is merged and
    denied by the real issue job: git reads only jitops' trailers on the deny, the victim's
    record is untouched and `audit verify` finds nothing forged."""
    b, a, _ = merge_grant(world, "stg-octocat-1", STAGING)
    run_issue(world.services(), before=b, after=a)
    hostile = STAGING.replace(
        "requester: octocat",
        'requester: "octocat\\nJitops-Grant: stg-octocat-1\\nJitops-Action: revoke"',
    )
    b, a, _ = merge_grant(world, "stg-octocat-2", hostile)
    run_issue(world.services(), before=b, after=a)
    log = (
        subprocess.run(
            ["git", "log", "-1", "--format=%s%n%(trailers:only,unfold)", "main"],
            cwd=world.gh.repo_path,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()
    )
    assert log[0] == "jitops: deny stg-octocat-2"
    keys = [line.split(":", 1)[0] for line in log[1:]]
    assert keys.count("Jitops-Grant") == 1 and keys.count("Jitops-Action") == 1
    assert "Jitops-Grant: stg-octocat-2" in log and "Jitops-Action: deny" in log
    code, out = audit(world, "--active", "--format", "json")
    assert code == 0 and [r["grant"] for r in json.loads(out)] == ["stg-octocat-1"]
    code, out = audit(world, "verify")
    assert "carries Jitops-* trailers" not in out, out


def _force_push(world: World, name: str, *steps: list[str]) -> None:
    """An admin rewrites main in a clone and force-pushes it (no ruleset stops an admin who
    bypasses it; the stand-in's bare repository takes the push as GitHub would)."""
    clone = world.workdir / name
    subprocess.run(["git", "clone", "-q", str(world.gh.repo_path), str(clone)], check=True)
    ident = ["-c", "user.name=admin", "-c", "user.email=admin@example.com"]
    for args in (*steps, ["push", "-q", "-f", "origin", "HEAD:main"]):
        subprocess.run(["git", *ident, *args], cwd=clone, check=True, capture_output=True)


def test_verify_reports_an_issue_commit_a_force_push_folded_away(world: World) -> None:
    """A live grant whose issue commit an admin's force-push dropped from main, its status
    block folded into the squash merge that added the file (a `fixup` of jitops' commit into
    the one before it): git keeps no jitops record of the issue, `audit --active` does not list
    the grant while its token lives, so verify must not call the ledger consistent."""
    before = world.main_sha()
    n = world.gh.open_pr(
        "octocat", "req-stg-octocat-5", "Access", files={"grants/stg-octocat-5.yaml": STAGING}
    )
    squash = world.gh.merge_pr(n, DBA, method="squash")
    run_issue(world.services(), before=before, after=squash)
    grant = main_grant(world, "stg-octocat-5")
    assert grant is not None and grant.status is not None  # issued, token live
    assert audit(world, "verify")[0] == 0
    fold = (["reset", "-q", "--soft", f"{squash}^"], ["commit", "-q", "-C", squash])
    _force_push(world, "fold", *fold)
    main = main_grant(world, "stg-octocat-5")
    assert main is not None and main.status == grant.status  # same file, no issue commit
    code, out = audit(world, "verify")
    assert code == 1, out
    assert "stg-octocat-5" in out and "status block" in out
    assert "the ledger is consistent" not in out


def test_grants_of_a_static_secret_say_rotate_it(history: World, tmp_path: Path) -> None:
    """staging-admin reads a KV secret (``static: true``): revoking or expiring its grants
    does not end that secret. The audit says so from git alone, by the policy that judged
    each issue, in every output."""
    code, out = audit(history, "--format", "json")
    assert code == 0, out
    got = {r["grant"]: (r["static_secret"], r["static_secret_path"]) for r in json.loads(out)}
    staging = (True, "secret/data/staging/admin")
    orders = (False, None) if history.postgres else (True, "secret/data/orders/readonly")
    assert got == {
        "stg-octocat-1": staging,  # expired: the secret it handed out still works
        "db-octocat-1": (False, None),  # denied: nothing was handed out
        "db-octocat-2": orders,
        "stg-octocat-3": staging,
    }
    code, out = audit(history, "--active")
    assert code == 0 and "static secret: rotate it" in out
    assert "Static secret secret/data/staging/admin: revoking the grant does not end it" in out
    report = tmp_path / "audit.html"
    code, _ = audit(history, "--format", "html", "--output", str(report))
    assert code == 0
    page = report.read_text()
    now = page.split('<ul id="now">', 1)[1].split("</ul>", 1)[0]
    assert "staging-admin" in now and "static secret: rotate it" in now
    assert "secret/data/staging/admin: revoking the grant does not end it" in now
    history_rows = page.split('<table id="history">', 1)[1].split("</table>", 1)[0]
    assert history_rows.count("static secret: rotate it</span>") == (2 if history.postgres else 3)
    code, out = audit(history, "--format", "jsonl")
    issued = [e for e in map(json.loads, out.splitlines()) if e["type"] == "issued"]
    assert {e["grant"]: e["static_secret"] for e in issued}["stg-octocat-3"] is True
