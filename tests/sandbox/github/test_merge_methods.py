"""Merge, squash and rebase merges as GitHub does them, through unmodified PyGithub.

GitHub's docs: data/reusables/pull_requests/squash_and_merge_summary.md (one commit, the
base tip its only parent) and rebase_and_merge_summary.md ("all commits from the topic branch
... are added onto the base branch individually without a merge commit ... will always update
the committer information and create new commit SHAs").
"""

from __future__ import annotations

from collections.abc import Callable

import github
import pytest

from jitops_sandbox.github import APIError, GitHubSandbox
from tests.sandbox.github.support import GRANT

pytestmark = pytest.mark.integration

OPEN_POLICY = "roles: {db: {approvals: []}}\n"
STRICT_POLICY = "roles: {db: {approvals: [{from: ['@acme/dba'], count: 1}]}}\n"


def _two_commit_pr(gh: GitHubSandbox) -> tuple[int, list[str]]:
    """Commit 1 loosens the policy, commit 2 adds a grant and restores it."""
    gh.commit_files("main", {"policies/p.yaml": STRICT_POLICY}, message="policy")
    gh.create_branch("sneaky")
    one = gh.commit_files(
        "sneaky", {"policies/p.yaml": OPEN_POLICY}, author="octocat", message="loosen"
    )
    two = gh.commit_files(
        "sneaky",
        {"policies/p.yaml": STRICT_POLICY, "grants/a.yaml": GRANT},
        author="octocat",
        message="grant",
    )
    return gh.open_pr("octocat", "sneaky", "Access for octocat"), [one, two]


def test_merge_commit_has_the_base_tip_as_first_parent(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    number, (_, head) = _two_commit_pr(gh)
    tip = gh.branch_sha("main")
    status = bot.get_repo("acme/access").get_pull(number).merge(merge_method="merge")
    commit = bot.get_repo("acme/access").get_commit(status.sha)
    assert [p.sha for p in commit.parents] == [tip, head]
    assert commit.commit.message == "Merge pull request #1 from acme/sneaky\n\nAccess for octocat"
    assert gh.pr(number).merge_method == "merge"


def test_squash_is_one_commit_on_the_base_tip_with_the_net_change(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    number, _ = _two_commit_pr(gh)
    tip = gh.branch_sha("main")
    pr = bot.get_repo("acme/access").get_pull(number)
    status = pr.merge(merge_method="squash", commit_title="Grant", commit_message="why")
    assert status.merged and gh.branch_sha("main") == status.sha
    commit = bot.get_repo("acme/access").get_commit(status.sha)
    assert [p.sha for p in commit.parents] == [tip]
    assert commit.commit.message == "Grant\n\nwhy"
    assert [f.filename for f in commit.files] == ["grants/a.yaml"]  # policy restored: no change
    assert gh.read_file("main", "policies/p.yaml") == STRICT_POLICY
    fresh = bot.get_repo("acme/access").get_pull(number)
    assert (fresh.merged, fresh.merge_commit_sha) == (True, status.sha)
    assert [p.number for p in bot.get_repo("acme/access").get_commit(status.sha).get_pulls()] == [
        number
    ]


def test_squash_default_message_is_title_and_number_then_the_commits(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    number, _ = _two_commit_pr(gh)
    sha = gh.merge_pr(number, "alice", method="squash")
    message = bot.get_repo("acme/access").get_commit(sha).commit.message
    assert message == "Access for octocat (#1)\n\n* loosen\n\n* grant"


def test_rebase_replays_each_commit_with_new_shas_and_no_merge_commit(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    number, originals = _two_commit_pr(gh)
    tip = gh.branch_sha("main")
    status = bot.get_repo("acme/access").get_pull(number).merge(merge_method="rebase")
    repo = bot.get_repo("acme/access")
    last = repo.get_commit(status.sha)
    first = repo.get_commit(last.parents[0].sha)
    assert [p.sha for p in first.parents] == [tip]  # a straight line on the base tip
    assert len(last.parents) == 1
    assert {first.sha, last.sha}.isdisjoint(originals)  # new shas
    assert [first.commit.message, last.commit.message] == ["loosen", "grant"]
    assert first.commit.author.name == "octocat"
    assert last.commit.committer.name == "GitHub"
    # the PR's own commit 1 is on main: its policy is the loosened one
    assert gh.read_file(first.sha, "policies/p.yaml") == OPEN_POLICY
    assert gh.read_file("main", "policies/p.yaml") == STRICT_POLICY
    pr = repo.get_pull(number)
    assert (pr.merged, pr.merge_commit_sha, pr.base.sha) == (True, last.sha, tip)
    assert gh.pr(number).landed == [first.sha, last.sha]
    for sha in (first.sha, last.sha, *originals):
        assert [p.number for p in repo.get_commit(sha).get_pulls()] == [number]


def test_a_method_the_repository_does_not_allow_is_405(
    gh: GitHubSandbox, bot: github.Github
) -> None:
    gh.allow_merge_methods(merge=False, squash=True, rebase=False)
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    pr = bot.get_repo("acme/access").get_pull(number)
    assert bot.get_repo("acme/access").allow_merge_commit is False
    for method, words in (("merge", "Merge commits"), ("rebase", "Rebase merges")):
        with pytest.raises(github.GithubException) as err:
            pr.merge(merge_method=method)
        assert err.value.status == 405
        assert err.value.data["message"] == f"{words} are not allowed on this repository."
    assert gh.pr(number).state == "open"
    assert pr.merge(merge_method="squash").merged


def test_a_stale_sha_is_409_and_merges_nothing(gh: GitHubSandbox, bot: github.Github) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    old = gh.head_sha(number)
    gh.push_to_pr(number, {"grants/a.yaml": GRANT + "ticket: INC-9\n"})
    before = gh.branch_sha("main")
    with pytest.raises(github.GithubException) as err:
        bot.get_repo("acme/access").get_pull(number).merge(sha=old, merge_method="squash")
    assert err.value.status == 409
    assert gh.branch_sha("main") == before
    assert not gh.pr(number).merged


def test_unknown_method_is_422(gh: GitHubSandbox) -> None:
    number = gh.open_pr("octocat", "g", "Access", files={"grants/a.yaml": GRANT})
    with pytest.raises(APIError) as err:
        gh.merge_pr(number, "alice", method="octopus")
    assert err.value.status == 422


def test_pulls_into_another_base_are_found_for_their_commits(
    gh: GitHubSandbox, client: Callable[[str], github.Github]
) -> None:
    gh.create_branch("release")
    number = gh.open_pr("octocat", "g", "Access", base="release", files={"grants/a.yaml": GRANT})
    head = gh.head_sha(number)
    sha = gh.merge_pr(number, "alice", method="rebase")
    repo = client("alice").get_repo("acme/access")
    assert [p.number for p in repo.get_commit(sha).get_pulls()] == [number]
    assert [p.number for p in repo.get_commit(head).get_pulls()] == [number]
    assert repo.get_pull(number).base.ref == "release"
