"""GitHub's JSON shapes, with absolute links on the host, port and prefix the client used."""

from __future__ import annotations

import urllib.parse

from jitops_sandbox.github.gitrepo import CommitInfo, DiffEntry
from jitops_sandbox.github.model import (
    Comment,
    Label,
    Pull,
    Review,
    Status,
    User,
    iso,
)
from jitops_sandbox.github.render_accounts import AccountRenderer, Json, Links
from jitops_sandbox.github.store import Store


class Renderer(AccountRenderer):
    """Every JSON shape; links point at the host, port and prefix of the current request."""

    def __init__(self, store: Store, links: Links) -> None:
        super().__init__(store, links)
        self.repo_api = f"{links.api}/repos/{store.owner}/{store.name}"
        self.repo_web = f"{links.web}/{store.owner}/{store.name}"

    # -- repository ---------------------------------------------------------------------------

    def repo(self, viewer: User | None = None) -> Json:
        """``full-repository`` (a superset of ``repository``, used inside pull requests)."""
        s = self.s
        api = self.repo_api
        web = self.repo_web
        host = web.split("://", 1)[-1].split("/", 1)[0]
        out: Json = {
            "id": s.repo_id,
            "node_id": f"R_{s.repo_id}",
            "name": s.name,
            "full_name": f"{s.owner}/{s.name}",
            "private": True,
            "visibility": "private",
            "owner": self.user(s.owner),
            "html_url": web,
            "description": "Just-in-time access grants",
            "fork": False,
            "url": api,
            "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{api}/assignees{{/user}}",
            "blobs_url": f"{api}/git/blobs{{/sha}}",
            "branches_url": f"{api}/branches{{/branch}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "comments_url": f"{api}/comments{{/number}}",
            "commits_url": f"{api}/commits{{/sha}}",
            "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "contributors_url": f"{api}/contributors",
            "deployments_url": f"{api}/deployments",
            "downloads_url": f"{api}/downloads",
            "events_url": f"{api}/events",
            "forks_url": f"{api}/forks",
            "git_commits_url": f"{api}/git/commits{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}",
            "hooks_url": f"{api}/hooks",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "issue_events_url": f"{api}/issues/events{{/number}}",
            "issues_url": f"{api}/issues{{/number}}",
            "keys_url": f"{api}/keys{{/key_id}}",
            "labels_url": f"{api}/labels{{/name}}",
            "languages_url": f"{api}/languages",
            "merges_url": f"{api}/merges",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "releases_url": f"{api}/releases{{/id}}",
            "stargazers_url": f"{api}/stargazers",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "subscribers_url": f"{api}/subscribers",
            "subscription_url": f"{api}/subscription",
            "tags_url": f"{api}/tags",
            "teams_url": f"{api}/teams",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "clone_url": s.git.path.resolve().as_uri(),
            "git_url": f"git://{host}/{s.owner}/{s.name}.git",
            "ssh_url": f"git@{host}:{s.owner}/{s.name}.git",
            "svn_url": web,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "license": None,
            "size": 0,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "subscribers_count": 0,
            "network_count": 0,
            "open_issues": sum(1 for p in s.pulls.values() if p.state == "open"),
            "open_issues_count": sum(1 for p in s.pulls.values() if p.state == "open"),
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": False,
            "has_discussions": False,
            "default_branch": "main",
            "allow_merge_commit": s.merge_methods["merge"],
            "allow_squash_merge": s.merge_methods["squash"],
            "allow_rebase_merge": s.merge_methods["rebase"],
            "archived": False,
            "disabled": False,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
            "pushed_at": "2020-01-01T00:00:00Z",
        }
        if viewer is not None:
            out["permissions"] = {
                "admin": viewer.write,
                "maintain": viewer.write,
                "push": viewer.write,
                "triage": viewer.write,
                "pull": True,
            }
        return out

    def label(self, label: Label) -> Json:
        return {
            "id": label.id,
            "node_id": f"LA_{label.id}",
            "url": f"{self.repo_api}/labels/{urllib.parse.quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": False,
            "description": label.description or "",
        }

    # -- pull requests ------------------------------------------------------------------------

    def _branch(self, ref: str, sha: str) -> Json:
        return {
            "label": f"{self.s.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(self.s.owner),
            "repo": self.repo(),
        }

    def pull_simple(self, pull: Pull) -> Json:
        """The ``pull-request-simple`` schema: no ``merged``, ``merged_by`` or counters."""
        url = f"{self.repo_api}/pulls/{pull.number}"
        html = f"{self.repo_web}/pull/{pull.number}"
        issue = f"{self.repo_api}/issues/{pull.number}"
        head = self.s.head_sha(pull)  # read live from the bare repository, once per render
        return {
            "url": url,
            "id": pull.id,
            "node_id": f"PR_{pull.id}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments",
            "statuses_url": f"{self.repo_api}/statuses/{head}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.author),
            "body": pull.body or None,
            "labels": [self.label(self.s.label(n)) for n in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at) if pull.closed_at else None,
            "merged_at": iso(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [self.user(u) for u in pull.requested_reviewers],
            "requested_teams": [
                self.team(self.s.team(self.s.owner, t)) for t in pull.requested_teams
            ],
            "head": self._branch(pull.head_ref, head),
            "base": self._branch(pull.base_ref, self.s.base_sha(pull)),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue},
                "comments": {"href": f"{issue}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{self.repo_api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{self.repo_api}/statuses/{head}"},
            },
            "author_association": self.association(pull.author),
            "auto_merge": None,
            "draft": pull.draft,
        }

    def pull(self, pull: Pull) -> Json:
        """The full ``pull-request`` schema, its counters computed from the repository."""
        out = self.pull_simple(pull)
        git = self.s.git
        head = out["head"]["sha"]
        fork = git.merge_base(out["base"]["sha"], head) or head
        files = git.diff(fork, head)
        commits = len(git.commits_between(fork, head))
        out.update(
            {
                "merged": pull.merged,
                "mergeable": None if pull.state == "closed" else True,
                "rebaseable": None if pull.state == "closed" else True,
                "mergeable_state": "unknown" if pull.state == "closed" else "clean",
                "merged_by": self.user(pull.merged_by),
                "comments": sum(1 for c in self.s.comments.values() if c.number == pull.number),
                "review_comments": 0,
                "maintainer_can_modify": False,
                "commits": commits,
                "additions": sum(f.additions for f in files),
                "deletions": sum(f.deletions for f in files),
                "changed_files": len(files),
            }
        )
        return out

    def issue(self, pull: Pull) -> Json:
        simple = self.pull_simple(pull)
        return {
            "url": simple["issue_url"],
            "repository_url": self.repo_api,
            "labels_url": f"{simple['issue_url']}/labels{{/name}}",
            "comments_url": f"{simple['issue_url']}/comments",
            "events_url": f"{simple['issue_url']}/events",
            "milestone": None,
            "html_url": simple["html_url"],
            "id": pull.id,
            "node_id": f"I_{pull.id}",
            "number": pull.number,
            "title": pull.title,
            "user": simple["user"],
            "labels": simple["labels"],
            "state": pull.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "comments": sum(1 for c in self.s.comments.values() if c.number == pull.number),
            "created_at": simple["created_at"],
            "updated_at": simple["updated_at"],
            "closed_at": simple["closed_at"],
            "body": simple["body"],
            "author_association": simple["author_association"],
            "pull_request": {
                "url": simple["url"],
                "html_url": simple["html_url"],
                "diff_url": simple["diff_url"],
                "patch_url": simple["patch_url"],
                "merged_at": simple["merged_at"],
            },
        }

    def review(self, review: Review) -> Json:
        pr_url = f"{self.repo_api}/pulls/{review.number}"
        html = f"{self.repo_web}/pull/{review.number}#pullrequestreview-{review.id}"
        out: Json = {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user(review.author),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.association(review.author),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "commit_id": review.commit_id,
        }
        if review.submitted_at is not None:
            out["submitted_at"] = iso(review.submitted_at)
        return out

    def comment(self, comment: Comment) -> Json:
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": f"{self.repo_api}/issues/comments/{comment.id}",
            "html_url": f"{self.repo_web}/pull/{comment.number}#issuecomment-{comment.id}",
            "issue_url": f"{self.repo_api}/issues/{comment.number}",
            "body": comment.body,
            "user": self.user(comment.author),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": self.association(comment.author),
        }

    def diff_entry(self, entry: DiffEntry, ref: str) -> Json:
        quoted = urllib.parse.quote(entry.filename)
        out: Json = {
            "sha": entry.sha,
            "filename": entry.filename,
            "status": entry.status,
            "additions": entry.additions,
            "deletions": entry.deletions,
            "changes": entry.additions + entry.deletions,
            "blob_url": f"{self.repo_web}/blob/{ref}/{quoted}",
            "raw_url": f"{self.repo_web}/raw/{ref}/{quoted}",
            "contents_url": f"{self.repo_api}/contents/{quoted}?ref={ref}",
        }
        if entry.patch is not None:
            out["patch"] = entry.patch
        if entry.previous_filename is not None:
            out["previous_filename"] = entry.previous_filename
        return out

    # -- commits and statuses ------------------------------------------------------------------

    def _account_for_email(self, email: str) -> Json | None:
        for user in self.s.users.values():
            if email.lower() == user.email.lower():
                return self.user(user.login)
        return None

    def commit(self, info: CommitInfo, files: list[DiffEntry]) -> Json:
        url = f"{self.repo_api}/commits/{info.sha}"
        adds = sum(f.additions for f in files)
        dels = sum(f.deletions for f in files)
        return {
            "sha": info.sha,
            "node_id": f"C_{info.sha}",
            "url": url,
            "html_url": f"{self.repo_web}/commit/{info.sha}",
            "comments_url": f"{url}/comments",
            "commit": {
                "url": f"{self.repo_api}/git/commits/{info.sha}",
                "author": {
                    "name": info.author_name,
                    "email": info.author_email,
                    "date": info.author_date,
                },
                "committer": {
                    "name": info.committer_name,
                    "email": info.committer_email,
                    "date": info.committer_date,
                },
                "message": info.message,
                "tree": {"sha": info.tree, "url": f"{self.repo_api}/git/trees/{info.tree}"},
                "comment_count": 0,
            },
            "author": self._account_for_email(info.author_email),
            "committer": self._account_for_email(info.committer_email),
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.repo_api}/commits/{p}",
                    "html_url": f"{self.repo_web}/commit/{p}",
                }
                for p in info.parents
            ],
            "stats": {"total": adds + dels, "additions": adds, "deletions": dels},
            "files": [self.diff_entry(f, info.sha) for f in files],
        }

    def status(self, status: Status) -> Json:
        return {
            "url": f"{self.repo_api}/statuses/{status.sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
            "creator": self.user(status.creator),
        }
