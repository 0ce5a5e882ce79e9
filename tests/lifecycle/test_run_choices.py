"""The pure choices of a lifecycle run, without git or a server: which pull request is judged,
which recently issued grants get their delivery re-checked, what a dry-run sweep reports, what a
notification says, how a hostile file name is shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jitops.core.grant import shown_id
from jitops.core.notify_payload import grant_event
from jitops.core.tip import SweepPlan, Tip, parse_grant_files
from jitops.doors.github import PullRequest
from jitops.lifecycle.landing import merged_into, pull_facts, recently_issued
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.sweep import dry_run_outcomes
from tests.core.test_tip import POLICY, grant

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SEC = timedelta(seconds=1)


def pull(
    number: int, *, merged: bool = True, base: str = "main", sha: str | None = "m"
) -> PullRequest:
    return PullRequest(
        number=number,
        author="octocat",
        state="closed" if merged else "open",
        merged=merged,
        draft=False,
        head_sha="h" * 40,
        head_ref=f"access/{number}",
        base_sha="b" * 40,
        base_ref=base,
        merge_commit_sha=sha if merged else None,
        title="Access",
        url=f"https://github.com/acme/access/pull/{number}",
        merged_at=NOW if merged else None,
        commits=3,
    )


# -- which pull request is judged ------------------------------------------------------------
def test_the_pull_request_merged_into_the_branch_is_judged_not_the_first_associated() -> None:
    open_one, elsewhere, landed = pull(1, merged=False), pull(2, base="dev"), pull(3)
    assert merged_into([open_one, elsewhere, landed], "main", merge_commit=True) is landed


def test_without_a_merged_one_the_first_associated_is_judged_and_denied_by_the_gate() -> None:
    open_one = pull(1, merged=False)
    assert merged_into([open_one, pull(2, base="dev")], "main", merge_commit=True) is open_one


def test_a_merge_without_a_merge_commit_counts_only_where_none_is_needed() -> None:
    shaless, landed = pull(1, sha=None), pull(2)
    assert merged_into([shaless, landed], "main", merge_commit=True) is landed
    assert merged_into([shaless, landed], "main", merge_commit=False) is shaless


def test_pull_facts_carry_what_the_gate_reads() -> None:
    facts = pull_facts(pull(7))
    assert (facts.number, facts.merged, facts.base_ref, facts.commits) == (7, True, "main", 3)
    assert pull_facts(pull(7), commits=False).commits is None


# -- which recently issued grants get their delivery re-checked ------------------------------
def tip_of(*files: tuple[str, bytes]) -> Tip:
    return Tip("origin/main", parse_grant_files(dict(files)), POLICY, None, POLICY)


def issued_at(gid: str, when: datetime, length: timedelta = 2 * HOUR) -> tuple[str, bytes]:
    path, data = grant(gid, expires=when + length)
    return path, data.replace(
        f"issued_at: {when + length - HOUR:%Y-%m-%dT%H:%M:%SZ}".encode(),
        f"issued_at: {when:%Y-%m-%dT%H:%M:%SZ}".encode(),
    )


def test_only_grants_issued_within_the_window_are_rechecked() -> None:
    tip = tip_of(
        issued_at("just-now", NOW - timedelta(minutes=5)),
        issued_at("long-ago", NOW - 3 * HOUR, length=5 * HOUR),
        issued_at("from-the-future", NOW + timedelta(minutes=5)),
        grant("not-issued"),
    )
    assert [f.path for f in recently_issued(tip, NOW, HOUR)] == ["grants/just-now.yaml"]


def test_an_expired_grant_or_one_already_handled_this_run_is_not_rechecked() -> None:
    tip = tip_of(
        issued_at("over-now", NOW - 50 * timedelta(minutes=1), length=timedelta(minutes=30)),
        issued_at("denied-now", NOW - timedelta(minutes=5)),
    )
    assert recently_issued(tip, NOW, HOUR, frozenset({"denied-now"})) == []


def test_a_file_whose_name_is_no_valid_id_is_never_redelivered() -> None:
    _path, data = issued_at("real-id", NOW - timedelta(minutes=5))
    assert recently_issued(tip_of(("grants/Not_An_Id.yaml", data)), NOW, HOUR) == []
    assert len(recently_issued(tip_of(("grants/an-id.yaml", data)), NOW, HOUR)) == 1


def test_a_grant_without_a_pull_request_has_nowhere_to_be_delivered() -> None:
    path, data = issued_at("no-pr", NOW - timedelta(minutes=5))
    orphan = (path, data.replace(b"  pull_request: 7\n", b""))
    assert recently_issued(tip_of(orphan), NOW, HOUR) == []


# -- what a dry-run sweep reports ------------------------------------------------------------
def test_a_dry_run_lists_what_to_repair_issue_and_expire_in_that_order() -> None:
    (expired,) = tip_of(grant("old-one", expires=NOW - HOUR)).grants().values()
    todo = SweepPlan(("grants/new-one.yaml",), (expired,), (("grants/bad-one.yaml", "broken"),))
    assert dry_run_outcomes(todo) == [
        Outcome(
            "bad-one",
            Action.FLAGGED,
            "broken; an admin must repair or remove it (its token, if any, ends by its TTL)",
        ),
        Outcome("new-one", Action.WOULD_ISSUE, "merged but not yet issued"),
        Outcome("old-one", Action.WOULD_EXPIRE, "expired at 2026-12-01T11:00:00Z"),
    ]


def test_a_dry_run_says_a_scheduled_grant_not_due_waits_rather_than_would_issue() -> None:
    todo = SweepPlan(
        ("grants/later.yaml", "grants/now.yaml"),
        (),
        (),
        (("grants/later.yaml", "scheduled: not due until 2026-12-08T22:00:00Z"),),
    )
    assert dry_run_outcomes(todo) == [
        Outcome("later", Action.WAITING, "scheduled: not due until 2026-12-08T22:00:00Z"),
        Outcome("now", Action.WOULD_ISSUE, "merged but not yet issued"),
    ]


def test_a_dry_run_with_nothing_to_do_reports_nothing() -> None:
    assert dry_run_outcomes(SweepPlan((), (), ())) == []


def test_a_dry_run_never_prints_a_hostile_file_name() -> None:
    todo = SweepPlan(("grants/x\n::error::pwned.yaml",), (), ())
    (out,) = dry_run_outcomes(todo)
    assert out.grant == "(invalid grant file name)"


def test_shown_id_is_the_id_or_a_placeholder() -> None:
    assert shown_id("grants/db-one.yaml") == "db-one"
    for hostile in ("grants/Db_One.yaml", "grants/a\nb.yaml", "grants/\x1b[31mred.yaml"):
        assert shown_id(hostile) == "(invalid grant file name)"


# -- what a notification says ----------------------------------------------------------------
def test_a_notification_links_the_pull_request_of_the_grants_status() -> None:
    (g,) = tip_of(grant("db-one", expires=NOW + HOUR)).grants().values()
    event = grant_event("expired", g, NOW, repository="acme/access")
    assert (event.kind, event.grant_id, event.pull_request) == ("expired", "db-one", 7)
    assert event.url == "https://github.com/acme/access/pull/7"
    assert event.expires_at == NOW + HOUR


def test_a_notification_on_github_enterprise_links_there() -> None:
    (g,) = tip_of(grant("db-one", expires=NOW + HOUR)).grants().values()
    event = grant_event(
        "denied", g, NOW, repository="acme/access", server="https://ghe.example", pull_request=9
    )
    assert event.url == "https://ghe.example/acme/access/pull/9" and event.pull_request == 9


def test_a_notification_without_a_repository_or_pull_request_has_no_link() -> None:
    (g,) = tip_of(grant("db-one")).grants().values()
    assert grant_event("revoked", g, NOW, repository=None, pull_request=3).url is None
    bare = grant_event("revoked", g, NOW, repository="acme/access", reason="asked")
    assert bare.url is None and bare.approved_by == () and bare.reason == "asked"
    (active,) = tip_of(grant("db-two", expires=NOW + HOUR)).grants().values()
    status = replace(active.status, pull_request=11) if active.status else None
    assert (
        grant_event("issued", active, NOW, repository="acme/access", status=status).pull_request
        == 11
    )


def test_the_recheck_window_includes_its_last_second_and_no_more() -> None:
    edge = tip_of(issued_at("on-the-edge", NOW - HOUR), issued_at("just-out", NOW - HOUR - SEC))
    assert [f.path for f in recently_issued(edge, NOW, HOUR)] == ["grants/on-the-edge.yaml"]
