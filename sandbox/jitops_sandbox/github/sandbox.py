"""The Python API tests and the demo drive: set the scene, act as users, inspect the results."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from jitops_sandbox.github.errors import SandboxError
from jitops_sandbox.github.gitrepo import BareRepo, Identity
from jitops_sandbox.github.instruments import Instruments
from jitops_sandbox.github.model import Pull, SSHKey, Status
from jitops_sandbox.github.server import GitHubServer
from jitops_sandbox.github.settings import Settings
from jitops_sandbox.github.store import Store

DEFAULT_FILES = {"README.md": "# Access requests\n\nGrants live in grants/, policy in policies/.\n"}


class GitHubSandbox(Instruments, Settings):
    """One repository (default ``acme/access``, owned by the organisation ``acme``) on loopback.

    Only the git repository lives on disk; accounts, pull requests, reviews, comments and
    statuses live in memory, so reusing a ``workdir`` keeps the repository and nothing else.
    """

    def __init__(
        self,
        workdir: Path | str,
        repo: str = "acme/access",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "/api/v3",
        clock: Callable[[], datetime] | None = None,
        initial_files: Mapping[str, str] | None = None,
    ) -> None:
        owner, _, name = repo.partition("/")
        if not owner or not name:
            raise SandboxError(f"repository {repo!r} must look like owner/name")
        self.repo_path = Path(workdir).resolve() / owner / f"{name}.git"
        if self.repo_path.exists():
            git = BareRepo(self.repo_path)
        else:
            git = BareRepo.create(self.repo_path)
        self.store = Store(owner, name, git, clock)
        if git.branch_sha("main") is None:
            files = dict(initial_files if initial_files is not None else DEFAULT_FILES)
            git.commit_files("main", files, "Initial commit", self._identity(None))
        self.full_name = f"{owner}/{name}"
        self._bind = (host, port)
        self.prefix = prefix
        self._server: GitHubServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> GitHubSandbox:
        if self._server is None:
            self._server = GitHubServer(self.store, *self._bind, prefix=self.prefix)
            self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> GitHubSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def server(self) -> GitHubServer:
        if self._server is None:
            raise SandboxError("the GitHub sandbox is not started; call start() first")
        return self._server

    @property
    def api_url(self) -> str:
        """The ``base_url`` for PyGithub, e.g. ``http://127.0.0.1:41234/api/v3``."""
        host, port = self.server.address
        return f"http://{host}:{port}{self.server.prefix}"

    # -- accounts ---------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        write: bool = False,
        bot: bool = False,
        token: str | None = None,
        name: str | None = None,
        app_id: int | None = None,
        admin: bool = False,
    ) -> str:
        """Create a user; returns its API token. ``write`` gives push access to the repo;
        ``app_id`` makes it a GitHub App's bot (its statuses carry that App, a ruleset may
        list the App as a bypass actor); ``admin`` the repository admin role."""
        return self.store.add_user(
            login, token=token, write=write, bot=bot, name=name, app_id=app_id, admin=admin
        ).token

    def token(self, login: str) -> str:
        return self.store.user(login).token

    def add_ssh_key(self, login: str, key: str) -> int:
        with self.store.lock:
            key_id = self.store.new_id()
            text = key.strip()
            title = text.split()[2] if len(text.split()) > 2 else f"key {key_id}"
            self.store.user(login).keys.append(
                SSHKey(key_id, text, title[:100], datetime.now(UTC).replace(microsecond=0))
            )
            return key_id

    def add_team(
        self,
        org: str,
        slug: str,
        members: Iterable[str] = (),
        *,
        maintainers: Iterable[str] = (),
        name: str | None = None,
        parent: str | None = None,
    ) -> int:
        """Create team ``@org/slug`` (and the organisation if new); returns the team id.

        ``parent`` (a slug in the same organisation) makes it a child team: members of a
        child team are members of its parent, as on GitHub."""
        team = self.store.add_team(org, slug, name)
        if parent is not None:
            with self.store.lock:
                team.parent_id = self.store.team(org, parent).id
        for login in members:
            self.add_team_member(org, slug, login)
        for login in maintainers:
            self.add_team_member(org, slug, login, role="maintainer")
        return team.id

    def add_team_member(
        self, org: str, slug: str, login: str, role: str = "member", *, pending: bool = False
    ) -> None:
        """Add ``login`` to the team; ``pending``: invited only (``state: pending``, not a
        member until :meth:`accept_team_invitation`)."""
        with self.store.lock:
            user = self.store.user(login)
            team = self.store.team(org, slug)
            if pending:
                team.pending[login.lower()] = (user.login, role)
            else:
                team.pending.pop(login.lower(), None)
                team.members[login.lower()] = (user.login, role)

    def accept_team_invitation(self, org: str, slug: str, login: str) -> None:
        with self.store.lock:
            team = self.store.team(org, slug)
            invited = team.pending.pop(login.lower(), None)
            if invited is None:
                raise SandboxError(f"{login} has no pending invitation to {org}/{slug}")
            team.members[login.lower()] = invited

    def remove_team_member(self, org: str, slug: str, login: str) -> None:
        with self.store.lock:
            team = self.store.team(org, slug)
            team.members.pop(login.lower(), None)
            team.pending.pop(login.lower(), None)

    def seed(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Load ``{users: [{login, write?, bot?, token?, keys?, app_id?, admin?}], teams:
        [{org, slug, members?, maintainers?, parent?, pending?}], merge_methods: {merge?,
        squash?, rebase?}, rulesets: [{name, ...add_ruleset's keywords}]}`` (a user may also
        be a bare login); returns login -> token."""
        tokens = {}
        for entry in data.get("users") or []:
            spec = {"login": entry} if isinstance(entry, str) else dict(entry)
            login = str(spec["login"])
            tokens[login] = self.add_user(
                login,
                write=bool(spec.get("write", False)),
                bot=bool(spec.get("bot", False)),
                token=spec.get("token"),
                name=spec.get("name"),
                app_id=int(spec["app_id"]) if spec.get("app_id") is not None else None,
                admin=bool(spec.get("admin", False)),
            )
            for key in spec.get("keys") or []:
                self.add_ssh_key(login, str(key))
        for team in data.get("teams") or []:
            self.add_team(
                str(team["org"]),
                str(team["slug"]),
                [str(m) for m in team.get("members") or []],
                maintainers=[str(m) for m in team.get("maintainers") or []],
                parent=str(team["parent"]) if team.get("parent") else None,
            )
            for login in team.get("pending") or []:
                self.add_team_member(str(team["org"]), str(team["slug"]), str(login), pending=True)
        methods = data.get("merge_methods")
        if methods:
            self.allow_merge_methods(**{k: bool(v) for k, v in dict(methods).items()})
        for entry in data.get("rulesets") or []:
            spec = dict(entry)
            spec["required_checks"] = [
                tuple(c) if isinstance(c, list) else c for c in spec.get("required_checks") or []
            ]
            try:
                self.add_ruleset(**spec)
            except TypeError as exc:
                raise SandboxError(f"ruleset {spec.get('name')!r} in the seed: {exc}") from exc
        return tokens

    # -- git --------------------------------------------------------------------------------

    def _identity(self, login: str | None) -> Identity:
        when = self.store.clock()
        if login is None:
            return Identity("Sandbox", "sandbox@example.com", when)
        user = self.store.users.get(login.lower())
        if user is None:
            return Identity(login, f"{login}@example.com", when)
        return Identity(user.login, user.email, when)

    def clone(self, dest: Path | str) -> Path:
        """``git clone`` the repository (a plain path remote: push to it with ``git push``)."""
        dest = Path(dest)
        subprocess.run(
            ["git", "clone", "-q", str(self.repo_path), str(dest)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return dest

    def refuse_pushes(self, branch: str, code: str = "GH013") -> None:
        """Refuse every ``git push`` to ``branch`` as GitHub does when a ruleset (``GH013``)
        or branch protection (``GH006``) forbids it: git shows the server's lines prefixed
        ``remote:`` and ``! [remote rejected]`` (a pre-receive hook in the bare repository;
        the wording is GitHub's, see docs.github.com "Troubleshooting rules")."""
        said = {
            "GH013": f"error: GH013: Repository rule violations found for refs/heads/{branch}.",
            "GH006": f"error: GH006: Protected branch update failed for refs/heads/{branch}.",
        }[code]
        hook = self.repo_path / "hooks" / "pre-receive"
        hook.write_text(
            "#!/bin/sh\n"
            "while read old new ref; do\n"
            f'  if [ "$ref" = "refs/heads/{branch}" ]; then\n'
            f"    echo '{said}' >&2\n"
            "    echo '- Changes must be made through a pull request.' >&2\n"
            "    exit 1\n"
            "  fi\n"
            "done\n"
        )
        hook.chmod(0o755)

    def branch_sha(self, branch: str) -> str | None:
        return self.store.git.branch_sha(branch)

    def create_branch(self, name: str, from_ref: str = "main") -> str:
        with self.store.lock:
            sha = self.store.git.resolve(from_ref)
            if sha is None:
                raise SandboxError(f"cannot branch {name} from unknown {from_ref}")
            self.store.git.set_branch(name, sha, "0" * 40)
            return sha

    def commit_files(
        self,
        branch: str,
        files: Mapping[str, str | None],
        *,
        author: str | None = None,
        message: str = "Update files",
    ) -> str:
        """Commit ``files`` (path -> text; None deletes) on ``branch``; returns the new sha."""
        with self.store.lock:
            return self.store.git.commit_files(branch, files, message, self._identity(author))

    def read_file(self, ref: str, path: str) -> str | None:
        return self.store.git.read_file(ref, path)

    # -- pull requests ----------------------------------------------------------------------

    def open_pr(
        self,
        author: str,
        head_branch: str,
        title: str,
        body: str = "",
        *,
        base: str = "main",
        files: Mapping[str, str | None] | None = None,
        draft: bool = False,
    ) -> int:
        """Open a PR; with ``files``, first branch ``head_branch`` off ``base`` and commit them."""
        with self.store.lock:
            if files is not None:
                if self.branch_sha(head_branch) is None:
                    self.create_branch(head_branch, base)
                self.commit_files(head_branch, files, author=author, message=title)
            return self.store.open_pull(author, head_branch, base, title, body, draft).number

    def pr(self, number: int) -> Pull:
        """The PR's record (read it; change it only through this API)."""
        with self.store.lock:
            pull = self.store.pull(number)
            self.store.head_sha(pull)
            self.store.base_sha(pull)
            return pull

    def head_sha(self, number: int) -> str:
        with self.store.lock:
            return self.store.head_sha(self.store.pull(number))

    def push_to_pr(
        self,
        number: int,
        files: Mapping[str, str | None],
        *,
        author: str | None = None,
        message: str = "Update files",
    ) -> str:
        """Commit ``files`` on the PR's head branch; returns the new head sha."""
        with self.store.lock:
            pull = self.store.pull(number)
            if pull.state != "open":
                raise SandboxError(f"pull request #{number} is {pull.state}")
            return self.commit_files(
                pull.head_ref, files, author=author or pull.author, message=message
            )

    def review(
        self,
        number: int,
        user: str,
        state: str,
        *,
        body: str = "",
        commit_id: str | None = None,
        allow_self_approval: bool = False,
        at: datetime | None = None,
    ) -> int:
        """Submit a review (APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED) on
        ``commit_id`` (default: the current head) at ``at`` (``submitted_at``; default the
        stand-in's clock); closed and merged PRs accept reviews too. Returns the review id."""
        return self.store.add_review(
            number, user, state, body, commit_id, allow_self_approval=allow_self_approval, at=at
        ).id

    def force_push(self, number: int, sha: str) -> str:
        """``git push --force`` the PR's head branch to commit ``sha`` (any commit: one from
        another branch, or a head it had before); returns the new head."""
        with self.store.lock:
            pull = self.store.pull(number)
            if pull.state != "open":
                raise SandboxError(f"pull request #{number} is {pull.state}")
            full = self.store.git.resolve(sha)
            if full is None:
                raise SandboxError(f"no commit {sha}")
            self.store.git.set_branch(pull.head_ref, full)
            return self.store.head_sha(pull)

    def dismiss_review(self, number: int, review_id: int) -> None:
        self.store.dismiss_review(number, review_id)

    def request_reviews(
        self, number: int, users: Iterable[str] = (), teams: Iterable[str] = ()
    ) -> None:
        with self.store.lock:
            self.store.request_reviewers(self.store.pull(number), list(users), list(teams))

    def merge_pr(
        self,
        number: int,
        merged_by: str,
        *,
        method: str = "merge",
        commit_title: str | None = None,
        commit_message: str | None = None,
        enforce_protection: bool = False,
        at: datetime | None = None,
    ) -> str:
        """Merge the PR as GitHub does with ``method`` (merge | squash | rebase, see
        :meth:`Store.merge_pull`); returns the ``merge_commit_sha``.

        Like an admin's merge, it bypasses branch protection and rulesets unless
        ``enforce_protection`` (merges through the API always honour them); ``at`` sets
        ``merged_at`` (default: the stand-in's clock).

        GitHub stamps reviews and merges to the second, and a merge after an approval comes
        seconds later (the required checks run first): without ``at``, a merge in the very
        second of the pull request's latest review waits for the next second."""
        if at is None:
            self._after_latest_review(number)
        return self.store.merge_pull(
            number,
            merged_by,
            method=method,
            commit_title=commit_title,
            commit_message=commit_message,
            enforce=enforce_protection,
            at=at,
        )

    def _after_latest_review(self, number: int) -> None:
        with self.store.lock:
            times = [
                r.submitted_at
                for r in self.store.reviews.values()
                if r.number == number and r.submitted_at is not None
            ]
        if not times:
            return
        second = max(times).replace(microsecond=0) + timedelta(seconds=1)
        wait = (second - self.store.clock()).total_seconds()
        if 0 < wait <= 1:
            time.sleep(wait)

    def queue_pr(
        self,
        number: int,
        merged_by: str,
        *,
        method: str = "merge",
        enforce_protection: bool = True,
    ) -> tuple[str, str]:
        """Add the PR to the merge queue: GitHub builds the merge (``method``) on the base
        tip in a branch ``gh-readonly-queue/<base>/pr-<n>-<base sha>`` and runs the
        ``merge_group`` checks on it. Returns ``(queue branch, its commit)``; the PR stays open
        until :meth:`land_queued`. Simulated: one PR per group; the base must not move
        between queueing and landing (GitHub would rebuild the group)."""
        with self.store.lock:
            sha = self.store.merge_pull(
                number, merged_by, method=method, enforce=enforce_protection, queue=True
            )
            return self.store.pull(number).queue_ref or "", sha

    def land_queued(self, number: int, *, at: datetime | None = None) -> str:
        """The queue's checks passed: fast-forward the base branch to the queue commit (the
        same sha, no new commit), delete the queue branch, mark the PR merged; returns it.
        Like :meth:`merge_pr`, it lands after the second of the latest review."""
        if at is None:
            self._after_latest_review(number)
        return self.store.land_queued(number, at)

    def close_pr(self, number: int) -> None:
        with self.store.lock:
            self.store.close_pull(self.store.pull(number), "closed")

    def comment(self, number: int, user: str, body: str) -> int:
        return self.store.add_comment(number, user, body).id

    def comments(self, number: int) -> list[str]:
        with self.store.lock:
            found = [c for c in self.store.comments.values() if c.number == number]
            return [c.body for c in sorted(found, key=lambda c: c.id)]

    def labels(self, number: int) -> list[str]:
        with self.store.lock:
            return list(self.store.pull(number).labels)

    def statuses(self, sha: str) -> list[Status]:
        """Statuses set on ``sha`` (a sha or branch), newest first, as the API lists them."""
        with self.store.lock:
            full = self.store.git.resolve(sha) or sha
            return [s for s in reversed(self.store.statuses) if s.sha == full]
