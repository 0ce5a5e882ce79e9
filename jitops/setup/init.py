"""`jitops init`: scaffold an access repository.

:func:`plan_init` is pure: from :class:`InitOptions` it returns every file an access repository
needs (path and text). :func:`apply_init` compares the plan with a directory and writes what is
missing, leaves what is identical, and refuses to overwrite a file that differs unless forced,
so running it twice changes nothing and never loses an admin's edits silently.

The workflows call the jitops GitHub Action pinned to a full commit SHA. The default is the
commit this jitops release was built from, recorded in ``templates/release.json`` by the
release build (a commit cannot contain its own SHA, so the file in git has it empty and a
development install asks for ``--action-ref``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path

from jitops.core import schema as schemas
from jitops.errors import JitopsError, UsageError

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
#: '@login' or '@org/team-slug' (GitHub's login and team slug alphabets)
PRINCIPAL_RE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]{1,100})?$")
#: a GitHub App's slug (its bot login is '<slug>[bot]')
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,33})$")
WORKFLOWS = ("jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml")


class InitError(JitopsError):
    """The access repository could not be scaffolded as asked."""


@dataclass(frozen=True)
class Release:
    """Where the jitops Action lives and the commit this release was built from ('' if none)."""

    repository: str
    commit: str


def release() -> Release:
    data = json.loads((resources.files("jitops") / "templates" / "release.json").read_text())
    return Release(str(data["repository"]), str(data.get("commit") or ""))


@dataclass(frozen=True)
class InitOptions:
    admins: tuple[str, ...]  # CODEOWNERS owners, the starter role's approvers, settings.admins
    app_slug: str  # the GitHub App jitops acts as; its login is '<slug>[bot]'
    action_repo: str  # OWNER/REPO of the jitops Action
    action_ref: str  # full commit SHA of the jitops Action
    requesters: tuple[str, ...] = ("*",)

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    @classmethod
    def from_cli(
        cls,
        *,
        admins: Sequence[str],
        app_slug: str,
        action_repo: str | None,
        action_ref: str | None,
        requesters: Sequence[str] = (),
    ) -> InitOptions:
        rel = release()
        repo = action_repo or rel.repository
        ref = (action_ref or rel.commit).lower()
        if not admins:
            raise UsageError(
                "--admins is required: the team (or people) who own policies/ and the "
                "workflows, e.g. --admins @acme/access-admins"
            )
        for who in (*admins, *requesters):
            if who != "*" and not PRINCIPAL_RE.match(who):
                raise UsageError(
                    f"{who!r} is not '@login' or '@org/team-slug'; write e.g. @acme/access-admins"
                )
        if "*" in admins:
            raise UsageError("--admins cannot be '*': name the access admins' team")
        if not SLUG_RE.match(app_slug):
            raise UsageError(
                f"--app-slug {app_slug!r} is not a GitHub App slug (lower-case letters, digits "
                "and -, as in the App's URL github.com/apps/<slug>)"
            )
        if not REPO_RE.match(repo):
            raise UsageError(f"--action-repo {repo!r} is not OWNER/REPO")
        if not ref:
            raise UsageError(
                "this jitops was not built from a release, so it does not know which commit "
                "of the Action to pin: pass --action-ref <full 40-hex commit SHA of jitops>"
            )
        if not SHA_RE.match(ref):
            raise UsageError(
                f"--action-ref {ref!r} is not a full commit SHA (40 hex digits); a tag or "
                "branch can be moved, a commit cannot: look it up with "
                "`git ls-remote https://github.com/OWNER/jitops refs/tags/vX.Y.Z`"
            )
        return cls(tuple(admins), app_slug, repo, ref, tuple(requesters) or ("*",))


def _template(name: str) -> str:
    return (resources.files("jitops") / "templates" / name).read_text("utf-8")


def render_workflow(name: str, options: InitOptions) -> str:
    """A shipped workflow template with the Action pinned and the App's login filled in."""
    action = f"{options.action_repo}@{options.action_ref}"
    text = _template(f"workflows/{name}")
    return text.replace("@@ACTION@@", action).replace("@@BOT@@", options.bot_login)


def _flow(items: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _policy(options: InitOptions) -> str:
    return f"""\
# yaml-language-server: $schema=../.jitops/policy.schema.json
# The access policy. Changing it needs an access admin's review (CODEOWNERS); a pull request is
# always judged by the policy of its base branch, never by its own. Prove changes with
# `jitops policy test` (cases in policies/tests/).
version: 1

settings:
  wrap_ttl: 1h                  # a sealed delivery can be claimed for an hour
  bot: {options.bot_login}      # the GitHub App jitops acts as; claim trusts only its comments
  admins: {_flow(options.admins)}   # may end anyone's grant early (jitops revoke)

roles:
  example-readonly:
    description: Example role; rename it and point it at what it should give
    max_duration: 1h
    requesters: {_flow(options.requesters)}
    approvals:
      - from: {_flow(options.admins)}
        count: 1
    vault:
      policies: [jit-example-readonly]          # an ACL policy you write in Vault
      secret: secret/data/example/readonly      # optional: read and delivered sealed
"""


def _policy_tests(options: InitOptions) -> str:
    admin = options.admins[0]
    if "/" in admin:
        approver, teams = "approver-1", f"{{'{admin}': [approver-1]}}"
    else:
        approver, teams = admin[1:], "{}"
    requester = "requester-1"
    grant = (
        f"{{requester: {requester}, role: example-readonly, duration: 30m,\n"
        "            reason: Check the example role works end to end}"
    )
    return f"""\
# yaml-language-server: $schema=../../.jitops/policy-test.schema.json
# Cases proving what policies/policy.yaml decides. Run: jitops policy test
cases:
  - name: one admin approval is enough
    grant: {grant}
    teams: {teams}
    reviews:
      - {{user: {approver}, state: APPROVED}}
    expect: approved

  - name: no review yet is pending
    grant: {grant}
    teams: {teams}
    expect: pending

  - name: an approval of an older commit does not count
    grant: {grant}
    teams: {teams}
    reviews:
      - {{user: {approver}, state: APPROVED, stale: true}}
    expect: pending

  - name: longer than the role allows is invalid
    grant: {{requester: {requester}, role: example-readonly, duration: 2h,
            reason: Check the example role works end to end}}
    teams: {teams}
    expect: invalid
"""


def _codeowners(options: InitOptions) -> str:
    owners = " ".join(options.admins)
    return f"""\
# Every path needs an access admin's review (the policy, the workflows, this file, anything
# added later), except grant files: a requester's pull request adds one grants/<id>.yaml and is
# judged by the policy and the reviewers it names. The last matching line wins; a line with no
# owner leaves those files without one.
*                  {owners}
/grants/*.yaml
"""


def _pre_commit(options: InitOptions) -> str:
    return f"""\
# For requesters: `pre-commit install` once, and every commit is checked the way CI will.
repos:
  - repo: https://github.com/{options.action_repo}
    rev: {options.action_ref}
    hooks:
      - id: jitops-validate
"""


GITIGNORE = """\
# Credentials claimed with `jitops claim` belong in your shell or a file outside the repository;
# never commit them.
.env
*.env
*.age
.venv/
__pycache__/
"""


def plan_init(options: InitOptions) -> dict[str, str]:
    """Every file of a new access repository: path relative to its root -> text."""
    files = {
        "policies/policy.yaml": _policy(options),
        "policies/tests/policy.yaml": _policy_tests(options),
        "grants/README.md": _template("grants-README.md"),
        ".github/CODEOWNERS": _codeowners(options),
        ".pre-commit-config.yaml": _pre_commit(options),
        ".gitignore": GITIGNORE,
    }
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = render_workflow(name, options)
    for kind in schemas.KINDS:
        files[f".jitops/{kind}.schema.json"] = schemas.schema_text(kind)
    return files


class Change(Enum):
    CREATE = "create"
    SAME = "unchanged"
    OVERWRITE = "overwrite"
    CONFLICT = "differs"


@dataclass(frozen=True)
class FileAction:
    path: str
    change: Change


def compare(root: Path, files: dict[str, str], *, force: bool) -> list[FileAction]:
    """What applying ``files`` to ``root`` would do to each file."""
    out = []
    for path, text in sorted(files.items()):
        target = root / path
        for parent in reversed(Path(path).parents[:-1]):
            if (root / parent).is_symlink() or (
                (root / parent).exists() and not (root / parent).is_dir()
            ):
                raise InitError(
                    f"{parent}: is in the way (not a folder); move it away and run init again"
                )
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise InitError(
                f"{path}: exists and is not a regular file; move it away and run init again"
            )
        if not target.exists():
            change = Change.CREATE
        elif target.read_text("utf-8", errors="replace") == text:
            change = Change.SAME
        else:
            change = Change.OVERWRITE if force else Change.CONFLICT
        out.append(FileAction(path, change))
    return out


def apply_init(
    root: Path, files: dict[str, str], *, force: bool = False, dry_run: bool = False
) -> list[FileAction]:
    """Write the planned files; refuses (writing nothing) when a changed file is in the way."""
    if root.exists() and not root.is_dir():
        raise InitError(f"{root.name}: is a file; give a directory to create the repository in")
    actions = (
        compare(root, files, force=force)
        if root.exists()
        else [FileAction(p, Change.CREATE) for p in sorted(files)]
    )
    conflicts = [a.path for a in actions if a.change is Change.CONFLICT]
    if conflicts:
        raise InitError(
            f"{', '.join(conflicts)}: already exist(s) with other content; nothing was written. "
            "Review the differences (--dry-run lists them), then re-run with --force to "
            "replace them, or keep your files"
        )
    if dry_run:
        return actions
    for action in actions:
        if action.change in (Change.CREATE, Change.OVERWRITE):
            target = root / action.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[action.path], "utf-8")
    return actions
