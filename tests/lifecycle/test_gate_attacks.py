"""Attacks on the issue gate by someone with write access, through the GitHub stand-in (merge,
squash and rebase merges as GitHub does them), real git and Vault: each one is refused."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from jitops.doors.github import MAX_ATTEMPTS, GitHub
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Outcome
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import BOT, DBA, REPO, REQUESTER, World

pytestmark = pytest.mark.integration

METHODS = ["merge", "squash", "rebase"]
ORDERS = (
    "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
    "reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)
STAGING = (
    "requester: octocat\nrole: staging-admin\nduration: 1h\nreason: Debug the staging deploy\n"
)
APPROVALS = (
    "    approvals:\n      - from: ['@acme/dba']\n        count: 1\n    require_ticket: true\n"
)


def results(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.grant, o.action) for o in outcomes]


def on_main(world: World, gid: str) -> str | None:
    text = world.gh.read_file("main", f"grants/{gid}.yaml")
    return str(text) if text is not None else None


def loosened(world: World) -> str:
    text = world.policy_text()
    assert APPROVALS in text
    return text.replace(APPROVALS, "    approvals: []\n    require_ticket: true\n", 1)


def denied_by(outcomes: list[Outcome], gid: str, rule: str) -> Outcome:
    (found,) = [o for o in outcomes if o.grant == gid]
    assert found.action == "denied", found
    assert found.detail.startswith(rule), found.detail
    return found


def issue(world: World, **kw: object) -> list[Outcome]:
    return run_issue(world.services(), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_a_pull_request_cannot_loosen_the_policy_that_judges_it(world: World, method: str) -> None:
    """Commit 1 sets approvals: [], commit 2 adds the grant and restores the policy: the net
    diff shows only the grant, and with a rebase merge ``<commit adding the file>^1`` is the
    PR's own commit 1. The policy before the PR landed requires a DBA: denied."""
    n = world.gh.open_pr(
        REQUESTER, "sneaky", "Access", files={"policies/policy.yaml": loosened(world)}
    )
    world.gh.push_to_pr(
        n, {"policies/policy.yaml": world.policy_text(), "grants/db-octocat-1.yaml": ORDERS}
    )
    world.gh.merge_pr(n, DBA, method=method)
    outcomes = issue(world)
    found = denied_by(outcomes, "db-octocat-1", "gate rule 5")
    assert "@acme/dba" in found.detail
    assert on_main(world, "db-octocat-1") is None


@pytest.mark.parametrize("method", METHODS)
def test_approvals_after_the_merge_do_not_count(world: World, method: str) -> None:
    n = world.gh.open_pr(REQUESTER, "late", "Access", files={"grants/db-octocat-2.yaml": ORDERS})
    head = world.gh.head_sha(n)
    world.gh.merge_pr(n, DBA, method=method)  # an admin merges without review
    later = datetime.now(UTC) + timedelta(minutes=2)
    world.gh.review(n, DBA, "APPROVED", commit_id=head, at=later)  # GitHub accepts it
    found = denied_by(issue(world), "db-octocat-2", "gate rule 5")
    assert "submitted at or after the merge do not count" in found.detail


def test_an_approval_in_the_second_of_the_merge_does_not_count(world: World) -> None:
    """GitHub stamps reviews and merges to the second: a review in the merge's own second may
    have come after it, so only a strictly earlier approval counts."""
    n = world.gh.open_pr(REQUESTER, "tie", "Access", files={"grants/db-octocat-5.yaml": ORDERS})
    second = datetime.now(UTC).replace(microsecond=0)
    world.gh.review(n, DBA, "APPROVED", at=second)
    world.gh.merge_pr(n, DBA, at=second)
    found = denied_by(issue(world), "db-octocat-5", "gate rule 5")
    assert "1 review(s) submitted at or after the merge do not count" in found.detail
    assert world.grant_tokens() == []


@pytest.mark.parametrize("method", METHODS)
def test_a_pre_filled_status_block_is_denied_and_names_no_token_to_revoke(
    world: World, method: str
) -> None:
    n = world.gh.open_pr(REQUESTER, "v", "Access", files={"grants/stg-octocat-1.yaml": STAGING})
    world.gh.merge_pr(n, DBA, method=method)
    assert results(issue(world)) == [("stg-octocat-1", "issued")]
    victim = on_main(world, "stg-octocat-1") or ""
    accessor = victim.split("token_accessor: ")[1].split()[0].strip('"')
    forged = STAGING + (
        "status:\n  state: active\n  pull_request: 1\n  approved_by: []\n"
        "  issued_at: 2020-01-01T00:00:00Z\n  expires_at: 2020-01-01T01:00:00Z\n"
        f'  token_accessor: "{accessor}"\n'
    )
    m = world.gh.open_pr(REQUESTER, "pre", "Access", files={"grants/stg-octocat-2.yaml": forged})
    world.gh.merge_pr(m, DBA, method=method)
    found = denied_by(issue(world), "stg-octocat-2", "gate rule 3")
    assert "status" in found.detail
    assert on_main(world, "stg-octocat-2") is None
    run_sweep(world.services())  # its fake expiry names the victim's token
    assert world.admin().lookup_accessor(accessor) is not None


@pytest.mark.parametrize("method", METHODS)
def test_one_approval_never_issues_two_grants(world: World, method: str) -> None:
    other = ORDERS.replace("30m", "20m")
    n = world.gh.open_pr(
        REQUESTER,
        "two",
        "Access",
        files={"grants/db-octocat-3.yaml": ORDERS, "grants/db-octocat-4.yaml": other},
    )
    world.gh.review(n, DBA, "APPROVED")
    world.gh.merge_pr(n, DBA, method=method)
    outcomes = issue(world)
    denied_by(outcomes, "db-octocat-3", "gate rule 3")
    denied_by(outcomes, "db-octocat-4", "gate rule 3")


def test_the_file_on_main_must_be_the_reviewed_file(world: World) -> None:
    """The DBA approved 30m; an admin changes it to 1h on main right after the merge."""
    n = world.gh.open_pr(REQUESTER, "r", "Access", files={"grants/db-octocat-5.yaml": ORDERS})
    world.gh.review(n, DBA, "APPROVED")
    world.gh.merge_pr(n, DBA)
    world.gh.commit_files(
        "main", {"grants/db-octocat-5.yaml": ORDERS.replace("30m", "1h")}, author=DBA
    )
    found = denied_by(issue(world), "db-octocat-5", "gate rule 4")
    assert "differs from the file at the head commit" in found.detail


def test_a_grant_merged_into_another_branch_that_reaches_main(world: World) -> None:
    world.gh.create_branch("develop")
    n = world.gh.open_pr(
        REQUESTER, "r", "Access", base="develop", files={"grants/db-octocat-6.yaml": ORDERS}
    )
    world.gh.merge_pr(n, DBA)
    # develop reaches main by a push (fast-forward): the commit that added the file is #n's
    subprocess.run(
        ["git", "push", "-q", str(world.gh.repo_path), "refs/heads/develop:refs/heads/main"],
        cwd=world.gh.repo_path,
        check=True,
        capture_output=True,
    )
    found = denied_by(issue(world), "db-octocat-6", "gate rule 1")
    assert "merged into 'develop'" in found.detail


def test_team_membership_removed_between_approval_and_merge(world: World) -> None:
    n = world.gh.open_pr(REQUESTER, "r", "Access", files={"grants/db-octocat-7.yaml": ORDERS})
    world.gh.review(n, DBA, "APPROVED")
    world.gh.remove_team_member("acme", "dba", DBA)
    world.gh.merge_pr(n, DBA)
    denied_by(issue(world), "db-octocat-7", "gate rule 5")


def test_a_review_counts_only_for_the_head_it_was_made_on(world: World) -> None:
    """Approved at h1, force-pushed to h2 (1h) and merged: stale. Force-pushed away and back
    to h1 before the merge: the approval is on the head again, and its content is the head's."""
    n = world.gh.open_pr(REQUESTER, "a", "Access", files={"grants/db-octocat-8.yaml": ORDERS})
    h1 = world.gh.head_sha(n)
    world.gh.review(n, DBA, "APPROVED")
    world.gh.push_to_pr(n, {"grants/db-octocat-8.yaml": ORDERS.replace("30m", "1h")})
    world.gh.merge_pr(n, DBA)
    denied_by(issue(world), "db-octocat-8", "gate rule 5")

    m = world.gh.open_pr(REQUESTER, "b", "Access", files={"grants/db-octocat-9.yaml": ORDERS})
    h1 = world.gh.head_sha(m)
    world.gh.review(m, DBA, "APPROVED")
    h2 = world.gh.push_to_pr(m, {"grants/db-octocat-9.yaml": ORDERS.replace("30m", "1h")})
    assert h2 != h1
    world.gh.force_push(m, h1)
    world.gh.merge_pr(m, DBA)
    assert results(issue(world)) == [("db-octocat-9", "issued")]


def test_the_grant_is_judged_by_the_policy_its_merge_was_made_on(world: World) -> None:
    """A loosening policy PR merged *after* the grant PR does not judge it, even when one issue
    run sees both merges (the runs of a burst can be cancelled by a concurrency group)."""
    n = world.gh.open_pr(REQUESTER, "g", "Access", files={"grants/db-octocat-10.yaml": ORDERS})
    world.gh.merge_pr(n, DBA)
    p = world.gh.open_pr(DBA, "loose", "Loosen", files={"policies/policy.yaml": loosened(world)})
    world.gh.merge_pr(p, DBA)
    denied_by(issue(world), "db-octocat-10", "gate rule 5")

    # merged right after the loosening policy PR: judged by the loosened policy
    m = world.gh.open_pr(REQUESTER, "h", "Access", files={"grants/db-octocat-11.yaml": ORDERS})
    world.gh.merge_pr(m, DBA)
    assert results(issue(world)) == [("db-octocat-11", "issued")]


def test_a_burst_of_merges_is_handled_by_one_run_without_a_range(world: World) -> None:
    for i in (1, 2, 3):
        gid = f"stg-octocat-b{i}"
        n = world.gh.open_pr(REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": STAGING})
        world.gh.merge_pr(n, DBA, method=METHODS[i - 1])
    assert sorted(results(issue(world))) == [
        ("stg-octocat-b1", "issued"),
        ("stg-octocat-b2", "issued"),
        ("stg-octocat-b3", "issued"),
    ]


def test_a_grant_with_no_pull_request_is_failed_then_denied_after_the_bound(world: World) -> None:
    world.gh.commit_files("main", {"grants/stg-octocat-9.yaml": STAGING}, author=DBA)
    outcomes = issue(world)
    assert results(outcomes) == [("stg-octocat-9", "failed")]
    assert "no pull request" in outcomes[0].detail and "waiting since" in outcomes[0].detail
    assert on_main(world, "stg-octocat-9") is not None  # the id is not burned on uncertainty
    svc = dataclasses.replace(world.services(), give_up_after=timedelta(0))
    outcomes = run_issue(svc)
    found = denied_by(outcomes, "stg-octocat-9", "gate rule 1")
    assert "could not be determined" in found.detail
    assert on_main(world, "stg-octocat-9") is None


def test_github_down_is_failed_not_denied(world: World) -> None:
    n = world.gh.open_pr(REQUESTER, "r", "Access", files={"grants/stg-octocat-8.yaml": STAGING})
    world.gh.merge_pr(n, DBA)
    world.gh.fail_next(MAX_ATTEMPTS, 502, path="/pulls")  # every bounded retry fails
    patient = GitHub(REPO, world.gh.token(BOT), world.gh.api_url, sleep=lambda _s: None)
    outcomes = run_issue(dataclasses.replace(world.services(), github=patient))
    assert results(outcomes) == [("stg-octocat-8", "failed")]
    assert "502" in outcomes[0].detail or "GitHub" in outcomes[0].detail
    assert on_main(world, "stg-octocat-8") is not None
    assert results(issue(world)) == [("stg-octocat-8", "issued")]


def lagging(world: World, monkeypatch: pytest.MonkeyPatch, *refs: str):  # type: ignore[no-untyped-def]
    """Services whose GitHub has not associated the commits ``refs`` (on main) with any pull
    request yet: ``commits/{sha}/pulls`` answers [] for them, as GitHub can for a while."""
    shas = {
        subprocess.run(
            ["git", "rev-parse", ref], cwd=world.gh.repo_path, check=True, capture_output=True
        )
        .stdout.decode()
        .strip()
        for ref in refs
    }
    svc = world.services()
    real = svc.github.pulls_for_commit
    monkeypatch.setattr(
        svc.github, "pulls_for_commit", lambda sha: [] if sha in shas else real(sha)
    )
    return svc


def test_a_rebase_github_has_not_fully_associated_is_failed_not_judged_by_its_own_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The self-judging rebase attack while GitHub has not yet associated the replayed commit 1
    (which loosens the policy) with the pull request: the base tip is never that commit. The
    grant is ``failed`` (not issued, not denied, the file stays); once GitHub associates it,
    the policy before the pull request judges it: denied."""
    n = world.gh.open_pr(
        REQUESTER, "sneaky", "Access", files={"policies/policy.yaml": loosened(world)}
    )
    world.gh.push_to_pr(
        n, {"policies/policy.yaml": world.policy_text(), "grants/db-octocat-40.yaml": ORDERS}
    )
    world.gh.merge_pr(n, DBA, method="rebase")
    outcomes = run_issue(lagging(world, monkeypatch, "main~1"))
    assert results(outcomes) == [("db-octocat-40", "failed")]
    assert (
        "does not associate" in outcomes[0].detail and "a later run retries" in outcomes[0].detail
    )
    assert on_main(world, "db-octocat-40") is not None
    assert "status:" not in (on_main(world, "db-octocat-40") or "")
    monkeypatch.undo()
    found = denied_by(issue(world), "db-octocat-40", "gate rule 5")
    assert "@acme/dba" in found.detail


def test_a_rebase_of_three_commits_with_any_one_unassociated_is_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commit 1 loosens the policy, commit 2 restores it, commit 3 adds the grant. GitHub lags
    on commit 1 (a walk would stop there and judge by it) or on commit 2 (the commit before the
    last then looks like a squash's base, but it is one of the pull request's own): failed."""
    n = world.gh.open_pr(
        REQUESTER, "sneaky", "Access", files={"policies/policy.yaml": loosened(world)}
    )
    world.gh.push_to_pr(n, {"policies/policy.yaml": world.policy_text()})
    world.gh.push_to_pr(n, {"grants/db-octocat-41.yaml": ORDERS})
    world.gh.merge_pr(n, DBA, method="rebase")
    for lag in ("main~2", "main~1", "main~1 main~2"):
        outcomes = run_issue(lagging(world, monkeypatch, *lag.split()))
        assert results(outcomes) == [("db-octocat-41", "failed")], lag
        monkeypatch.undo()
    denied_by(issue(world), "db-octocat-41", "gate rule 5")


def test_an_approved_rebase_waits_for_github_to_associate_its_commits(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three commits (the grant, two edits): GitHub lags on the middle one (the first added the
    file and was associated; the last is the pull request's merge_commit_sha)."""
    n = world.gh.open_pr(REQUESTER, "ok", "Access", files={"grants/db-octocat-42.yaml": ORDERS})
    world.gh.push_to_pr(n, {"grants/db-octocat-42.yaml": ORDERS.replace("30m", "20m")})
    world.gh.push_to_pr(n, {"grants/db-octocat-42.yaml": ORDERS.replace("30m", "10m")})
    world.gh.review(n, DBA, "APPROVED")
    world.gh.merge_pr(n, DBA, method="rebase")
    outcomes = run_issue(lagging(world, monkeypatch, "main~1"))
    assert results(outcomes) == [("db-octocat-42", "failed")]
    monkeypatch.undo()
    assert results(issue(world)) == [("db-octocat-42", "issued")]


@pytest.mark.parametrize("method", ["squash", "rebase"])
def test_a_pull_request_of_several_commits_is_judged_by_the_commit_before_it(
    world: World, method: str
) -> None:
    """Squash and rebase of a three-commit pull request (the grant, then two edits) merged
    right after a policy pull request that drops the approvals: that policy, main's just before
    the merge, judges it (no review needed): issued."""
    p = world.gh.open_pr(DBA, "loose", "Loosen", files={"policies/policy.yaml": loosened(world)})
    n = world.gh.open_pr(REQUESTER, "g", "Access", files={"grants/db-octocat-43.yaml": ORDERS})
    world.gh.push_to_pr(n, {"grants/db-octocat-43.yaml": ORDERS.replace("30m", "20m")})
    world.gh.push_to_pr(n, {"grants/db-octocat-43.yaml": ORDERS.replace("30m", "10m")})
    world.gh.merge_pr(p, DBA)
    world.gh.merge_pr(n, DBA, method=method)
    assert results(issue(world)) == [("db-octocat-43", "issued")]


def test_a_merge_commit_that_is_the_pull_requests_own_commit_gives_no_base_tip(
    world: World,
) -> None:
    """A pull request whose head reached main by a push (GitHub can then mark it merged with
    its head as merge_commit_sha): the head's parents are the pull request's own commits, never
    a base tip."""
    from jitops.core.gate import PullFacts
    from jitops.lifecycle.landing import find_landing

    n = world.gh.open_pr(
        REQUESTER, "sneaky", "Access", files={"policies/policy.yaml": loosened(world)}
    )
    head = world.gh.push_to_pr(
        n, {"policies/policy.yaml": world.policy_text(), "grants/db-octocat-44.yaml": ORDERS}
    )
    subprocess.run(
        ["git", "push", "-q", str(world.gh.repo_path), f"{head}:refs/heads/main"],
        cwd=world.gh.repo_path,
        check=True,
        capture_output=True,
    )
    svc = world.services()
    svc.git.fetch(svc.remote, svc.branch)
    pull = PullFacts(n, REQUESTER, True, "main", head, datetime.now(UTC), head, commits=2)
    assert find_landing(svc, pull, head) == (True, None)


def test_the_deny_comment_renders_requester_text_inertly(world: World) -> None:
    """A team mention and a backtick break-out into a link in a requester's ticket: in the deny
    comment they appear only inside code spans (no mention notifies, no link renders)."""
    text = ORDERS.replace("ticket: INC-7", "ticket: '`@acme/dba [x](https://evil)`'")
    n = world.gh.open_pr(REQUESTER, "r", "Access", files={"grants/db-octocat-12.yaml": text})
    world.gh.merge_pr(n, DBA)
    denied_by(issue(world), "db-octocat-12", "the grant file")
    (comment,) = [c for c in world.gh.comments(n) if "access denied" in c]
    outside_code = comment.split("`")[0::2]  # even pieces are outside code spans
    assert "@acme/dba" in comment
    assert not any("@acme" in piece or "](" in piece for piece in outside_code)


def test_the_step_summary_renders_requester_text_inertly(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A role name that is a link, a team mention and HTML: the outcome's detail quotes it, and
    in the step summary's table it appears only inside a code span (no link, mention or tag)."""
    import re

    from click.testing import CliRunner

    from jitops.cli import cli

    hostile = "[x](https://evil.example) @acme/dba <b>hi</b>"
    text = ORDERS.replace("role: orders-db-readonly", f"role: '{hostile}'")
    n = world.gh.open_pr(REQUESTER, "r", "Access", files={"grants/db-octocat-13.yaml": text})
    world.gh.merge_pr(n, DBA)
    summary = tmp_path / "summary.md"
    env = {
        **world.environ(),
        "GITHUB_TOKEN": world.gh.token(BOT),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    result = CliRunner().invoke(cli, ["issue", "--repo", str(world.checkout)], env=env)
    assert result.exit_code in (0, 1), result.output  # denied, or flagged for an admin
    written = summary.read_text()
    (row,) = [line for line in written.splitlines() if "db-octocat-13" in line]
    assert ("denied" in row or "flagged" in row) and "https://evil.example" in row
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", row)  # every code span removed
    assert "](" not in outside and "@acme" not in outside and "<b>" not in outside
    assert outside.count("|") == 5  # four cells: no | in the text split the row


# -- what a run costs -------------------------------------------------------------------------


class CountingProxy:
    """A loopback HTTP forwarder in front of Vault that records every request it passes on."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading

        import requests

        seen: list[str] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(f"{self.command} {self.path.split('?')[0]}")
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                got = requests.request(
                    self.command, upstream + self.path, headers=headers, data=body, timeout=30
                )
                self.send_response(got.status_code)
                for k, v in got.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(got.content)))
                self.end_headers()
                self.wfile.write(got.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def counted_services(world: World, proxy: CountingProxy):  # type: ignore[no-untyped-def]
    from jitops.doors.vault.client import Vault

    environ = {**world.environ(), "VAULT_ADDR": proxy.url}
    return dataclasses.replace(
        world.services(),
        environ=environ,
        connect_vault=lambda policy: Vault.connect(proxy.url, policy.settings.vault, environ),
    )


def github_requests(world: World, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in world.gh.server.log[since:]]


@pytest.mark.parametrize("method", METHODS)
def test_what_issuing_one_grant_costs(world: World, method: str) -> None:
    n = world.gh.open_pr(REQUESTER, "c", "Access", files={"grants/db-octocat-20.yaml": ORDERS})
    world.gh.push_to_pr(n, {"grants/db-octocat-20.yaml": ORDERS.replace("30m", "20m")})
    world.gh.review(n, DBA, "APPROVED")
    world.gh.merge_pr(n, DBA, method=method)  # two commits: a rebase replays both
    proxy = CountingProxy(world.vault_url)
    try:
        mark = len(world.gh.server.log)
        assert results(run_issue(counted_services(world, proxy))) == [("db-octocat-20", "issued")]
        gh_calls = github_requests(world, mark)
        print(f"\nissue ({method}): {len(gh_calls)} GitHub requests {gh_calls}")
        print(f"issue ({method}): {len(proxy.seen)} Vault requests {proxy.seen}")
        assert len(gh_calls) <= 10
        assert len(proxy.seen) <= 4
        assert not any("accessors" in r for r in proxy.seen)
    finally:
        proxy.close()


def test_what_a_sweep_costs_with_20_active_grants_and_5_expired(world: World) -> None:
    from jitops.core.grant import parse_time
    from jitops.core.record import LOOKUPS_PER_RUN
    from jitops.lifecycle.shrink import SHRINK_PER_RUN

    for i in range(20):
        gid = f"stg-octocat-s{i:02d}"
        text = STAGING.replace("1h", "30m" if i < 5 else "8h")
        n = world.gh.open_pr(REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": text})
        world.gh.merge_pr(n, DBA)
    assert len(run_issue(world.services())) == 20
    issued = parse_time(
        (on_main(world, "stg-octocat-s00") or "").split("issued_at: ")[1].split()[0]
    )
    proxy = CountingProxy(world.vault_url)
    try:
        mark = len(world.gh.server.log)
        # the steady state: an hour later, nothing is re-checked with GitHub any more
        swept = run_sweep(counted_services(world, proxy), now=issued + timedelta(minutes=61))
        assert sorted(o.grant for o in swept if o.action == "expired") == [
            f"stg-octocat-s{i:02d}" for i in range(5)
        ]
        gh_calls = github_requests(world, mark)
        print(f"\nsweep, 20 active / 5 expired: {len(proxy.seen)} Vault requests {proxy.seen}")
        print(f"sweep, 20 active / 5 expired: {len(gh_calls)} GitHub requests {gh_calls}")
        # a comment on each expired grant's pull request, plus the delivery shrink's constant
        # share (who the bot is, and a comment listing and edit for at most SHRINK_PER_RUN
        # recent deliveries): nothing grows with the 15 grants that stay active
        assert len(gh_calls) <= 5 + 1 + 2 * SHRINK_PER_RUN
        # the login, a lookup and a revoke per expired grant, the rotation's share of the 15
        # grants still active (docs/architecture.md, "What a run asks Vault") and a wrapping
        # lookup per looked-at delivery: constants, never one per active grant
        assert len(proxy.seen) <= 2 * 5 + 1 + LOOKUPS_PER_RUN + SHRINK_PER_RUN
        assert not any("accessors" in r for r in proxy.seen)  # Vault's tokens are never listed
    finally:
        proxy.close()


def test_pr_check_on_a_pull_request_touching_no_grant_passes_and_what_it_costs(
    world: World,
) -> None:
    from jitops.doors.git import Git
    from jitops.lifecycle import prcheck

    n = world.gh.open_pr(DBA, "docs", "Fix a typo", files={"README.md": "Access repository\n"})
    mark = len(world.gh.server.log)
    d = prcheck.run(
        Git(world.checkout), world.github(), n, now=datetime.now(UTC), request_reviews=True
    )
    assert (d.validate, d.approval) == ("success", "success")
    head = world.gh.head_sha(n)
    states = {s.context: s.state for s in world.gh.statuses(head)}
    assert states == {"jitops/validate": "success", "jitops/approval": "success"}
    other = len(github_requests(world, mark))

    m = world.gh.open_pr(REQUESTER, "g", "Access", files={"grants/db-octocat-21.yaml": ORDERS})
    mark = len(world.gh.server.log)
    prcheck.run(Git(world.checkout), world.github(), m, now=datetime.now(UTC), request_reviews=True)
    grant = github_requests(world, mark)
    print(f"\npr check: {other} GitHub requests (no grant), {len(grant)} (a grant) {grant}")
    assert other <= 10 and len(grant) <= 10


@pytest.mark.parametrize("method", ["merge", "squash"])
def test_a_merged_change_to_an_issued_grant_is_undone_by_jitops_record(
    world: World, method: str
) -> None:
    """An admin merges a pull request that pushes an active grant's expiry out by a month: the
    changed file is not jitops' record, so jitops puts its record back (the grant is never
    judged again, nor recorded as denied), and access still ends at the recorded expiry."""
    from jitops.core.grant import parse_time

    n = world.gh.open_pr(REQUESTER, "g", "Access", files={"grants/stg-octocat-20.yaml": STAGING})
    world.gh.merge_pr(n, DBA, method=method)
    assert results(issue(world)) == [("stg-octocat-20", "issued")]
    text = on_main(world, "stg-octocat-20") or ""
    accessor = text.split("token_accessor: ")[1].split()[0].strip('"')
    longer = text.replace("expires_at: 20", "expires_at: 21", 1)
    m = world.gh.open_pr(REQUESTER, "x", "Longer", files={"grants/stg-octocat-20.yaml": longer})
    world.gh.merge_pr(m, DBA, method=method)
    outcomes = issue(world)
    assert results(outcomes) == [("stg-octocat-20", "restored")]
    assert outcomes[0].pull_request == n
    assert on_main(world, "stg-octocat-20") == text
    assert world.admin().lookup_accessor(accessor) is not None
    expiry = parse_time(text.split("expires_at: ")[1].split()[0])
    swept = run_sweep(world.services(), now=expiry + timedelta(seconds=1))
    assert ("stg-octocat-20", "expired") in results(swept)
    assert world.admin().lookup_accessor(accessor) is None


@pytest.mark.parametrize("method", METHODS)
def test_merge_queue_merges_are_judged_like_any_merge(world: World, method: str) -> None:
    """Through the merge queue (GitHub builds the merge in gh-readonly-queue/main/..., then
    fast-forwards main to it): the self-judging rebase attack is still refused, and an approved
    grant is issued."""
    n = world.gh.open_pr(
        REQUESTER, "sneaky", "Access", files={"policies/policy.yaml": loosened(world)}
    )
    world.gh.push_to_pr(
        n, {"policies/policy.yaml": world.policy_text(), "grants/db-octocat-30.yaml": ORDERS}
    )
    world.gh.queue_pr(n, DBA, method=method, enforce_protection=False)
    world.gh.land_queued(n)
    denied_by(issue(world), "db-octocat-30", "gate rule 5")

    m = world.gh.open_pr(REQUESTER, "ok", "Access", files={"grants/db-octocat-31.yaml": ORDERS})
    world.gh.review(m, DBA, "APPROVED")
    world.gh.queue_pr(m, DBA, method=method, enforce_protection=False)
    world.gh.land_queued(m)
    assert results(issue(world)) == [("db-octocat-31", "issued")]


def test_pr_check_on_a_merge_group_passes_the_queue_commit(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Required jitops/* checks never leave a merge queue waiting: on ``merge_group`` the
    group's commit gets passing statuses (the gate judges each pull request on main)."""
    import json

    from click.testing import CliRunner

    from jitops.cli import cli

    n = world.gh.open_pr(REQUESTER, "q", "Access", files={"grants/stg-octocat-40.yaml": STAGING})
    ref, sha = world.gh.queue_pr(n, DBA, enforce_protection=False)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "checks_requested",
                "merge_group": {
                    "head_sha": sha,
                    "head_ref": f"refs/heads/{ref}",
                    "base_ref": "refs/heads/main",
                },
            }
        )
    )
    env = {
        **world.environ(),
        "GITHUB_TOKEN": world.gh.token(BOT),
        "GITHUB_EVENT_PATH": str(event),
    }
    result = CliRunner().invoke(cli, ["pr", "check", "--repo", str(world.checkout)], env=env)
    assert result.exit_code == 0, result.output
    states = {s.context: s.state for s in world.gh.statuses(sha)}
    assert states == {"jitops/validate": "success", "jitops/approval": "success"}


def test_an_invalid_grant_file_is_denied_and_its_requester_told(world: World) -> None:
    text = STAGING + "admin: true\n"  # an unknown field (additionalProperties: false)
    n = world.gh.open_pr(REQUESTER, "bad", "Access", files={"grants/stg-octocat-50.yaml": text})
    world.gh.merge_pr(n, DBA)
    found = denied_by(issue(world), "stg-octocat-50", "the grant file")
    assert found.pull_request == n
    assert any("access denied" in c for c in world.gh.comments(n))
    assert on_main(world, "stg-octocat-50") is None


def test_the_ledger_the_gate_writes_passes_audit_verify(world: World) -> None:
    """A denial, a revoke with its actor, an early revoke and a grant landed by a rebase merge
    (no merge commit, no ``(#N)`` subject: jitops' issue record names its pull request) leave a
    ledger that `jitops audit verify` finds consistent."""
    from click.testing import CliRunner

    from jitops.cli import cli
    from jitops.lifecycle.revoke import run_revoke

    n = world.gh.open_pr(REQUESTER, "a", "Access", files={"grants/stg-octocat-60.yaml": STAGING})
    world.gh.merge_pr(n, DBA)
    m = world.gh.open_pr(REQUESTER, "b", "Access", files={"grants/db-octocat-61.yaml": ORDERS})
    world.gh.merge_pr(m, DBA, method="squash")  # no review: denied by rule 5
    k = world.gh.open_pr(REQUESTER, "c", "Access", files={"grants/stg-octocat-62.yaml": STAGING})
    world.gh.merge_pr(k, DBA)
    r = world.gh.open_pr(REQUESTER, "e", "Access", files={"grants/stg-octocat-63.yaml": STAGING})
    world.gh.merge_pr(r, DBA, method="rebase")
    outcomes = issue(world)
    assert sorted(results(outcomes)) == [
        ("db-octocat-61", "denied"),
        ("stg-octocat-60", "issued"),
        ("stg-octocat-62", "issued"),
        ("stg-octocat-63", "issued"),
    ]
    run_revoke(world.services(), "stg-octocat-60", "laptop lost on the train", actor=DBA)
    d = world.gh.open_pr(REQUESTER, "d", "Done", files={"grants/stg-octocat-62.yaml": None})
    world.gh.merge_pr(d, DBA)
    assert results(issue(world)) == [("stg-octocat-62", "revoked")]

    subprocess.run(["git", "fetch", "-q", "origin"], cwd=world.checkout, check=True)
    args = ["audit", "--repo", str(world.checkout), "--ref", "origin/main", "verify"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "the ledger is consistent" in result.output
