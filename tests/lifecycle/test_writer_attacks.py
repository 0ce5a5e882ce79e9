"""A second attack review, as a writer of the access repository would attack.

A writer can push branches, open pull requests, write any commit message (one shaped exactly
like jitops' own, subject ``jitops: <action> <id>`` and ``Jitops-*`` trailers) and get it
rebase-merged with one colleague's approval (docs/architecture.md, *What a writer can and
cannot do*). Each test is one attack through the GitHub stand-in, real git and a real OpenBao.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.outcome import Outcome
from jitops_sandbox.demo.world import DBA, REQUESTER, World

pytestmark = pytest.mark.integration

STAGING = "requester: {who}\nrole: staging-admin\nduration: 2h\nreason: Debug the staging deploy\n"


def results(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.grant, o.action) for o in outcomes]


def on_main(world: World, gid: str) -> str | None:
    text = world.gh.read_file("main", f"grants/{gid}.yaml")
    return str(text) if text is not None else None


def test_files_that_can_only_be_flagged_never_starve_the_other_grants(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flagged file (not a readable grant: nothing about it can be recorded) stays on main
    until an admin removes it, and every run judges it again. Enough of them, named to sort
    first, used every run's budget (MAX_GRANTS_PER_RUN): no other grant was ever issued."""
    from jitops.lifecycle import issue

    monkeypatch.setattr(issue, "MAX_GRANTS_PER_RUN", 3)
    junk = {f"grants/aaa-junk-{i}.yaml": "- not\n- a grant\n" for i in range(3)}
    n = world.gh.open_pr("mallory", "junk", "Tidy up", files=junk)
    world.gh.merge_pr(n, DBA)
    gid = "stg-octocat-70"
    n = world.gh.open_pr(
        REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": STAGING.format(who=REQUESTER)}
    )
    world.gh.merge_pr(n, DBA)
    first = run_issue(world.services())
    second = run_issue(world.services())
    done = results(first) + results(second)
    assert (gid, "issued") in done, done
    assert on_main(world, gid) is not None and "token_accessor" in (on_main(world, gid) or "")
    assert sum(1 for _g, a in results(second) if a == "flagged") == 3  # still reported


def test_a_ledger_commit_planted_long_before_a_request_does_not_decide_it(
    world: World,
) -> None:
    """A writer's pull request carries an empty commit shaped exactly like jitops' own record
    of an early revoke (``jitops: revoke <id>``, trailers, no change: the shape jitops uses to
    record a deletion a pull request made), rebase-merged. No grant file was ever added under
    that id, so the id is not burnt and pr check warns nobody. Hours later the victim asks for
    that id; the planted commit is older than the window in which jitops asks GitHub whether a
    commit came with a pull request: it was believed, and the victim's approved request was
    removed as "already ended". (git keeps a commit that starts empty when it rebases, unless
    told otherwise: git-rebase's ``--keep-empty`` is the default; GitHub's rebase merge docs,
    https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/configuring-pull-request-merges/about-merge-methods-on-github,
    say each commit is added onto the base branch individually.)"""
    gid = "stg-octocat-71"
    path = f"grants/{gid}.yaml"
    n = world.gh.open_pr("mallory", "plant", "Typo", files={"README.md": "typo fixed\n"})
    world.gh.push_to_pr(
        n,
        {},
        message=(
            f"jitops: revoke {gid}\n\nRevoked.\n\nJitops-Action: revoke\nJitops-Grant: {gid}\n"
            f"Jitops-Requester: {REQUESTER}\nJitops-Role: staging-admin\nJitops-Reason: planted\n"
        ),
    )
    world.gh.merge_pr(n, DBA, method="rebase")
    assert run_issue(world.services()) == []  # nothing on main to judge
    # the victim's request, hours later (the window of one hour has passed)
    later = dataclasses.replace(world.services(), recheck_within=timedelta(0))
    m = world.gh.open_pr(REQUESTER, gid, "Access", files={path: STAGING.format(who=REQUESTER)})
    world.gh.merge_pr(m, DBA)
    outcomes = run_issue(later)
    assert results(outcomes) == [(gid, "issued")], outcomes
