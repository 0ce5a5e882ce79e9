"""`jitops doctor`, GitHub part: the access repository is set up the way jitops' trust model needs.

Pure: every function takes what was read (the checkout's workflow files and CODEOWNERS, the
branch's rules and rulesets as GitHub's REST API returns them, the classic branch protection as
plain data) and returns findings that each say how to fix them. The CLI does the reading.

Shapes follow GitHub's REST API description (github/rest-api-description):
``GET /repos/{owner}/{repo}/rules/branches/{branch}`` answers a list of
``repository-rule-detailed`` objects, each a rule (``type``, ``parameters``) with its
``ruleset_source_type``, ``ruleset_source`` and ``ruleset_id``; the ``pull_request`` rule's
parameters include ``require_code_owner_review`` and ``dismiss_stale_reviews_on_push``; the
``required_status_checks`` rule's include ``required_status_checks`` (``[{context,
integration_id?}]``) and ``strict_required_status_checks_policy``.
``GET /repos/{owner}/{repo}/rulesets/{id}`` answers a ruleset with ``bypass_actors``
(``[{actor_id, actor_type: Integration|OrganizationAdmin|RepositoryRole|Team|DeployKey,
bypass_mode}]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import yaml

from jitops.core.duration import format_duration
from jitops.setup.doctor import Finding
from jitops.setup.init import DEFAULT_ENVIRONMENT, digest
from jitops.setup.upgrade import Record

REQUIRED_CHECKS = ("jitops/validate", "jitops/approval")
CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
WORKFLOWS = ("jitops-pr.yml", "jitops-issue.yml", "jitops-sweep.yml")
PRIVILEGED = ("jitops-issue.yml", "jitops-sweep.yml")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
#: a `run:` step that installs code (from the checkout above all)
INSTALLS = re.compile(
    r"\b(pip3?|pipx|uv|poetry|pdm|hatch)\b[^\n;&|]*\binstall\b|setup\.py|\bpython3?\s+-m\s+build\b"
)
#: paths that must have a code owner (the last matching CODEOWNERS line decides, as on GitHub)
OWNED_PATHS = (
    "policies/policy.yaml",
    ".github/workflows/jitops-issue.yml",
    ".github/CODEOWNERS",
    "grants/README.md",
    "any-new-file.txt",
)
SETUP = "docs/setup.md"


# -- workflows -----------------------------------------------------------------------------------
def _steps(wf: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for name, job in (wf.get("jobs") or {}).items():
        for step in (job or {}).get("steps") or []:
            if isinstance(step, Mapping):
                out.append((str(name), step))
    return out


def workflow_findings(
    files: Mapping[str, str | None], bot: str | None = None, record: Record | None = None
) -> list[Finding]:
    """``files``: workflow file name -> its text (None when missing); ``bot``: the policy's
    ``settings.bot``, which the issue job must recognise as the App's own pushes; ``record``:
    ``.jitops/init.yaml``, the choices the workflows must follow (None: none recorded)."""
    out: list[Finding] = []
    environment = record.options.environment if record else DEFAULT_ENVIRONMENT
    refs: set[str] = set()
    for name in WORKFLOWS:
        check = f"workflow {name}"
        text = files.get(name)
        if text is None:
            out.append(
                Finding(
                    check,
                    False,
                    f".github/workflows/{name} is missing",
                    "run `jitops init` in the repository (it adds what is missing and keeps "
                    "what you changed)",
                )
            )
            continue
        try:
            wf = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            out.append(Finding(check, False, f"{name} is not valid YAML ({exc})", "fix the file"))
            continue
        if not isinstance(wf, Mapping):
            out.append(Finding(check, False, f"{name} is not a workflow", "run `jitops init`"))
            continue
        problems: list[str] = []
        triggers = wf.get("on", wf.get(True)) or {}  # YAML 1.1 reads a bare `on` as True
        if "pull_request_target" in (triggers if not isinstance(triggers, str) else [triggers]):
            problems.append("runs on pull_request_target (a pull request's code with secrets)")
        jitops_steps = 0
        for job, step in _steps(wf):
            uses = str(step.get("uses") or "")
            if uses:
                ref = uses.partition("@")[2]
                if uses.startswith("."):
                    problems.append(f"job {job} uses the local action {uses} (code from the tree)")
                elif not SHA_RE.match(ref):
                    problems.append(f"job {job}: {uses} is not pinned to a full commit SHA")
                if isinstance(step.get("with"), Mapping) and "command" in step["with"]:
                    jitops_steps += 1
                    if SHA_RE.match(ref):
                        refs.add(uses)
            run = str(step.get("run") or "")
            if INSTALLS.search(run):
                problems.append(f"job {job} installs code in a run: step")
        if not jitops_steps:
            problems.append("no step calls the jitops Action")
        if name in PRIVILEGED:
            for job_name, raw_job in (wf.get("jobs") or {}).items():
                spec: Mapping[str, Any] = raw_job or {}
                condition = str(spec.get("if") or "")
                if (
                    name == "jitops-issue.yml"
                    and bot
                    and "sender.login" in condition
                    and f"'{bot.lower()}'" not in condition.lower()
                ):
                    problems.append(
                        f"job {job_name} skips pushes of another account than the "
                        f"policy's bot {bot} ({condition})"
                    )
                if spec.get("environment") != environment:
                    problems.append(f"job {job_name} does not run in the {environment} environment")
                conc = spec.get("concurrency") or wf.get("concurrency") or {}
                if not isinstance(conc, Mapping) or conc.get("group") != "jitops-ledger":
                    problems.append(f"job {job_name} is not in the concurrency group jitops-ledger")
                elif conc.get("cancel-in-progress"):
                    problems.append(
                        f"job {job_name} cancels runs in progress (a half-written ledger)"
                    )
        if record is not None:
            problems += _against_record(name, wf, record)
        if problems:
            out.append(
                Finding(
                    check,
                    False,
                    f"{name}: " + "; ".join(problems),
                    "call the jitops Action pinned to a full commit SHA and install nothing "
                    "from the repository: `jitops init --force` rewrites the file (see "
                    f"{SETUP})",
                )
            )
        else:
            out.append(Finding(check, True, f"{name} calls the jitops Action pinned by SHA"))
    if record is not None:
        out += _hand_edits(files, record)
    if len(refs) > 1:
        out.append(
            Finding(
                "jitops Action version",
                False,
                "the workflows pin different jitops Action commits: " + ", ".join(sorted(refs)),
                "pin the same commit everywhere (`jitops init --force --action-ref SHA`)",
            )
        )
    return out


def _against_record(name: str, wf: Mapping[str, Any], record: Record) -> list[str]:
    """What in workflow ``name`` departs from the recorded choices."""
    want = record.options
    pin = f"{want.action_repo}@{want.action_ref}"
    problems: list[str] = []
    for job_name, raw_job in (wf.get("jobs") or {}).items():
        spec: Mapping[str, Any] = raw_job if isinstance(raw_job, Mapping) else {}
        labels = spec.get("runs-on")
        labels = [labels] if isinstance(labels, str) else list(labels or [])
        if labels != list(want.runs_on):
            problems.append(
                f"job {job_name} runs on {labels}, not the recorded {list(want.runs_on)}"
            )
        steps = [s for s in spec.get("steps") or [] if isinstance(s, Mapping)]
        for step in steps:
            uses = str(step.get("uses") or "")
            with_ = step.get("with")
            if isinstance(with_, Mapping) and "command" in with_ and uses != pin:
                problems.append(f"job {job_name} calls {uses}, not the recorded {pin}")
            raw_env = step.get("env")
            env: Mapping[str, Any] = raw_env if isinstance(raw_env, Mapping) else {}
            if "VAULT_ADDR" not in env:
                continue
            if str(env.get("VAULT_NAMESPACE") or "") != want.vault_namespace:
                problems.append(
                    f"job {job_name}: step {step.get('name')!r} has VAULT_NAMESPACE "
                    f"{env.get('VAULT_NAMESPACE')!r}, not the recorded "
                    f"{want.vault_namespace or None!r}"
                )
            if want.vault_ca_cert_secret and "VAULT_CACERT" not in env:
                problems.append(
                    f"job {job_name}: step {step.get('name')!r} does not set VAULT_CACERT "
                    f"(the recorded CA secret {want.vault_ca_cert_secret})"
                )
        if want.vault_ca_cert_secret and name in PRIVILEGED:
            secret = f"secrets.{want.vault_ca_cert_secret}"
            if not any(secret in str(s.get("env") or "") and "run" in s for s in steps):
                problems.append(f"job {job_name} never writes the CA certificate from {secret}")
    return problems


def _hand_edits(files: Mapping[str, str | None], record: Record) -> list[Finding]:
    """A warning for each workflow changed since init rendered it: an upgrade will stop."""
    changed = [
        name
        for name in WORKFLOWS
        if files.get(name) is not None
        and record.rendered.get(f".github/workflows/{name}") != digest(files[name] or "")
    ]
    if not changed:
        return [Finding("init record", True, "the workflows are as `jitops init` rendered them")]
    return [
        Finding(
            "init record",
            True,
            f"warning: {', '.join(changed)} changed by hand since `jitops init` rendered "
            "it: `jitops init --upgrade` will report it and stop; keep the change and pin "
            "new commits by hand, or let --force replace it",
        )
    ]


# -- CODEOWNERS -----------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS pattern (gitignore-like) as a regex over a repository path."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    rx = ""
    i = 0
    while i < len(body):
        if body.startswith("**", i):
            rx += ".*"
            i += 2
        elif body[i] == "*":
            rx += "[^/]*"
            i += 1
        elif body[i] == "?":
            rx += "[^/]"
            i += 1
        else:
            rx += re.escape(body[i])
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{rx}(?:/.*)?$")


def code_owners(codeowners: str, path: str) -> list[str]:
    """The owners GitHub assigns to ``path``: the LAST matching line wins, and a line without
    owners leaves the path without one."""
    owners: list[str] = []
    for line in codeowners.splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] in ("*", "**") or _pattern_regex(parts[0]).match(path):
            owners = parts[1:]
    return owners


def codeowners_findings(codeowners: str | None) -> list[Finding]:
    if codeowners is None:
        return [
            Finding(
                "CODEOWNERS",
                False,
                "there is no CODEOWNERS file",
                "add .github/CODEOWNERS with '* @org/access-admins' and an ownerless "
                "'/grants/*.yaml' line (`jitops init` writes it)",
            )
        ]
    unowned = [p for p in OWNED_PATHS if not code_owners(codeowners, p)]
    if unowned:
        return [
            Finding(
                "CODEOWNERS",
                False,
                "no code owner for " + ", ".join(unowned),
                "start .github/CODEOWNERS with '* @org/access-admins' so every path but "
                "grant files needs an admin (a pull request must not change the policy, the "
                "workflows or anything else unreviewed)",
            )
        ]
    return [Finding("CODEOWNERS", True, "every path but grant files has a code owner")]


# -- rulesets and classic protection -------------------------------------------------------------
@dataclass(frozen=True)
class BranchRules:
    """What protects the branch, as GitHub reports it: the active rules by type, the rulesets
    they come from, classic branch protection (``{}``: none) and the jitops App's id."""

    rules: Sequence[Mapping[str, Any]]
    rulesets: Mapping[int, Mapping[str, Any] | None]
    protection: Mapping[str, Any]
    branch: str = "main"
    app_id: int | None = None
    # ids of the on-call teams of roles with break_glass: bypass for pull requests only is theirs
    break_glass_teams: Collection[int] = ()

    def of_type(self, kind: str) -> list[Mapping[str, Any]]:
        return [r for r in self.rules if str(r.get("type")) == kind]

    def status_contexts(self) -> dict[str, Any]:
        """Required status contexts -> the integration that must set them (None: anyone)."""
        contexts: dict[str, Any] = {}
        for rule in self.of_type("required_status_checks"):
            for check in (rule.get("parameters") or {}).get("required_status_checks") or []:
                contexts[str(check.get("context"))] = check.get("integration_id")
        for context in self.protection.get("contexts") or ():
            contexts.setdefault(str(context), None)
        return contexts

    def pull_request_rule(self, key: str, classic: str) -> bool:
        """Whether a pull request rule (or classic protection's ``classic``) turns ``key`` on."""
        on = any((r.get("parameters") or {}).get(key) for r in self.of_type("pull_request"))
        return on or bool(self.protection.get(classic))


#: One check of the branch's rules: the findings it makes (none when it has nothing to say).
RulesCheck = Callable[[BranchRules], list[Finding]]


def required_statuses(b: BranchRules) -> list[Finding]:
    """Both jitops statuses are required."""
    missing = [c for c in REQUIRED_CHECKS if c not in b.status_contexts()]
    if not missing:
        return [
            Finding(
                "required statuses", True, f"{b.branch} requires {' and '.join(REQUIRED_CHECKS)}"
            )
        ]
    return [
        Finding(
            "required statuses",
            False,
            f"{b.branch} does not require {', '.join(missing)}",
            f"add {', '.join(missing)} to the ruleset's required status checks, with "
            "GitHub Actions as their source",
        )
    ]


def status_sources(b: BranchRules) -> list[Finding]:
    """A ruleset's required status without a pinned source may be set by any writer."""
    contexts = b.status_contexts()
    unpinned = [c for c in REQUIRED_CHECKS if c in contexts and contexts[c] is None]
    if not unpinned or not b.of_type("required_status_checks"):
        return []
    return [
        Finding(
            "status sources",
            True,
            f"warning: {', '.join(unpinned)} may be set by anyone with write access; pin "
            "their source to GitHub Actions in the ruleset",
        )
    ]


def up_to_date_branches(b: BranchRules) -> list[Finding]:
    """'Require branches to be up to date' makes approvals of an older head stop counting."""
    strict = bool(b.protection.get("strict")) or any(
        (r.get("parameters") or {}).get("strict_required_status_checks_policy")
        for r in b.of_type("required_status_checks")
    )
    if not strict:
        return []
    return [
        Finding(
            "up-to-date branches",
            True,
            "warning: 'Require branches to be up to date before merging' is on: updating "
            "a grant pull request moves its head and the approvals of the old head stop "
            f"counting (jitops counts only approvals of the head); turn it off for {b.branch}",
        )
    ]


def code_owner_review(b: BranchRules) -> list[Finding]:
    """Code owners (the admins, for everything but grants) must review."""
    owners = b.pull_request_rule("require_code_owner_review", "require_code_owner_reviews")
    return [
        Finding(
            "code-owner review",
            owners,
            "code-owner review is required" if owners else "code-owner review is not required",
            ""
            if owners
            else f"turn on 'Require review from Code Owners' in the ruleset for {b.branch}",
        )
    ]


def stale_approvals(b: BranchRules) -> list[Finding]:
    """Approvals are dismissed when new commits are pushed."""
    stale = b.pull_request_rule("dismiss_stale_reviews_on_push", "dismiss_stale_reviews")
    return [
        Finding(
            "stale approvals",
            stale,
            "stale approvals are dismissed on push" if stale else "approvals survive new pushes",
            "" if stale else f"turn on 'Dismiss stale pull request approvals' for {b.branch}",
        )
    ]


def bypass(b: BranchRules) -> list[Finding]:
    """Only the jitops App may bypass the rules (it pushes the status and expiry commits)."""
    ids = sorted({int(r["ruleset_id"]) for r in b.rules if r.get("ruleset_id") is not None})
    if not ids:
        return [
            Finding(
                "bypass",
                False,
                f"{b.branch} is protected only by classic branch protection, which cannot name "
                "a GitHub App that may push",
                f"protect {b.branch} with a ruleset whose only bypass actor is the jitops App "
                f"({SETUP})",
            )
        ]
    others: list[str] = []
    apps: set[int] = set()
    unreadable: list[int] = []
    for rid in ids:
        ruleset = b.rulesets.get(rid)
        if ruleset is None or "bypass_actors" not in ruleset:
            unreadable.append(rid)
            continue
        for actor in ruleset.get("bypass_actors") or []:
            kind = str(actor.get("actor_type"))
            actor_id = actor.get("actor_id")
            if kind == "Integration" and (b.app_id is None or actor_id == b.app_id):
                apps.add(int(actor_id or 0))
            elif (
                kind == "Team"
                and actor_id in b.break_glass_teams
                and actor.get("bypass_mode") == "pull_request"
            ):
                continue  # break-glass: the on-call team merges its emergency pull request
            else:
                others.append(f"{kind} {actor_id} (ruleset {ruleset.get('name', rid)})")
    if unreadable:
        return [
            Finding(
                "bypass",
                False,
                "could not read the bypass list of ruleset(s) "
                + ", ".join(str(i) for i in unreadable),
                "run `jitops doctor` with a token of a repository admin (bypass lists are shown "
                "to admins only)",
            )
        ]
    if others:
        return [
            Finding(
                "bypass",
                False,
                "besides the jitops App, these may bypass the rules of "
                f"{b.branch}: {', '.join(others)}",
                "remove them from the ruleset's bypass list: whoever bypasses can merge an "
                "unreviewed policy or workflow change",
            )
        ]
    if not apps:
        return [
            Finding(
                "bypass",
                False,
                "the jitops App is not a bypass actor: its status and expiry commits cannot "
                f"reach {b.branch}",
                "add the jitops GitHub App to the ruleset's bypass list (mode: always)",
            )
        ]
    return [Finding("bypass", True, "only the jitops App may bypass the rules")]


#: The checks of a protected branch, in the order they are reported.
RULES_CHECKS: tuple[RulesCheck, ...] = (
    required_statuses,
    status_sources,
    up_to_date_branches,
    code_owner_review,
    stale_approvals,
    bypass,
)


def rules_findings(
    rules: Sequence[Mapping[str, Any]],
    rulesets: Mapping[int, Mapping[str, Any] | None],
    protection: Mapping[str, Any] | None,
    *,
    branch: str = "main",
    app_id: int | None = None,
    break_glass_teams: Collection[int] = (),
) -> list[Finding]:
    """Check the branch's active rules (rulesets) and classic protection together
    (:data:`RULES_CHECKS`, each on its own).

    ``rules``: the answer of ``GET /repos/{o}/{r}/rules/branches/{branch}``;
    ``rulesets``: ruleset id -> ``GET /repos/{o}/{r}/rulesets/{id}`` (None when unreadable);
    ``protection``: classic branch protection as plain data (None when there is none);
    ``app_id``: the jitops GitHub App's id, when known; ``break_glass_teams``: ids of the
    on-call teams of roles with ``break_glass``, whose bypass for pull requests only is
    expected (:func:`break_glass_findings` checks it).
    """
    if not rules and protection is None:
        return [
            Finding(
                f"ruleset on {branch}",
                False,
                f"{branch} has no ruleset and no branch protection",
                f"add a ruleset for {branch}: require a pull request with code-owner review, "
                f"the statuses {', '.join(REQUIRED_CHECKS)}, block force pushes, and make "
                f"the jitops App its only bypass actor ({SETUP})",
            )
        ]
    b = BranchRules(rules, rulesets, protection or {}, branch, app_id, break_glass_teams)
    return [finding for check in RULES_CHECKS for finding in check(b)]


def break_glass_findings(
    teams: Mapping[str, int | None],
    people: Sequence[str],
    rulesets: Mapping[int, Mapping[str, Any] | None],
    *,
    branch: str = "main",
) -> list[Finding]:
    """When a role has ``break_glass``: its on-call requesters can merge their own emergency
    pull request only as bypass actors of the branch's ruleset in mode ``pull_request``
    (GitHub's REST API, "Create a repository ruleset": ``bypass_actors[].bypass_mode``
    ``pull_request`` "means that an actor can only bypass rules on pull requests", see
    https://docs.github.com/en/rest/repos/rules#create-a-repository-ruleset); mode ``always``
    would also let them push to the branch directly.

    ``teams``: '@org/slug' of every ``break_glass.requesters`` team -> its id (None: no such
    team); ``people``: requesters named as single logins (rulesets bypass teams, roles and
    apps, not single users)."""
    if not teams and not people:
        return []
    modes: dict[int, str] = {}
    for ruleset in rulesets.values():
        for actor in (ruleset or {}).get("bypass_actors") or []:
            if actor.get("actor_type") == "Team" and actor.get("actor_id") is not None:
                modes[int(actor["actor_id"])] = str(actor.get("bypass_mode") or "always")
    out = []
    for name, tid in sorted(teams.items()):
        mode = modes.get(tid) if tid is not None else None
        fix = (
            f"add {name} to the bypass list of the ruleset protecting {branch} with mode "
            "'For pull requests only' (bypass_mode: pull_request; docs/time-and-risk.md)"
        )
        if tid is None:
            out.append(Finding("break-glass bypass", False, f"team {name} does not exist", fix))
        elif mode is None:
            out.append(
                Finding(
                    "break-glass bypass",
                    False,
                    f"{name} (break_glass requesters) cannot merge its emergency pull request "
                    "without review: it is not a bypass actor",
                    fix,
                )
            )
        elif mode != "pull_request":
            out.append(
                Finding(
                    "break-glass bypass",
                    False,
                    f"{name} bypasses the rules of {branch} in mode {mode!r}: it may also push "
                    "to the branch directly",
                    fix,
                )
            )
        else:
            out.append(
                Finding(
                    "break-glass bypass",
                    True,
                    f"{name} may merge pull requests without review (pull requests only); "
                    "warning: that holds for any pull request, so watch rule bypasses in the "
                    "ruleset's insights; jitops issues an unreviewed grant only as break-glass",
                )
            )
    out += [
        Finding(
            "break-glass bypass",
            False,
            f"break_glass names {who}, a single login: rulesets let teams bypass, not users",
            "name an on-call team in break_glass.requesters and add it as a bypass actor "
            "(pull requests only)",
        )
        for who in people
    ]
    return out


def members_finding(team: str | None, error: str | None) -> Finding:
    """Whether the token doctor ran with could answer a team-membership question."""
    if team is None:
        return Finding("team membership", True, "the policy names no team")
    if error is not None:
        return Finding(
            "team membership",
            False,
            f"cannot read the members of {team}: {error}",
            "give the jitops GitHub App the organisation permission 'Members: read' and "
            "accept the new permission on its installation",
        )
    return Finding("team membership", True, f"the members of {team} can be read")


# -- the jitops environment -----------------------------------------------------------------------
#: the secrets the issue and sweep jobs read from the environment (docs/setup.md, step 3)
ENVIRONMENT_SECRETS = ("JITOPS_APP_ID", "JITOPS_APP_PRIVATE_KEY", "VAULT_ADDR")


def environment_exists_finding(name: str, environment: Mapping[str, Any] | None) -> Finding:
    """The issue and sweep jobs run in ``name``; GitHub creates a missing environment on a
    job's first run, with no protection at all (every branch may use it)."""
    if environment is None:
        return Finding(
            f"environment {name}",
            False,
            f"the environment {name!r} does not exist (GitHub would create it unprotected on "
            "the first issue or sweep run)",
            f"create it before the workflows run: Settings → Environments → {name}, deployment "
            f"branches: main only ({SETUP}, step 3)",
        )
    return Finding(f"environment {name}", True, f"the environment {name!r} exists")


def environment_branch_finding(
    name: str,
    environment: Mapping[str, Any] | None,
    branch_policies: Sequence[Mapping[str, Any]] | None,
    branch: str = "main",
) -> Finding:
    """Only ``branch`` may use the environment: a custom branch policy naming exactly it
    (GitHub's ``deployment_branch_policy`` with ``custom_branch_policies``)."""
    check = f"environment {name} branches"
    policy = (environment or {}).get("deployment_branch_policy")
    fix = (
        f"Settings → Environments → {name} → Deployment branches and tags: Selected branches, "
        f"and only {branch} ({SETUP}, step 3)"
    )
    if environment is None:
        return Finding(check, False, f"not checked: the environment {name!r} is missing", fix)
    if not policy:
        return Finding(check, False, f"every branch may use the environment {name!r}", fix)
    if policy.get("protected_branches"):
        return Finding(
            check,
            False,
            f"any protected branch may use the environment {name!r}, not only {branch}",
            fix,
        )
    names = sorted(
        str(p.get("name"))
        for p in branch_policies or []
        if str(p.get("type") or "branch") == "branch"
    )
    tags = [str(p.get("name")) for p in branch_policies or [] if p.get("type") == "tag"]
    if names != [branch] or tags:
        shown = ", ".join(names + [f"tag {t}" for t in tags]) or "nothing"
        return Finding(
            check, False, f"the environment {name!r} allows {shown}, not only {branch}", fix
        )
    return Finding(check, True, f"only {branch} may use the environment {name!r}")


def environment_secrets_finding(
    name: str, secret_names: Sequence[str] | None, ca_secret: str = "", error: str = ""
) -> Finding:
    """The environment holds the secrets the workflows read (names only: GitHub never
    answers values)."""
    check = f"environment {name} secrets"
    want = [*ENVIRONMENT_SECRETS, *([ca_secret] if ca_secret else [])]
    if secret_names is None:
        return Finding(
            check,
            False,
            f"could not list the secrets of {name!r}: {error or 'environment missing'}",
            "run doctor with a token of a repository admin",
        )
    missing = [s for s in want if s not in secret_names]
    if missing:
        return Finding(
            check,
            False,
            f"the environment {name!r} has no secret {', '.join(missing)}",
            f"add them as environment secrets of {name!r} (not repository secrets: only jobs "
            f"in the environment may read them; {SETUP}, step 3)",
        )
    return Finding(check, True, f"the environment {name!r} has {', '.join(want)}")


# -- the ruleset's bypass mode and the App ---------------------------------------------------------
def bypass_mode_finding(
    rulesets: Mapping[int, Mapping[str, Any] | None], app_id: int | None
) -> Finding:
    """The App must bypass in mode ``always``: in ``pull_request`` mode it may bypass only by
    merging pull requests, so its direct status and expiry pushes are rejected."""
    found = []
    for rid, ruleset in sorted(rulesets.items()):
        for actor in (ruleset or {}).get("bypass_actors") or []:
            if actor.get("actor_type") != "Integration":
                continue
            if app_id is not None and actor.get("actor_id") != app_id:
                continue
            found.append((rid, str(actor.get("bypass_mode") or "always")))
    if not found:
        return Finding("bypass mode", True, "no App bypass entry to check (see 'bypass')")
    wrong = [f"ruleset {rid}: {mode}" for rid, mode in found if mode != "always"]
    if wrong:
        return Finding(
            "bypass mode",
            False,
            "the jitops App bypasses only through pull requests ("
            + ", ".join(wrong)
            + "): its direct pushes of status and expiry commits are rejected",
            "set the App's bypass mode to Always in the ruleset's bypass list",
        )
    return Finding("bypass mode", True, "the jitops App bypasses in mode always")


def bot_finding(bot: str | None, app_slug: str | None) -> Finding:
    """``settings.bot`` must be the App's login (``<slug>[bot]``): claim trusts deliveries
    only from it, and the issue job skips exactly its pushes."""
    if not bot:
        return Finding(
            "settings.bot",
            False,
            "settings.bot is not set: claim cannot tell the App's deliveries from anyone's",
            "set settings.bot: <app-slug>[bot] in policies/policy.yaml",
        )
    if app_slug is None:
        return Finding(
            "settings.bot",
            True,
            f"warning: settings.bot is {bot}; no App slug recorded to compare it with",
            warning=True,
        )
    want = f"{app_slug}[bot]"
    if bot.lower() != want.lower():
        return Finding(
            "settings.bot",
            False,
            f"settings.bot is {bot}, but the App recorded by init is {app_slug} ({want})",
            f"set settings.bot: {want}, or `jitops init --upgrade --app-slug SLUG` if the App "
            "changed",
        )
    return Finding("settings.bot", True, f"settings.bot is the App's login {want}")


# -- is the sweep running? -------------------------------------------------------------------------
SWEEP = "jitops-sweep.yml"
#: GitHub disables a scheduled workflow "when the last user to commit to the cron schedule of a
#: workflow is removed from the organization", and in a public repository after 60 days without
#: activity; schedules may be delayed or dropped under load
#: (https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#schedule)
DISABLED_WHY = {
    "disabled_inactivity": "GitHub disabled it after 60 days without repository activity",
    "disabled_manually": "someone disabled it",
    "disabled_fork": "it is disabled in a fork",
    "deleted": "its file was deleted",
}


def schedule_minutes(cron: str) -> int | None:
    """The interval of a simple cron schedule in minutes: ``*/N * * * *`` is N, ``M * * * *``
    60, ``M H * * *`` 1440; None for anything else."""
    fields = cron.split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        return None
    minute, hour = fields[0], fields[1]
    if hour == "*" and minute.startswith("*/") and minute[2:].isdigit():
        return max(1, int(minute[2:]))
    if hour == "*" and minute.isdigit():
        return 60
    if minute.isdigit() and hour.isdigit():
        return 1440
    return None


def sweep_findings(
    workflow: Mapping[str, Any] | None,
    runs: Sequence[Mapping[str, Any]],
    cron: str | None,
    now: datetime,
) -> list[Finding]:
    """The sweep workflow is enabled and a scheduled run started within twice its schedule."""
    fix_enable = (
        "enable it (Actions → jitops sweep → Enable workflow); a commit by an admin that "
        "changes its cron line also re-activates it and makes them its owner"
    )
    if workflow is None:
        return [
            Finding(
                "sweep enabled",
                False,
                f"GitHub does not know .github/workflows/{SWEEP} (not on the default branch?)",
                "commit the generated workflows to main (`jitops init`)",
            )
        ]
    state = str(workflow.get("state") or "")
    if state != "active":
        why = DISABLED_WHY.get(state, f"its state is {state!r}")
        return [
            Finding(
                "sweep enabled",
                False,
                f"the sweep workflow is not running: {why}; expired grants stay in git as "
                "active (Vault still ends them) and nothing is swept",
                fix_enable,
            )
        ]
    out = [Finding("sweep enabled", True, "the sweep workflow is active")]
    interval = schedule_minutes(cron or "") or 60
    allowed = timedelta(minutes=2 * interval)
    last = max((_when(r.get("created_at")) for r in runs), default=None)
    if last is None:
        out.append(
            Finding(
                "sweep ran",
                False,
                "the sweep has never run on its schedule",
                "check Actions → jitops sweep; GitHub delays or drops scheduled runs under load, "
                "and disables a schedule whose last committer left the organisation",
            )
        )
    elif now - last > allowed:
        out.append(
            Finding(
                "sweep ran",
                False,
                f"the last scheduled sweep started {_ago(now - last)} ago, more than twice "
                f"its schedule ({format_duration(allowed)})",
                "check Actions → jitops sweep (failed runs, a disabled schedule); " + fix_enable,
            )
        )
    else:
        out.append(
            Finding("sweep ran", True, f"the last scheduled sweep started {_ago(now - last)} ago")
        )
    return out


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _ago(delta: timedelta) -> str:
    return format_duration(timedelta(seconds=max(60, int(delta.total_seconds()) // 60 * 60)))


def github_skipped_finding() -> Finding:
    """Without a repository and token nothing of GitHub was checked: that is never "ok"."""
    return Finding(
        "GitHub",
        False,
        "GitHub checks skipped: no --repo-name/--token (GITHUB_REPOSITORY, GITHUB_TOKEN); the "
        "ruleset, environment, App and sweep were NOT checked",
        "run doctor with --repo-name OWNER/REPO and --token of a repository admin",
        warning=True,
    )
