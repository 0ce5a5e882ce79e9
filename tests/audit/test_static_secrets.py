"""A grant that handed out a static secret (no lease: revoking the grant does not end it) says
so in every audit output, judged by the policy that judged its issue. Plain values only: the
history read from git is covered in tests/lifecycle/test_audit.py."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from jitops.audit import events as audit_events
from jitops.audit.history import Record, note_static_secrets
from jitops.audit.html import to_html
from jitops.audit.render import to_csv, to_json, to_table
from jitops.audit.report import to_markdown
from jitops.core import schema as schemas
from jitops.core.policy import PolicyError, Role, load_policy
from jitops.lifecycle.audit import load_history
from tests.audit.test_history import T0, Ledger, records, request
from tests.audit.test_history import ledger as ledger

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KV = "secret/data/staging/admin"


def policy(vault: str) -> bytes:
    return (
        "version: 1\nroles:\n  staging-admin:\n    max_duration: 8h\n"
        "    requesters: ['@acme/engineering']\n    approvals: []\n"
        f"    vault:\n      policies: [jit-staging-admin]\n{vault}"
    ).encode()


def role(vault: str) -> Role:
    return load_policy({"policies/p.yaml": policy(vault)}, require_static_mark=False).roles[
        "staging-admin"
    ]


def issued(gid: str, sha: str, *, active: bool = False) -> Record:
    r = Record(gid, requester="octocat", role="staging-admin", pull_request=7)
    r.issued_at, r.expires_at, r.issue_sha = NOW - timedelta(hours=1), NOW + timedelta(hours=1), sha
    r.present = active
    if not active:
        r.ended_at, r.ended_by = NOW - timedelta(minutes=5), "revoke"
    return r


@pytest.mark.parametrize(
    ("vault", "static"),
    [
        (f"      secret: {KV}\n      static: true\n", KV),
        ("      secret: database/creds/prod-readonly\n", None),  # a lease: dies with the token
        ("", None),  # the token is the credential
        # written before `static: true` was required: still a secret that outlives the grant
        (f"      secret: {KV}\n", KV),
    ],
)
def test_a_role_names_the_secret_that_outlives_its_grant(vault: str, static: str | None) -> None:
    assert role(vault).static_secret == static


def test_the_history_reads_a_policy_written_before_the_static_mark() -> None:
    with pytest.raises(PolicyError, match="static: true"):
        load_policy({"policies/p.yaml": policy(f"      secret: {KV}\n")})


def test_each_issued_grant_is_judged_by_the_role_at_its_issue() -> None:
    static, leased = issued("g-1", "a" * 40), issued("g-2", "b" * 40)
    unknown = issued("g-3", "c" * 40)
    never = Record("g-4", requester="octocat", role="staging-admin")
    found = {
        "a" * 40: role(f"      secret: {KV}\n      static: true\n").static_secret or False,
        "b" * 40: role("      secret: database/creds/x\n").static_secret or False,
        "c" * 40: None,  # the policy at the issue commit's parent could not be read
    }
    note_static_secrets([static, leased, unknown, never], found)
    assert (static.static_secret, static.static_secret_path) == (True, KV)
    assert (leased.static_secret, leased.static_secret_path) == (False, None)
    # unknown stays unknown: never reported as "not static"
    assert (unknown.static_secret, unknown.static_secret_path) == (None, None)
    assert (never.static_secret, never.static_secret_path) == (False, None)


def marked() -> list[Record]:
    a, b = issued("stg-octo-1", "a" * 40), issued("stg-octo-2", "b" * 40, active=True)
    c = issued("stg-octo-3", "c" * 40, active=True)
    a.static_secret, a.static_secret_path = True, KV
    b.static_secret, b.static_secret_path = True, KV
    c.static_secret = None
    return [a, b, c, Record("db-octo-4", requester="octocat", role="prod-db-readonly")]


def test_json_and_csv_carry_the_static_secret() -> None:
    records = marked()
    rows = json.loads(to_json(records))
    # the fast writer says exactly what the record's own dict says
    assert rows == [r.to_json() for r in records]
    assert [(r["static_secret"], r["static_secret_path"]) for r in rows] == [
        (True, KV),
        (True, KV),
        (None, None),
        (False, None),
    ]
    cells = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert list(cells[0])[-2:] == ["static_secret", "static_secret_path"]
    assert (cells[0]["static_secret"], cells[0]["static_secret_path"]) == ("True", KV)
    assert cells[3]["static_secret"] == "False"


def test_the_table_and_active_view_say_rotate_it() -> None:
    records = marked()
    for text in (to_table(records, NOW, active=False), to_table(records[1:3], NOW, active=True)):
        assert text.count("static secret: rotate it") == (2 if "ended" in text else 1)
        assert "policy at issue unreadable" in text
        assert f"Static secret {KV}: revoking the grant does not end it; rotate it" in text
        assert "could not read" in text
    leased = to_table(records[3:], NOW, active=False)
    assert "static" not in leased.lower() and "rotate" not in leased


def test_the_html_page_says_it_in_the_history_and_who_has_access_now() -> None:
    page = to_html(marked(), NOW)
    now = page.split('<ul id="now">', 1)[1].split("</ul>", 1)[0]
    assert now.count('class="static"') == 2  # the static one and the unknown one
    assert "static secret: rotate it" in now and f"{KV}: revoking the grant does not end" in now
    history = page.split('<table id="history">', 1)[1]
    assert history.count("static secret: rotate it</span>") == 2
    assert "rotate it after the grant ends" in page.split("<footer>", 1)[1]
    plain = to_html(marked()[3:], NOW)
    assert 'class="static"' not in plain and "rotate" not in plain


def test_events_carry_it_and_follow_their_schema() -> None:
    evs = audit_events.events(marked())
    validator = jsonschema.Draft202012Validator(schemas.schema("audit-event"))
    by_grant: dict[str, list[dict[str, object]]] = {}
    for e in evs:
        event = audit_events.to_event(e, None)
        assert not list(validator.iter_errors(event)), event
        by_grant.setdefault(event["grant"], []).append(event)  # type: ignore[arg-type]
    assert {e["static_secret"] for e in by_grant["stg-octo-1"]} == {True}
    assert {e["static_secret_path"] for e in by_grant["stg-octo-1"]} == {KV}
    assert {e["static_secret"] for e in by_grant["stg-octo-3"]} == {None}
    # events written before the field existed are still version-1 events
    old = audit_events.to_event(evs[0], None)
    del old["static_secret"], old["static_secret_path"]
    assert not list(validator.iter_errors(old))
    issue = next(e for e in evs if e.type == "issued" and e.record.grant == "stg-octo-1")
    assert "rotate it" in audit_events.to_ocsf(issue, None, "0")["message"]


def test_the_job_summary_marks_active_static_grants() -> None:
    text = to_markdown(marked(), NOW)
    assert "`staging-admin` static secret: rotate it" in text
    assert "`staging-admin` static?" in text


@pytest.mark.integration  # a real git history
def test_the_policy_that_judged_each_issue_is_the_one_at_its_parent(ledger: Ledger) -> None:
    """Policy versions change between issues (by a merged pull request, and in the same
    pull request as a grant): each grant is judged by the policy at its issue's parent, and
    the one name per policy version the walk resolves is that same tree."""
    fixture = (ledger.repo / "policies" / "policy.yaml").read_text()
    assert f"secret: {KV}" in fixture and "static: true" in fixture  # staging-admin: static
    pr = ledger.add("stg-octo-1", request("octocat", "staging-admin"), T0)
    ledger.issue("stg-octo-1", T0 + timedelta(minutes=1), pr=pr)
    leased = fixture.replace(f"secret: {KV}", "secret: database/creds/staging-admin").replace(
        "static: true", ""
    )
    ledger.merge({"policies/policy.yaml": leased}, T0 + timedelta(minutes=5))
    pr = ledger.add("stg-octo-2", request("octocat", "staging-admin"), T0 + timedelta(minutes=6))
    ledger.issue("stg-octo-2", T0 + timedelta(minutes=7), pr=pr)
    # a grant and the policy back to static in one pull request: that grant is judged by it
    ledger.texts["stg-octo-3"] = request("octocat", "staging-admin")
    pr = ledger.merge(
        {"grants/stg-octo-3.yaml": ledger.texts["stg-octo-3"], "policies/policy.yaml": fixture},
        T0 + timedelta(minutes=8),
    )
    ledger.issue("stg-octo-3", T0 + timedelta(minutes=9), pr=pr)
    got = records(ledger.repo)
    assert [(got[g]["static_secret"], got[g]["static_secret_path"]) for g in sorted(got)] == [
        (True, KV),
        (False, None),
        (True, KV),
    ]
    history = load_history(ledger.git, "HEAD")
    issued = [r for r in history.records.values() if r.issue_sha]
    walk = ledger.git.resolve_many([f"{r.policy_commit}:policies" for r in issued])
    exact = ledger.git.resolve_many([f"{r.issue_sha}^1:policies" for r in issued])
    assert list(walk.values()) == list(exact.values())
    assert len(set(walk.values())) == 2
    # one name per policy version, not per issue: the first grant's is the policy's own commit
    first = history.records["stg-octo-1"]
    assert first.policy_commit == ledger.git.rev_parse(f"{first.issue_sha}~2")  # "initial policy"
    assert first.policy_commit != ledger.git.rev_parse(f"{first.issue_sha}^1")


def test_the_audit_names_the_policy_directory_jitops_reads() -> None:
    from jitops.audit import history
    from jitops.core import policy

    assert history.POLICY_DIR == policy.POLICY_DIR
