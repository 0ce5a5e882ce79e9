"""Usage evidence end to end: a real OpenBao whose file audit device is declared in the server's
``-config``, a real lifecycle, a real PostgreSQL login with the delivered credential, then
`jitops audit usage` on the audit log and the git ledger."""

from __future__ import annotations

import gzip
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.delivery import seal as deliver
from jitops.delivery.comment import extract_sealed
from jitops.doors.vault.client import Vault
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.revoke import run_revoke
from jitops_sandbox.demo.world import DB_ROLE, DBA, REQUESTER, World

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ORDERS = (
    "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
    "reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)
IDLE = (
    "requester: octocat\nrole: vault-operator\nduration: 1h\n"
    "reason: Rotate the staging certificates\n"
)


@pytest.fixture
def dbworld(tmp_path: Path) -> Iterator[World]:
    with World.create(tmp_path, use_postgres=True, audit_log=tmp_path / "audit.log") as w:
        assert w.postgres is not None, "PostgreSQL is a required test component"
        yield w


def _merge(w: World, grant_id: str, text: str, *, approve: bool) -> int:
    before = w.main_sha()
    n = w.gh.open_pr(
        REQUESTER, f"req-{grant_id}", grant_id, files={f"grants/{grant_id}.yaml": text}
    )
    if approve:
        w.gh.review(n, DBA, "APPROVED")
    after = w.gh.merge_pr(n, DBA)
    outcomes = run_issue(w.services(), before=before, after=after)
    assert (grant_id, "issued") in [(o.grant, o.action) for o in outcomes]
    return n


def _usage(w: World, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["audit", "usage", *args, "--repo", str(w.checkout)], catch_exceptions=False
    )
    return result.exit_code, result.output


def test_usage_shows_the_database_grant_used_and_the_idle_one_never_used(
    dbworld: World, tmp_path: Path
) -> None:
    w = dbworld
    pr = _merge(w, "db-octocat-7", ORDERS, approve=True)
    _merge(w, "op-octocat-7", IDLE, approve=False)

    # the requester claims the delivery and logs in to PostgreSQL with it
    armored = extract_sealed(w.gh.comments(pr), "db-octocat-7")
    assert armored is not None
    payload = deliver.unseal_first(armored, [w.key.private], grant_id="db-octocat-7")
    values = Vault(payload.vault_addr).unwrap(payload.wrapping_token).values
    user, password = values["username"].reveal(), values["password"].reveal()
    assert w.postgres is not None
    with psycopg.connect(w.postgres.dsn(user, password), connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (2,)

    # the idle grant is given back unused: its window ends inside the log
    run_revoke(w.services(), "op-octocat-7", "not needed after all", actor=REQUESTER)
    subprocess.run(["git", "pull", "-q"], cwd=w.checkout, check=True, capture_output=True)
    # the log goes on after the revoke commit (as a server's does): one more audited request,
    # so the log covers the idle grant's whole window even when the commit's second came after
    # the revoke's own log line
    time.sleep(1.1)
    w.admin().lookup_accessor("no-such-accessor")

    log = tmp_path / "audit.log"
    raw = log.read_text()
    # what OpenBao 2.7.2 really writes: metadata as it is, token and accessor HMAC'd
    assert '"metadata":{"jitops_grant":"db-octocat-7"' in raw.replace(" ", "")
    assert '"accessor":"hmac-sha256:' in raw

    code, out = _usage(w, "--vault-audit-log", str(log))
    assert code == 0, out
    lines = out.splitlines()
    db = next(x for x in lines if x.startswith("db-octocat-7 "))
    assert "db-octocat-7 octocat orders-db-readonly used: 1 request from" in db
    assert "of 30m granted" in db
    assert f"database/creds/{DB_ROLE}" in out
    assert "op-octocat-7 octocat vault-operator never used" in out
    assert "2 grants: 1 used, 1 never used, 0 not covered by the log" in out
    assert "accessors are HMAC'd" in out

    code, js = _usage(w, "--vault-audit-log", str(log), "--format", "json")
    doc = json.loads(js)
    by_id = {g["grant"]: g for g in doc["grants"]}
    assert by_id["db-octocat-7"]["paths"] == {f"database/creds/{DB_ROLE}": 1}
    assert by_id["db-octocat-7"]["granted_seconds"] == 1800
    assert by_id["op-octocat-7"]["state"] == "never used"
    assert doc["log"]["accessors_hmaced"] is True

    # nothing secret in any format: not the credential, not a token, not an HMAC'd value
    code, csv_out = _usage(w, "--vault-audit-log", str(log), "--format", "csv")
    html = tmp_path / "audit.html"
    result = CliRunner().invoke(
        cli,
        [
            *("audit", "--format", "html", "--vault-audit-log", str(log)),
            *("-o", str(html), "--repo", str(w.checkout)),
        ],
    )
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "<h2>Usage (Vault audit log)</h2>" in page and "db-octocat-7" in page
    for text in (out, js, csv_out, page):
        assert password not in text and payload.wrapping_token.reveal() not in text
        assert "hmac-sha256:" not in text and w.root_token not in text

    # rotated + gzip + a cut last line: the same evidence, with a clear note
    half = raw.splitlines(keepends=True)
    mid = len(half) // 2
    old = tmp_path / "audit.log.1.gz"
    old.write_bytes(gzip.compress("".join(half[:mid]).encode()))
    new = tmp_path / "audit.log.cut"
    new.write_text("".join(half[mid:]) + half[-1][:40])
    code, again = _usage(w, "--vault-audit-log", str(new), "--vault-audit-log", str(old))
    assert code == 0
    assert "the last line is cut off" in again
    assert next(x for x in again.splitlines() if x.startswith("db-octocat-7 ")) == db


def test_a_log_of_another_vault_says_nothing_matches(dbworld: World, tmp_path: Path) -> None:
    w = dbworld
    _merge(w, "db-octocat-8", ORDERS, approve=True)
    subprocess.run(["git", "pull", "-q"], cwd=w.checkout, check=True, capture_output=True)
    other = tmp_path / "other.log"
    lines = (tmp_path / "audit.log").read_text().replace("db-octocat-8", "db-hubot-99")
    other.write_text(lines)
    code, out = _usage(w, "--vault-audit-log", str(other))
    assert code == 0
    assert "belongs to a grant of this repository's ledger" in out
    assert "another Vault" in out
