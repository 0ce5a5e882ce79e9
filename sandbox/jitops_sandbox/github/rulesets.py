"""Repository rulesets: which apply to a branch, and whether a merge satisfies them.

Modelled on GitHub's docs (repositories/configuring-branches-and-merges-in-your-repository/
managing-rulesets/about-rulesets.md, available-rules-for-rulesets.md) and its OpenAPI
description (``repository-ruleset``, ``repository-rule-*``):

- a ruleset targets branches by ``conditions.ref_name`` (``include`` / ``exclude``:
  ``refs/heads/NAME``, fnmatch patterns, ``~DEFAULT_BRANCH``, ``~ALL``); only ``active``
  rulesets are enforced and listed by ``rules/branches/{branch}`` (``evaluate`` and
  ``disabled`` are not);
- rulesets layer with each other and with classic branch protection: every rule of every
  active ruleset must hold (the most restrictive wins);
- a bypass actor of a ruleset (a GitHub App: ``Integration`` with the App id, a team, or the
  repository admin role) is not held to that ruleset's rules;
- ``pull_request``: ``required_approving_review_count``, ``dismiss_stale_reviews_on_push``
  (approvals of an older head do not count), ``require_code_owner_review`` (CODEOWNERS on the
  base branch, last matching pattern wins), ``require_last_push_approval`` (an approval of the
  head by someone other than who pushed it), ``allowed_merge_methods``;
- ``required_status_checks``: each ``{context, integration_id}`` must be ``success`` on the
  head, and with an ``integration_id`` only a status set by that GitHub App counts;
- ``merge_queue``: merges go through the queue (``GitHubSandbox.queue_pr``), never directly.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from jitops_sandbox.github.errors import APIError

if TYPE_CHECKING:
    from jitops_sandbox.github.gitrepo import BareRepo
    from jitops_sandbox.github.model import Pull, Review, Status, Team, User


class RulesView(Protocol):
    """What the rules read of the repository (the stand-in's store has it all): its rulesets,
    teams, reviews, statuses and git. The rules never change it."""

    git: BareRepo
    rulesets: dict[int, Ruleset]
    teams: dict[int, Team]
    reviews: dict[int, Review]
    statuses: list[Status]

    def user(self, login: str) -> User: ...
    def find_team(self, org: str, slug: str) -> Team | None: ...
    def effective_members(self, team: Team) -> dict[str, tuple[str, str, bool]]: ...
    def pusher(self, sha: str, pull: Pull) -> str: ...


CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass
class Ruleset:
    id: int
    name: str
    rules: list[dict[str, Any]]
    include: list[str] = field(default_factory=lambda: ["~DEFAULT_BRANCH"])
    exclude: list[str] = field(default_factory=list)
    enforcement: str = "active"  # active | evaluate | disabled
    # {"actor_id": int | None, "actor_type": "Integration" | "Team" | ..., "bypass_mode": ...}
    bypass_actors: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None

    def applies_to(self, branch: str, default_branch: str = "main") -> bool:
        def hit(pattern: str) -> bool:
            if pattern == "~ALL":
                return True
            if pattern == "~DEFAULT_BRANCH":
                return branch == default_branch
            name = pattern.removeprefix("refs/heads/")
            return fnmatch.fnmatchcase(branch, name)

        return any(hit(p) for p in self.include) and not any(hit(p) for p in self.exclude)

    def rule(self, kind: str) -> dict[str, Any] | None:
        return next((r for r in self.rules if r.get("type") == kind), None)


def active_rulesets(store: RulesView, branch: str) -> list[Ruleset]:
    return [
        r
        for r in sorted(store.rulesets.values(), key=lambda r: r.id)
        if r.enforcement == "active" and r.applies_to(branch)
    ]


def can_bypass(store: RulesView, ruleset: Ruleset, user: User) -> bool:
    for actor in ruleset.bypass_actors:
        kind = actor.get("actor_type")
        if kind == "Integration" and user.app_id is not None and actor["actor_id"] == user.app_id:
            return True
        if kind == "Team":
            team = store.teams.get(int(actor.get("actor_id") or 0))
            if team is not None and user.login.lower() in store.effective_members(team):
                return True
        if kind in ("RepositoryRole", "OrganizationAdmin") and user.admin:
            return True
    return False


def dismisses_stale(store: RulesView, branch: str) -> bool:
    return any(
        bool(
            (r.rule("pull_request") or {})
            .get("parameters", {})
            .get("dismiss_stale_reviews_on_push")
        )
        for r in active_rulesets(store, branch)
    )


def _latest_reviews(store: RulesView, pull: Pull) -> dict[str, tuple[str, str]]:
    """lower login -> (state, commit_id) of each reviewer's latest deciding review."""
    latest: dict[str, tuple[str, str]] = {}
    for review in sorted(store.reviews.values(), key=lambda r: r.id):
        if review.number == pull.number and review.state in (
            "APPROVED",
            "CHANGES_REQUESTED",
            "DISMISSED",
        ):
            latest[review.author.lower()] = (review.state, review.commit_id)
    latest.pop(pull.author.lower(), None)
    return latest


def _owners(store: RulesView, base_sha: str, path: str) -> list[str]:
    """The owners CODEOWNERS (on the base branch) gives ``path``: the last matching line."""
    text = None
    for candidate in CODEOWNERS_PATHS:
        text = store.git.read_file(base_sha, candidate)
        if text is not None:
            break
    owners: list[str] = []
    for line in (text or "").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 1:
            continue
        pattern, names = parts[0], [p for p in parts[1:] if p.startswith("@")]
        if _codeowners_match(pattern, path):
            owners = names
    return owners


def _codeowners_match(pattern: str, path: str) -> bool:
    anchored = pattern.startswith("/")
    pattern = pattern.strip("/") if pattern != "/" else ""
    if pattern in ("", "*"):
        return True
    directory = pattern.endswith("/**") or "." not in pattern.rsplit("/", 1)[-1]
    candidates = [path] if anchored or "/" in pattern else [path, *_suffixes(path)]
    for candidate in candidates:
        if fnmatch.fnmatchcase(candidate, pattern):
            return True
        if directory and candidate.startswith(pattern.removesuffix("/**") + "/"):
            return True
    return False


def _suffixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[i:]) for i in range(1, len(parts))]


def _is_owner(store: RulesView, owner: str, login: str) -> bool:
    name = owner.lstrip("@")
    if "/" in name:
        org, slug = name.split("/", 1)
        team = store.find_team(org, slug)
        return team is not None and login.lower() in store.effective_members(team)
    return name.lower() == login.lower()


def violations(
    store: RulesView, pull: Pull, merger: User, method: str, head: str, queued: bool = False
) -> list[str]:
    """What the active rulesets of the PR's base branch forbid about this merge (GitHub's
    words), leaving out rulesets ``merger`` may bypass."""
    found: list[str] = []
    for ruleset in active_rulesets(store, pull.base_ref):
        if can_bypass(store, ruleset, merger):
            continue
        if ruleset.rule("merge_queue") is not None and not queued:
            found.append("Changes must be made through the merge queue")
        pr_rule = ruleset.rule("pull_request")
        if pr_rule is not None:
            params = pr_rule.get("parameters") or {}
            found += pull_request_violations(store, pull, params, method, head)
        checks = ruleset.rule("required_status_checks")
        if checks is not None:
            found += _status_rule(store, head, checks.get("parameters") or {})
    return found


def pull_request_violations(
    store: RulesView, pull: Pull, params: dict[str, Any], method: str, head: str
) -> list[str]:
    found = []
    allowed = params.get("allowed_merge_methods")
    if allowed and method in ("merge", "squash", "rebase") and method not in allowed:
        found.append(f"Merge method {method} is not allowed by the ruleset")
    latest = _latest_reviews(store, pull)
    if any(state == "CHANGES_REQUESTED" for state, _ in latest.values()):
        found.append("Changes must be made through a pull request: a reviewer requested changes")
    stale_dismissed = bool(params.get("dismiss_stale_reviews_on_push"))
    approvers = [
        login
        for login, (state, commit) in latest.items()
        if state == "APPROVED" and (commit == head or not stale_dismissed)
    ]
    need = int(params.get("required_approving_review_count") or 0)
    if len(approvers) < need:
        plural = "s are" if need > 1 else " is"
        found.append(
            f"At least {need} approving review{plural} required by reviewers with write access."
        )
    if params.get("require_code_owner_review"):
        base = pull.last_base_sha or store.git.branch_sha(pull.base_ref) or ""
        fork = store.git.merge_base(base, head) or base
        for entry in store.git.diff(fork, head):
            owners = _owners(store, base, entry.filename)
            if owners and not any(_is_owner(store, o, a) for o in owners for a in approvers):
                found.append(f"Waiting on code owner review from {', '.join(owners)}.")
                break
    if params.get("require_last_push_approval"):
        pusher = store.pusher(head, pull)
        if not any(a != pusher.lower() and latest[a][1] == head for a in approvers):
            found.append(
                "The most recent push must be approved by someone other than the person who "
                "pushed it."
            )
    return found


def _status_rule(store: RulesView, head: str, params: dict[str, Any]) -> list[str]:
    found = []
    for check in params.get("required_status_checks") or []:
        context = check.get("context")
        app = check.get("integration_id")
        mine = [
            s
            for s in store.statuses
            if s.sha == head
            and s.context == context
            and (app is None or store.user(s.creator).app_id == app)
        ]
        if not mine:
            found.append(f'Required status check "{context}" is expected.')
        elif mine[-1].state != "success":
            found.append(f'Required status check "{context}" is failing.')
    return found


def check(
    store: RulesView, pull: Pull, merger: User, method: str, head: str, queued: bool = False
) -> None:
    """Refuse (405, GitHub's "Repository rule violations found") a merge the rulesets forbid."""
    found = violations(store, pull, merger, method, head, queued)
    if found:
        raise APIError(405, "Repository rule violations found\n\n" + "\n\n".join(found) + "\n\n")
