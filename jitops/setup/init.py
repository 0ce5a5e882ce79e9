"""`jitops init`: scaffold an access repository, and keep its workflows current.

:func:`plan_init` is pure: from :class:`InitOptions` it returns every file an access repository
needs (path and text). :func:`apply_init` compares the plan with a directory and writes what is
missing, leaves what is identical, and refuses to overwrite a file that differs unless forced,
so running it twice changes nothing and never loses an admin's edits silently.

The workflows call the jitops GitHub Action pinned to a full commit SHA. The default is the
commit the running jitops was built from (:mod:`jitops.release`; a build without a git
checkout, an editable install or the source tree does not know it and asks for
``--action-ref``).

The organisation's choices (runner labels, GitHub environment, Vault namespace, CA
certificate secret, JWT mount, the App, the Action's pin) are recorded in
``.jitops/init.yaml`` (:mod:`jitops.setup.initrecord`) with the SHA-256 of every file init
manages as it rendered it. :func:`plan_upgrade` renders those files again from the record
with a new pin; :func:`apply_upgrade` overwrites only files nobody changed since, and refuses
(writing nothing) when one was changed by hand, unless forced.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from importlib import resources
from pathlib import Path

import yaml

from jitops.core import schema as schemas
from jitops.errors import JitopsError, UsageError
from jitops.release import HOME, build

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
#: '@login' or '@org/team-slug' (GitHub's login and team slug alphabets)
PRINCIPAL_RE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]{1,100})?$")
#: a GitHub App's slug (its bot login is '<slug>[bot]')
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,33})$")
#: a runner label (kept to letters, digits, '.', '_' and '-': it is written into YAML)
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: a GitHub environment name (the same restriction, for the same reason)
ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: a Vault namespace path such as 'admin' or 'admin/team-a'
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
#: a GitHub secret name: letters, digits and '_', not starting with a digit or GITHUB_
SECRET_RE = re.compile(r"^(?!(?i:github_))[A-Za-z_][A-Za-z0-9_]{0,99}$")
#: a Vault auth mount path such as 'jwt' or 'github/jwt'
MOUNT_RE = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$")
WORKFLOWS = ("jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml")
DEFAULT_RUNS_ON = ("ubuntu-latest",)
DEFAULT_ENVIRONMENT = "jitops"
DEFAULT_JWT_MOUNT = "jitops-jwt"  # a mount of its own: the JWT config is per mount
DEFAULT_APP_SLUG = "jitops"
#: where the CA step writes the PEM (under the runner's temporary folder, gone after the job)
CA_FILE = "jitops-vault-ca.pem"


class InitError(JitopsError):
    """The access repository could not be scaffolded as asked."""


@dataclass(frozen=True)
class InitOptions:
    admins: tuple[str, ...]  # CODEOWNERS owners, the starter role's approvers, settings.admins
    app_slug: str  # the GitHub App jitops acts as; its login is '<slug>[bot]'
    action_repo: str  # OWNER/REPO of the jitops Action
    action_ref: str  # full commit SHA of the jitops Action
    requesters: tuple[str, ...] = ("*",)
    runs_on: tuple[str, ...] = DEFAULT_RUNS_ON  # runner labels of every job
    environment: str = DEFAULT_ENVIRONMENT  # GitHub environment of the issue and sweep jobs
    vault_namespace: str = ""  # VAULT_NAMESPACE of every Vault login ('' for none)
    vault_ca_cert_secret: str = ""  # environment secret holding Vault's CA (PEM), '' for none
    jwt_mount: str = DEFAULT_JWT_MOUNT  # Vault's JWT auth mount (settings.vault.jwt_mount)

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    @classmethod
    def from_cli(
        cls,
        *,
        admins: Sequence[str],
        app_slug: str | None,
        action_repo: str | None,
        action_ref: str | None,
        requesters: Sequence[str] = (),
        runs_on: Sequence[str] = (),
        environment: str | None = None,
        vault_namespace: str | None = None,
        vault_ca_cert_secret: str | None = None,
        jwt_mount: str | None = None,
        base: InitOptions | None = None,
    ) -> InitOptions:
        """The options as given; ``base`` (the recorded choices, for ``--upgrade``) fills in
        whatever was not given, and then ``admins`` are not needed (only the starter files,
        which an upgrade does not touch, name them)."""
        labels = tuple(
            label.strip() for item in runs_on for label in item.split(",") if label.strip()
        )
        if base is None:
            if not admins:
                raise UsageError(
                    "--admins is required: the team (or people) who own policies/ and the "
                    "workflows, e.g. --admins @acme/access-admins"
                )
            base = cls(("@admins",), DEFAULT_APP_SLUG, HOME, "")
        options = replace(
            base,
            admins=tuple(admins) or base.admins,
            app_slug=app_slug if app_slug is not None else base.app_slug,
            action_repo=action_repo or base.action_repo,
            action_ref=(action_ref or build().commit).lower(),
            requesters=tuple(requesters) or base.requesters,
            runs_on=labels or base.runs_on,
            environment=environment if environment is not None else base.environment,
            vault_namespace=(
                vault_namespace if vault_namespace is not None else base.vault_namespace
            ).strip("/"),
            vault_ca_cert_secret=(
                vault_ca_cert_secret
                if vault_ca_cert_secret is not None
                else base.vault_ca_cert_secret
            ),
            jwt_mount=(jwt_mount if jwt_mount is not None else base.jwt_mount).strip("/"),
        )
        options.check()
        return options

    def check(self) -> None:
        """Raise a UsageError naming the first option that is not well formed."""
        for who in (*self.admins, *self.requesters):
            if who != "*" and not PRINCIPAL_RE.match(who):
                raise UsageError(
                    f"{who!r} is not '@login' or '@org/team-slug'; write e.g. @acme/access-admins"
                )
        if "*" in self.admins:
            raise UsageError("--admins cannot be '*': name the access admins' team")
        if not SLUG_RE.match(self.app_slug):
            raise UsageError(
                f"--app-slug {self.app_slug!r} is not a GitHub App slug (lower-case letters, "
                "digits and -, as in the App's URL github.com/apps/<slug>)"
            )
        if not REPO_RE.match(self.action_repo):
            raise UsageError(f"--action-repo {self.action_repo!r} is not OWNER/REPO")
        for label in self.runs_on:
            if not LABEL_RE.match(label):
                raise UsageError(
                    f"--runs-on {label!r} is not a runner label jitops writes (letters, digits, "
                    "'.', '_' and '-'), e.g. --runs-on self-hosted,linux"
                )
        if not ENVIRONMENT_RE.match(self.environment):
            raise UsageError(
                f"--environment {self.environment!r} is not an environment name jitops writes "
                "(letters, digits, '.', '_' and '-')"
            )
        if self.vault_namespace and not NAMESPACE_RE.match(self.vault_namespace):
            raise UsageError(
                f"--vault-namespace {self.vault_namespace!r} is not a Vault namespace path, "
                "e.g. admin or admin/team-a"
            )
        if self.vault_ca_cert_secret and not SECRET_RE.match(self.vault_ca_cert_secret):
            raise UsageError(
                f"--vault-ca-cert-secret {self.vault_ca_cert_secret!r} is not a GitHub secret "
                "name (letters, digits and _, not starting with a digit or GITHUB_), e.g. "
                "VAULT_CA_CERT"
            )
        if not MOUNT_RE.match(self.jwt_mount):
            raise UsageError(
                f"--jwt-mount {self.jwt_mount!r} is not a Vault auth mount path, e.g. jwt"
            )
        if not self.action_ref:
            b = build()
            why = (
                "was built without a git checkout"
                if b.stamped
                else "is not a build (an editable install or the source tree)"
            )
            raise UsageError(
                f"this jitops {why}, so it does not know which commit of the Action to pin: "
                "pass --action-ref <full 40-hex commit SHA of jitops>"
            )
        if not SHA_RE.match(self.action_ref):
            raise UsageError(
                f"--action-ref {self.action_ref!r} is not a full commit SHA (40 hex digits); a "
                "tag or branch can be moved, a commit cannot: look it up with "
                "`git ls-remote https://github.com/OWNER/jitops refs/tags/vX.Y.Z`"
            )


def _template(name: str) -> str:
    return (resources.files("jitops") / "templates" / name).read_text("utf-8")


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar: bare when YAML reads it back as that string, else quoted."""
    return value if yaml.safe_load(value) == value else json.dumps(value)


def _runs_on(labels: Sequence[str]) -> str:
    if len(labels) == 1:
        return _scalar(labels[0])
    return "[" + ", ".join(_scalar(label) for label in labels) + "]"


def _vault_env(options: InitOptions, indent: str) -> list[str]:
    lines = []
    if options.vault_namespace:
        lines.append(f"VAULT_NAMESPACE: {_scalar(options.vault_namespace)}")
    if options.vault_ca_cert_secret:
        lines.append(f"VAULT_CACERT: ${{{{ runner.temp }}}}/{CA_FILE}")
    return [indent + line for line in lines]


def _ca_step(options: InitOptions, indent: str) -> list[str]:
    if not options.vault_ca_cert_secret:
        return []
    name = options.vault_ca_cert_secret
    step = f"""\
- name: Vault's CA certificate (environment secret {name})
  env:
    VAULT_CA_PEM: ${{{{ secrets.{name} }}}}
  run: |
    umask 077
    printf '%s\\n' "$VAULT_CA_PEM" > "$RUNNER_TEMP/{CA_FILE}"
    if ! grep -q -- '-----BEGIN CERTIFICATE-----' "$RUNNER_TEMP/{CA_FILE}"; then
      echo "::error::the environment secret {name} holds no PEM certificate"
      exit 1
    fi"""
    return [indent + line for line in step.splitlines()]


def render_workflow(name: str, options: InitOptions) -> str:
    """A shipped workflow template filled in with the options: the Action pinned, the App's
    login, the runner labels, the environment, and the Vault namespace and CA certificate in
    every step that logs in to Vault."""
    action = f"{options.action_repo}@{options.action_ref}"
    text = (
        _template(f"workflows/{name}")
        .replace("@@ACTION@@", action)
        .replace("@@BOT@@", options.bot_login)
        .replace("@@RUNS_ON@@", _runs_on(options.runs_on))
        .replace("@@ENVIRONMENT@@", _scalar(options.environment))
    )
    out: list[str] = []
    for line in text.splitlines():
        indent, _, rest = line.partition("@@")
        if rest == "VAULT_ENV@@" and not indent.strip():
            out.extend(_vault_env(options, indent))
        elif rest == "VAULT_CA_STEP@@" and not indent.strip():
            out.extend(_ca_step(options, indent))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _flow(items: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _policy_vault(options: InitOptions) -> str:
    if options.jwt_mount == DEFAULT_JWT_MOUNT:
        return ""
    return f"""\
  vault:
    jwt_mount: {_scalar(options.jwt_mount)}   # Vault's JWT auth mount (init --jwt-mount)
"""


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
{_policy_vault(options)}
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
      # With no `secret`, the credential is the grant token itself (a Vault token with the
      # policies above), and it dies with the grant. To hand out a database password instead,
      # read a dynamic secret, whose lease Vault revokes with the token:
      # secret: database/creds/example-readonly
      # A KV secret (secret/data/...) has no lease: revoking does not end it. jitops refuses
      # it unless the role says `static: true`, and then it must be rotated after each grant.
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


#: the record of init's choices, and the files init manages (an upgrade renders them again);
#: the policy, its tests, CODEOWNERS, grants/README.md and .gitignore are the admins' own
RECORD = ".jitops/init.yaml"


def managed_files(options: InitOptions) -> dict[str, str]:
    """The files init renders again on upgrade: path -> text."""
    files = {".pre-commit-config.yaml": _pre_commit(options)}
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = render_workflow(name, options)
    for kind in schemas.FILE_KINDS:
        files[f".jitops/{kind}.schema.json"] = schemas.schema_text(kind)
    return files


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_record(options: InitOptions, rendered: Mapping[str, str]) -> str:
    """``.jitops/init.yaml``: the choices and the digest of each managed file as rendered
    (``rendered``: path -> digest). Every value was checked by :meth:`InitOptions.check`, and
    is written as a JSON string (a YAML scalar that cannot be misread)."""
    q = json.dumps
    vault = [f"  jwt_mount: {q(options.jwt_mount)}"]
    if options.vault_namespace:
        vault.append(f"  namespace: {q(options.vault_namespace)}")
    if options.vault_ca_cert_secret:
        vault.append(f"  ca_cert_secret: {q(options.vault_ca_cert_secret)}")
    lines = [
        "# yaml-language-server: $schema=init.schema.json",
        "# What `jitops init` was asked for. `jitops init --upgrade [--action-ref SHA]` renders",
        "# the workflows again from it, keeping every choice; `jitops doctor` checks the",
        "# workflows against it. Change a choice with `jitops init --upgrade --OPTION VALUE`.",
        "# rendered: each managed file's SHA-256 as init wrote it (a file that no longer",
        "# matches was changed by hand: an upgrade reports it and overwrites it only with",
        "# --force).",
        "version: 1",
        "action:",
        f"  repository: {q(options.action_repo)}",
        f"  ref: {q(options.action_ref)}",
        f"app_slug: {q(options.app_slug)}",
        "runs_on: [" + ", ".join(q(label) for label in options.runs_on) + "]",
        f"environment: {q(options.environment)}",
        "vault:",
        *vault,
        "rendered:",
        *(f"  {q(path)}: {q(rendered[path])}" for path in sorted(rendered)),
    ]
    return "\n".join(lines) + "\n"


def plan_init(options: InitOptions) -> dict[str, str]:
    """Every file of a new access repository: path relative to its root -> text."""
    managed = managed_files(options)
    files = {
        "policies/policy.yaml": _policy(options),
        "policies/tests/policy.yaml": _policy_tests(options),
        "grants/README.md": _template("grants-README.md"),
        ".github/CODEOWNERS": _codeowners(options),
        ".gitignore": GITIGNORE,
        **managed,
    }
    files[RECORD] = render_record(options, {p: digest(t) for p, t in managed.items()})
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
