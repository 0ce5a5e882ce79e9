"""The approval rule (docs/design.md, *The approval rule*), exactly, as a pure function.

For each reviewer the latest APPROVED / CHANGES_REQUESTED / DISMISSED review counts (COMMENTED
is ignored). A reviewer is an *approver* when that review is APPROVED on the pull request's
current head commit. The requester and the pull request author never count. An eligible
reviewer's CHANGES_REQUESTED blocks. Each approver counts toward at most one rule and every rule
needs ``count`` distinct approvers from its principals: a bipartite matching (augmenting paths),
not a greedy pass, so one person can never satisfy two rules and a clever assignment is found
whenever one exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jitops.core.grant import Grant
from jitops.core.policy import ApprovalRule, Policy
from jitops.core.principals import TeamLookup, same_login
from jitops.errors import Problem


class Approval(StrEnum):
    """Where a grant's approvals stand (the words the PR comment and policy tests use)."""

    APPROVED = "approved"
    PENDING = "pending"
    BLOCKED = "blocked"  # a counted review requests changes
    INVALID = "invalid"  # the grant itself is invalid: nothing to approve


_COUNTED = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


@dataclass(frozen=True)
class Review:
    user: str
    state: str  # REST: APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str | None
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class RuleResult:
    rule: ApprovalRule
    approved_by: tuple[str, ...]
    missing: int
    candidates: tuple[str, ...]  # current approvers who match this rule

    @property
    def met(self) -> bool:
        return self.missing == 0


@dataclass(frozen=True)
class Evaluation:
    outcome: Approval
    approvers: tuple[str, ...] = ()  # those the matching used, rule by rule
    rules: tuple[RuleResult, ...] = ()
    blockers: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()  # (login, "requester" | "author" | "not eligible")
    problems: tuple[Problem, ...] = ()

    def explain(self) -> list[str]:
        """Lines a human can act on."""
        if self.outcome is Approval.INVALID:
            return [p.message for p in self.problems if p.severity == "error"]
        out = []
        for r in self.rules:
            if r.met:
                out.append(f"{r.rule.describe()}: met by {', '.join(r.approved_by)}")
            else:
                who = " or ".join(str(p) for p in r.rule.principals)
                line = f"needs {r.missing} more approval{'s' if r.missing > 1 else ''} from {who}"
                if r.approved_by:
                    line += f" (so far {', '.join(r.approved_by)})"
                elsewhere = [c for c in r.candidates if c not in r.approved_by]
                if elsewhere:
                    verb = "counts" if len(elsewhere) == 1 else "count"
                    line += (
                        f"; {', '.join(elsewhere)} already {verb} for another rule (one person "
                        "counts once)"
                    )
                out.append(line)
        if not self.rules:
            out.append("this role needs no review")
        if self.blockers:
            out.append(
                f"changes requested by {', '.join(self.blockers)}: blocked until they approve"
            )
        if self.stale:
            out.append(
                f"approvals of an older commit do not count: {', '.join(self.stale)} must "
                "approve the latest commit again"
            )
        for login, why in self.ignored:
            out.append(f"the approval of {login} does not count ({_WHY.get(why, why)})")
        return out


_WHY = {
    "requester": "the requester never approves their own request",
    "author": "the pull request author never counts",
    "not eligible": "not among the approvers this role names",
}


def latest_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Per reviewer (case-folded), the latest review that counts."""
    indexed = list(enumerate(reviews))
    indexed.sort(key=lambda iv: (iv[1].submitted_at is not None, iv[1].submitted_at or 0, iv[0]))
    latest: dict[str, Review] = {}
    for _i, review in indexed:
        if review.state.upper() in _COUNTED:
            latest[review.user.lower()] = review
    return latest


def _eligible(rule: ApprovalRule, login: str, teams: TeamLookup | None) -> bool:
    return any(p.matches(login, teams) for p in rule.principals)


def _match(
    rules: Sequence[ApprovalRule], people: Sequence[str], teams: TeamLookup | None
) -> dict[int, list[str]]:
    """Maximum matching of people to rule slots (each rule has ``count`` slots)."""
    slots = [i for i, r in enumerate(rules) for _ in range(r.count)]
    can = {p: [s for s, i in enumerate(slots) if _eligible(rules[i], p, teams)] for p in people}
    owner: dict[int, str] = {}

    def augment(person: str, seen: set[int]) -> bool:
        for s in can[person]:
            if s in seen:
                continue
            seen.add(s)
            if s not in owner or augment(owner[s], seen):
                owner[s] = person
                return True
        return False

    for person in sorted(people):
        augment(person, set())
    out: dict[int, list[str]] = {i: [] for i in range(len(rules))}
    for s, person in sorted(owner.items()):
        out[slots[s]].append(person)
    return out


def rules_met(
    rules: Sequence[ApprovalRule], people: Sequence[str], teams: TeamLookup | None
) -> tuple[bool, tuple[str, ...]]:
    """Whether ``people`` satisfy every rule, each person counting once (the same matching as
    :func:`evaluate`), and those the matching used (break-glass ratification)."""
    found = _match(rules, people, teams)
    used = tuple(p for i in sorted(found) for p in found[i])
    return all(len(found[i]) >= r.count for i, r in enumerate(rules)), used


def evaluate(
    grant: Grant,
    policy: Policy,
    *,
    author: str,
    head_sha: str,
    reviews: Sequence[Review],
    teams: TeamLookup | None,
    problems: Sequence[Problem] = (),
) -> Evaluation:
    """Judge a grant's pull request: approved, pending, blocked or invalid."""
    errors = [p for p in problems if p.severity == "error"]
    if not same_login(grant.requester, author):
        errors.append(
            Problem(
                grant.path,
                grant.line("requester"),
                f"requester {grant.requester} is not the pull request author {author}",
            )
        )
    role = policy.roles.get(grant.role)
    if errors or role is None:
        return Evaluation(Approval.INVALID, problems=tuple(errors or problems))

    cache: dict[tuple[str, str, str], bool] = {}

    def lookup(org: str, slug: str, login: str) -> bool:
        key = (org, slug, login.lower())
        if key not in cache:
            cache[key] = bool(teams(org, slug, login)) if teams else False
        return cache[key]

    team_lookup: TeamLookup | None = lookup if teams is not None else None
    rules = role.approvals
    approvers: list[str] = []
    stale: list[str] = []
    blockers: list[str] = []
    ignored: list[tuple[str, str]] = []
    for login, review in sorted(latest_reviews(reviews).items()):
        state = review.state.upper()
        shown = review.user
        if same_login(login, grant.requester) or same_login(login, author):
            if state == "APPROVED":
                who = "requester" if same_login(login, grant.requester) else "author"
                ignored.append((shown, who))
            continue
        eligible = any(_eligible(r, login, team_lookup) for r in rules)
        if state == "CHANGES_REQUESTED":
            if eligible:
                blockers.append(shown)
            continue
        if state != "APPROVED":
            continue
        if not eligible:
            ignored.append((shown, "not eligible"))
        elif review.commit_id != head_sha:
            stale.append(shown)
        else:
            approvers.append(shown)

    matched = _match(rules, approvers, team_lookup)
    results = tuple(
        RuleResult(
            rule,
            tuple(matched[i]),
            rule.count - len(matched[i]),
            tuple(a for a in approvers if _eligible(rule, a, team_lookup)),
        )
        for i, rule in enumerate(rules)
    )
    used = tuple(a for r in results for a in r.approved_by)
    if blockers:
        outcome = Approval.BLOCKED
    elif all(r.met for r in results):
        outcome = Approval.APPROVED
    else:
        outcome = Approval.PENDING
    return Evaluation(
        outcome,
        used,
        results,
        tuple(blockers),
        tuple(stale),
        tuple(ignored),
        tuple(problems),
    )
