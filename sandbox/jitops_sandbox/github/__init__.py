"""A loopback stand-in for the part of GitHub's REST API that jitops uses.

It serves one repository (``acme/access`` by default, owned by the organisation ``acme``)
whose content is a REAL bare git repository on disk: clone it and push to it with plain git
(``gh.repo_path`` is a path remote), and every answer is computed from it on each request.
Unmodified PyGithub works against it::

    from jitops_sandbox.github import GitHubSandbox

    with GitHubSandbox(tmp_path) as gh:                  # starts on 127.0.0.1, a free port
        bot = gh.add_user("jitops-bot", write=True, bot=True)   # -> API token
        gh.add_user("octocat"); gh.add_user("alice")
        gh.add_ssh_key("octocat", "ssh-ed25519 AAAA...")
        gh.add_team("acme", "dba", members=["alice"])
        n = gh.open_pr("octocat", "grant-1", "Access for octocat",
                       files={"grants/g1.yaml": "requester: octocat\\n"})
        gh.review(n, "alice", "APPROVED")               # on the current head by default
        sha = gh.merge_pr(n, "alice")                    # a real --no-ff merge commit on main
        g = github.Github(base_url=gh.api_url, auth=github.Auth.Token(bot), retry=None)

Python API (:class:`GitHubSandbox`)
    Lifecycle: ``start()``, ``stop()``, context manager, ``api_url`` (PyGithub's
    ``base_url``; the path prefix is ``/api/v3`` like GitHub Enterprise), ``repo_path``.
    Accounts: ``add_user(login, write=, bot=, token=, app_id=, admin=) -> token``, ``token(login)``,
    ``add_ssh_key``, ``add_team(org, slug, members, maintainers=, parent=)`` (members of a
    child team are members of its parent), ``add_team_member(..., pending=)`` (an invitation:
    ``state: pending``, not a member), ``accept_team_invitation``, ``remove_team_member``,
    ``seed({users: [...], teams: [{..., parent?, pending?}]}) -> {login: token}``.
    Git: ``clone(dest)``, ``create_branch``, ``commit_files(branch, {path: text | None})``,
    ``branch_sha``, ``read_file``.
    Pull requests: ``open_pr(author, head, title, body, files=)``, ``push_to_pr``,
    ``review(number, user, state, commit_id=, at=)`` (closed and merged PRs accept
    reviews, as on GitHub), ``force_push(number, sha)``, ``dismiss_review``,
    ``request_reviews``,
    ``merge_pr(number, merged_by, method="merge"|"squash"|"rebase", commit_title=,
    commit_message=, enforce_protection=False, at=) -> merge_commit_sha`` (an admin merge;
    squash and rebase as GitHub does them), ``allow_merge_methods(merge=, squash=, rebase=)``,
    ``close_pr``, ``comment``, ``pr(number)``, ``head_sha``.
    Rulesets: ``add_ruleset(name, branches=, enforcement=, required_approvals=,
    dismiss_stale_reviews_on_push=, require_code_owner_review=, require_last_push_approval=,
    allowed_merge_methods=, required_checks=[(context, app_id)], merge_queue=, bypass_apps=,
    bypass_teams=, bypass_admins=) -> id`` (served and enforced: see ``rulesets.py``).
    Merge queue: ``queue_pr(n, who, method=) -> (gh-readonly-queue/main/pr-N-<base sha>,
    sha)`` builds the merge on the queue branch, ``land_queued(n)`` fast-forwards main to it.
    Settings: ``protect_branch(branch, required_checks=, required_approvals=,
    dismiss_stale_reviews=, ...)`` (read back by the API, enforced on API merges; stale
    approvals are dismissed when the head moves), ``add_environment(name, branches=)``.
    Inspection: ``comments(number) -> [body]``, ``labels(number)``, ``statuses(sha)``,
    ``requests`` (the request log: method, path, status, user, route template, JSON body),
    ``count_requests(method, path)``, ``clear_requests()``.
    Faults: ``fail_next(n, status, path=, method=)``, ``rate_limit_next(n, secondary=,
    retry_after=, reset_in=, status=403|429)`` (GitHub's primary and secondary limits).

Authorisation (simplified)
    Every request needs ``Authorization: token X`` (or ``Bearer X``) of a known user: no
    header is 401 "Requires authentication", an unknown token 401 "Bad credentials". Any
    known user may read everything, open PRs, comment, review, and edit their own comments
    and PRs. Commit statuses, labels, review requests, dismissals and merges need a user
    added with ``write=True`` (otherwise 403). GitHub's rule that authors cannot approve or
    request changes on their own PR is enforced (422).

Endpoints
    ``/user``, ``/users/{u}``, ``/users/{u}/keys``, ``/orgs/{o}``, teams by slug, by
    ``/organizations/{org_id}/team/{id}`` and ``/teams/{id}`` (``members``,
    ``memberships/{u}``; ``members/{u}``, GitHub's legacy check, by team id only),
    ``/repos/{o}/{r}``, pulls (list, get, create, update, ``merge`` GET/PUT, ``files``,
    ``commits``, ``reviews``, ``requested_reviewers``),
    issues (get, comments, labels), ``issues/comments/{id}``, repository labels,
    ``commits/{sha}`` (+ ``/pulls``, ``/statuses``, ``/status``), ``statuses/{sha}``,
    ``branches`` (+ ``/protection``), ``contents/{path}?ref=``, ``git/ref/heads/{b}``,
    ``environments`` (+ ``/deployment-branch-policies``, ``/secrets``: names only),
    ``rules/branches/{branch}``, ``rulesets`` (+ ``/{id}``), ``actions/workflows/{id or
    file}`` (+ ``/runs``); ``/repositories/{id}/...`` too.
    Lists paginate with ``per_page`` (default 30, max 100), ``page`` and a ``Link`` header.
"""

from jitops_sandbox.github.errors import APIError, SandboxError
from jitops_sandbox.github.model import RequestRecord
from jitops_sandbox.github.sandbox import GitHubSandbox

__all__ = ["APIError", "GitHubSandbox", "RequestRecord", "SandboxError"]
