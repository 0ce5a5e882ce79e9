"""The GitHub stand-in against GitHub's own OpenAPI description (npm ``@octokit/openapi``).

Every operation jitops' GitHub door uses is driven through the door (real PyGithub) on a
stand-in, and every response is validated against the schema GitHub describes for that
operation and status. The session plugin (tests/contract/plugin.py) does the same for every
response of the whole test session; this test makes the check stand on its own, and fails
when an operation jitops uses was not exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jitops.doors.github import GitHub
from jitops_sandbox.github import GitHubSandbox
from tests.contract.openapi import PINNED_VERSION, Description, description_path, summarise

pytestmark = pytest.mark.integration

GRANT = "requester: octocat\nrole: db\nduration: 1h\nreason: Investigate the slow queries\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMq7y1bTq1aFh2Sx1W7v0y1c3JgkQ9r8y1v0kq0y7p6N octocat"

# (method, GitHub's path template) of every call jitops/github.py makes
USED_BY_JITOPS = {
    ("GET", "/user"),
    ("GET", "/repos/{owner}/{repo}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("POST", "/repos/{owner}/{repo}/pulls"),
    ("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection"),
    ("GET", "/repos/{owner}/{repo}/rules/branches/{branch}"),
    ("GET", "/repos/{owner}/{repo}/rulesets"),
    ("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}"),
    ("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
    ("GET", "/users/{username}/keys"),
}


def test_the_pinned_description_is_installed() -> None:
    path = description_path()
    package = json.loads((path.parent.parent / "package.json").read_text())
    assert package["name"] == "@octokit/openapi"
    assert package["version"] == PINNED_VERSION


def test_every_response_of_every_operation_jitops_uses_matches_githubs_schema(
    tmp_path: Path,
) -> None:
    description = Description(description_path())
    with GitHubSandbox(tmp_path / "github") as gh:
        gh.add_user("jitops-bot", write=True, bot=True)
        for login in ("octocat", "alice", "bob", "erin"):
            gh.add_user(login)
        gh.add_ssh_key("octocat", KEY)
        gh.add_team("acme", "dba", ["alice"])
        gh.add_team("acme", "dba-oncall", ["bob"], parent="dba")
        gh.add_team_member("acme", "dba", "erin", pending=True)
        gh.protect_branch("main", required_checks=["jitops/approval"], required_approvals=1)
        gh.add_ruleset(
            "main rules",
            required_approvals=1,
            require_code_owner_review=True,
            required_checks=[("jitops/approval", 1234)],
            bypass_apps=[1234],
        )
        n = gh.open_pr("octocat", "g1", "Access", files={"grants/g1.yaml": GRANT})
        g = GitHub("acme/access", gh.token("jitops-bot"), gh.api_url)
        assert g.whoami() == "jitops-bot"
        assert g.default_branch() == "main"
        assert g.pull_request(n).number == n
        assert [f.path for f in g.pull_files(n)] == ["grants/g1.yaml"]
        assert g.reviews(n) == []
        assert g.is_team_member("acme", "dba", "alice")
        assert g.is_team_member("acme", "dba", "bob")  # through the child team
        assert not g.is_team_member("acme", "dba", "erin")  # pending
        assert not g.is_team_member("acme", "dba", "octocat")  # 404
        assert g.ssh_keys("octocat") == [KEY]
        assert g.pulls_for_commit(gh.head_sha(n)) == [n]
        g.upsert_comment(n, "<!-- jitops -->", "<!-- jitops --> pending")
        g.upsert_comment(n, "<!-- jitops -->", "<!-- jitops --> approved")
        g.set_status(gh.head_sha(n), "jitops/approval", "success", "approved")
        g.request_reviewers(n, ["alice"], ["dba"])
        g.add_labels(n, ["jitops"])
        assert g.branch_protection("main") is not None
        assert [r["type"] for r in g.branch_rules("main")]
        rulesets = g.rulesets()
        assert g.ruleset(rulesets[0]["id"])["bypass_actors"]
        gh.review(n, "alice", "APPROVED")
        assert len(GitHub("acme/access", gh.token("jitops-bot"), gh.api_url).reviews(n)) == 1
        merged = gh.merge_pr(n, "alice", method="rebase")
        assert g.pulls_for_commit(merged) == [n]
        gh.create_branch("g2")
        gh.commit_files("g2", {"grants/g2.yaml": GRANT}, author="octocat")
        assert g.create_pull("g2", "main", "Access 2", "why") == n + 1
        records = gh.requests
    report = description.check(records)
    used = {(method, template) for method, template, _ in report.operations}
    assert USED_BY_JITOPS - used == set(), "operations jitops uses were not exercised"
    assert report.problems == [], summarise(report.problems)
    assert report.checked == len(records)


def _served_routes() -> set[tuple[str, str]]:
    """(method, template) of every route the stand-in serves."""
    from jitops_sandbox.github import (
        routes_accounts,
        routes_git,
        routes_issues,
        routes_pulls,
        routes_rules,
    )

    modules = (routes_accounts, routes_git, routes_issues, routes_pulls, routes_rules)
    return {(method, pattern) for m in modules for method, _, _, pattern in m.router.routes}


def test_every_route_the_stand_in_serves_answers_as_github_describes(tmp_path: Path) -> None:
    """The session check validates only the responses some test asked for: a route no test
    calls (``GET /user/keys`` was one) or an error no test provokes (a review with an unknown
    ``event``) was never judged. Here every route the stand-in serves is called, with its
    error answers where GitHub describes a body for them, and this test fails when a new
    route is added without being called here."""
    import requests

    description = Description(description_path())
    with GitHubSandbox(tmp_path / "github") as gh:
        gh.add_user("jitops-bot", write=True, bot=True)
        for login in ("octocat", "alice"):
            gh.add_user(login)
        gh.add_ssh_key("octocat", KEY)
        gh.add_team("acme", "dba", ["alice"])
        gh.protect_branch("main", required_checks=["jitops/approval"], required_approvals=1)
        ruleset = gh.add_ruleset("main rules", required_approvals=1)
        gh.add_environment("jitops", branches=["main"], secrets=["VAULT_ADDR"])
        gh.add_workflow_run("jitops-sweep.yml")
        n = gh.open_pr("octocat", "g1", "Access", files={"grants/g1.yaml": GRANT})
        head = gh.head_sha(n)
        comment = gh.comment(n, "jitops-bot", "hello")
        review = gh.review(n, "alice", "APPROVED")
        org = gh.store.org("acme")
        team = gh.store.team("acme", "dba")
        s = requests.Session()

        def call(who: str, method: str, path: str, body: object = None) -> int:
            headers = {"Authorization": f"token {gh.token(who)}"}
            return s.request(
                method, gh.api_url + path, json=body, headers=headers, timeout=30
            ).status_code

        r, pr = "/repos/acme/access", f"/repos/acme/access/pulls/{n}"
        calls = [
            ("octocat", "GET", "/user"),
            ("octocat", "GET", "/user/keys"),
            ("octocat", "GET", "/users/alice"),
            ("octocat", "GET", "/users/octocat/keys"),
            ("octocat", "GET", "/orgs/acme"),
            ("octocat", "GET", "/orgs/acme/teams"),
            ("octocat", "GET", "/orgs/acme/teams/dba"),
            ("octocat", "GET", "/orgs/acme/teams/dba/members"),
            ("octocat", "GET", "/orgs/acme/teams/dba/memberships/alice"),
            ("octocat", "GET", f"/organizations/{org.id}/team/{team.id}"),
            ("octocat", "GET", f"/organizations/{org.id}/team/{team.id}/members"),
            ("octocat", "GET", f"/organizations/{org.id}/team/{team.id}/memberships/alice"),
            ("octocat", "GET", f"/organizations/{org.id}/team/{team.id}/members/alice"),
            ("octocat", "GET", f"/teams/{team.id}"),
            ("octocat", "GET", f"/teams/{team.id}/members"),
            ("octocat", "GET", f"/teams/{team.id}/memberships/alice"),
            ("octocat", "GET", f"/teams/{team.id}/members/alice"),
            ("octocat", "GET", f"{r}/branches"),
            ("octocat", "GET", f"{r}/branches/main"),
            ("octocat", "GET", f"{r}/branches/main/protection"),
            ("octocat", "GET", f"{r}/branches/main/protection/required_status_checks"),
            ("octocat", "GET", f"{r}/contents"),
            ("octocat", "GET", f"{r}/contents/grants/g1.yaml?ref=g1"),
            ("octocat", "GET", f"{r}/git/ref/heads/main"),
            ("octocat", "GET", f"{r}/environments"),
            ("octocat", "GET", f"{r}/environments/jitops"),
            ("octocat", "GET", f"{r}/environments/jitops/deployment-branch-policies"),
            ("octocat", "GET", f"{r}/environments/jitops/secrets"),
            ("octocat", "GET", f"{r}/actions/workflows/jitops-sweep.yml"),
            ("octocat", "GET", f"{r}/actions/workflows/jitops-sweep.yml/runs?event=schedule"),
            ("octocat", "GET", f"{r}/issues/{n}"),
            ("octocat", "GET", f"{r}/issues/{n}/comments"),
            ("octocat", "POST", f"{r}/issues/{n}/comments", {"body": "more"}),
            ("octocat", "GET", f"{r}/issues/comments/{comment}"),
            ("jitops-bot", "PATCH", f"{r}/issues/comments/{comment}", {"body": "edited"}),
            ("jitops-bot", "POST", f"{r}/issues/{n}/labels", {"labels": ["a", "b"]}),
            ("jitops-bot", "PUT", f"{r}/issues/{n}/labels", {"labels": ["a", "b"]}),
            ("octocat", "GET", f"{r}/issues/{n}/labels"),
            ("octocat", "GET", f"{r}/labels"),
            ("octocat", "GET", f"{r}/labels/a"),
            ("jitops-bot", "DELETE", f"{r}/issues/{n}/labels/a"),
            ("jitops-bot", "DELETE", f"{r}/issues/{n}/labels"),
            ("jitops-bot", "DELETE", f"{r}/issues/comments/{comment}"),
            ("octocat", "GET", f"{r}/commits/{head}"),
            ("octocat", "GET", f"{r}/commits/{head}/pulls"),
            ("jitops-bot", "POST", f"{r}/statuses/{head}", {"state": "success", "context": "c"}),
            ("octocat", "GET", f"{r}/commits/{head}/statuses"),
            ("octocat", "GET", f"{r}/statuses/{head}"),
            ("octocat", "GET", f"{r}/commits/{head}/status"),
            ("octocat", "GET", r),
            ("octocat", "GET", f"{r}/pulls"),
            ("octocat", "GET", pr),
            ("octocat", "PATCH", pr, {"body": "why, again"}),
            ("octocat", "GET", f"{pr}/files"),
            ("octocat", "GET", f"{pr}/commits"),
            ("octocat", "GET", f"{pr}/reviews"),
            ("octocat", "GET", f"{pr}/reviews/{review}"),
            ("alice", "POST", f"{pr}/reviews", {"event": "COMMENT", "body": "looks fine"}),
            ("alice", "POST", f"{pr}/reviews", {"event": "SHIP_IT"}),  # 422
            ("alice", "POST", f"{pr}/reviews", {"event": "COMMENT"}),  # 422: body required
            ("octocat", "POST", f"{pr}/reviews", {"event": "APPROVE"}),  # 422: own pull request
            ("jitops-bot", "POST", f"{pr}/requested_reviewers", {"reviewers": ["alice"]}),
            ("octocat", "GET", f"{pr}/requested_reviewers"),
            ("jitops-bot", "DELETE", f"{pr}/requested_reviewers", {"reviewers": ["alice"]}),
            ("jitops-bot", "PUT", f"{pr}/reviews/{review}/dismissals", {"message": "stale"}),
            ("octocat", "GET", f"{pr}/merge"),
            ("jitops-bot", "PUT", f"{pr}/merge", {"merge_method": "squash"}),
            ("octocat", "POST", f"{r}/pulls", {"title": "t", "head": "g1", "base": "main"}),
            ("octocat", "GET", f"{r}/rules/branches/main"),
            ("octocat", "GET", f"{r}/rulesets"),
            ("octocat", "GET", f"{r}/rulesets/{ruleset}"),
        ]
        statuses = [(c[1], c[2], call(*c)) for c in calls]  # type: ignore[misc]
        assert not [x for x in statuses if x[2] >= 500], statuses
        records = gh.requests
    report = description.check(records)
    answered = {(rec.method, rec.route) for rec in records}
    assert _served_routes() - answered == set(), "routes the stand-in serves were not called"
    assert report.problems == [], summarise(report.problems)
    reviews_422 = [
        rec.body
        for rec in records
        if rec.route and rec.route.endswith("/reviews") and rec.status == 422
    ]
    assert len(reviews_422) == 3 and all(
        all(isinstance(e, str) for e in body["errors"]) for body in reviews_422
    )
