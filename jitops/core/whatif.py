"""`jitops policy diff`: which grants a candidate policy would judge differently (pure).

Given the BASE policy, a CANDIDATE policy and plain facts about grants (the active ones and
the recent requests, whatever became of them), :func:`diff` judges every grant by both
policies with the engine that judges pull requests and the gate — :func:`checks.check_grant`
and :func:`approvals.evaluate`, never a copy — and returns each grant whose outcome changes,
with what changed: now over the maximum duration, role removed, requester no longer eligible,
ticket now required, approved -> pending (needs approvals it did not have, or from another
approver group), and the loosening counterparts.

**The approvals a grant got** are the ones jitops recorded (``Jitops-Approved-By`` of its
issue commit: the approvers the gate's matching used) or, when the caller read them, the pull
request's reviews. A request that was never issued has no recorded approvals.

**Team membership.** With a lookup (``teams``: GitHub, in `pr check` or with a token) every
question is answered. Without one (offline) nothing is guessed: each grant is judged twice,
once as if nobody were in any team and once as if everybody were in every team. When both
give the same outcome that is the outcome; otherwise the outcome is ``unverified`` (it
depends on team membership, not verified offline), and a grant whose role's approval rules
change is listed as such, never silently passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from jitops.core import approvals, checks
from jitops.core.approvals import Approval, Evaluation, Review
from jitops.core.duration import DurationError, format_duration, parse_duration
from jitops.core.grant import GRANT_SUFFIX, GRANTS_DIR, Grant
from jitops.core.policy import Policy, Role
from jitops.core.principals import TeamLookup
from jitops.errors import Problem

#: the head commit synthetic reviews are made on (recorded approvals count as current ones)
HEAD = "recorded"
UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Facts:
    """What is known about one grant, as plain values (None: unknown, e.g. its file as added
    could not be read). ``state``: what became of it — ``active``, ``expired``, ``revoked``,
    ``denied``, ``waiting`` (not judged yet), ``withdrawn`` (its pull request deleted it) or
    ``ended``. ``approved_by``: the approvers jitops recorded. ``reviews``: the pull request's
    reviews when the caller read them (with ``head_sha``, its head commit); they replace
    ``approved_by``."""

    grant_id: str
    requester: str | None
    role: str | None
    duration: str | None
    reason: str | None
    ticket: str | None = None
    state: str = "active"
    active: bool = False
    pull_request: int | None = None
    requested_at: datetime | None = None
    approved_by: tuple[str, ...] = ()
    reviews: tuple[Review, ...] | None = None
    head_sha: str = ""


@dataclass(frozen=True)
class Judgement:
    """One policy's verdict on one grant."""

    outcome: str  # approved | pending | blocked | invalid | unverified
    possible: tuple[str, ...]  # the outcomes team membership decides between (else outcome)
    problems: tuple[Problem, ...]  # check_grant's, errors and warnings
    evaluation: Evaluation | None  # the approval rule's verdict (the most favourable one)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(p.code for p in self.problems if p.code)

    def unmet(self) -> tuple[tuple[frozenset[str], int], ...]:
        """The approval rules not met: (principals, approvals missing)."""
        if self.evaluation is None or self.outcome == Approval.INVALID:
            return ()
        return tuple(
            (frozenset(str(p) for p in r.rule.principals), r.missing)
            for r in self.evaluation.rules
            if not r.met
        )


@dataclass(frozen=True)
class Change:
    """A grant the candidate judges differently: ``kinds`` (stable words, see :data:`KINDS`)
    and ``details`` (one sentence each, for people; they may quote what a requester wrote, so
    renderers make them inert)."""

    facts: Facts
    before: Judgement
    after: Judgement
    kinds: tuple[str, ...]
    details: tuple[str, ...]


@dataclass(frozen=True)
class Diff:
    changes: tuple[Change, ...]
    active: int  # active grants judged
    requests: int  # requests (not active) judged
    skipped: tuple[tuple[str, str], ...] = ()  # (grant id, why it could not be judged)
    teams_verified: bool = False


#: every kind a change can carry, in the order they are listed
KINDS = (
    "role-removed",
    "role-added",
    "over-max-duration",
    "within-max-duration",
    "ticket-required",
    "ticket-no-longer-required",
    "ticket-pattern",
    "ticket-pattern-passes",
    "requester-not-eligible",
    "requester-eligible",
    "requester-unverified",
    "free-text-refused",
    "free-text-allowed",
    "needs-approvals",  # more approvals from the groups it already needed
    "needs-other-approvers",  # approvals from a group the base did not ask for
    "blocked",
    "approved-now",
    "no-review-needed",
    "approvals-unverified",  # the approval rules change; team membership not verified offline
)

# check_grant's codes -> (the kind when the candidate adds it, the kind when it removes it)
_CODE_KINDS = {
    "unknown-role": ("role-removed", "role-added"),
    "over-max-duration": ("over-max-duration", "within-max-duration"),
    "ticket-required": ("ticket-required", "ticket-no-longer-required"),
    "ticket-pattern": ("ticket-pattern", "ticket-pattern-passes"),
    "requester-not-eligible": ("requester-not-eligible", "requester-eligible"),
    "requester-unverified": ("requester-unverified", ""),
    "free-text": ("free-text-refused", "free-text-allowed"),
}


def _nobody(_org: str, _slug: str, _login: str) -> bool:
    return False


def _everybody(_org: str, _slug: str, _login: str) -> bool:
    return True


def grant_of(f: Facts) -> Grant | str:
    """The grant the facts describe, or why it cannot be judged."""
    if f.requester is None or f.role is None or f.duration is None or f.reason is None:
        return "its file as added could not be read (requester, role, duration or reason)"
    try:
        duration = parse_duration(f.duration)
    except DurationError:
        return "its duration could not be read"
    return Grant(
        id=f.grant_id,
        path=f"{GRANTS_DIR}/{f.grant_id}{GRANT_SUFFIX}",
        requester=f.requester,
        role=f.role,
        duration=duration,
        duration_text=f.duration.strip(),
        reason=f.reason,
        ticket=f.ticket,
    )


#: evaluations already made in one diff: the approval rule's verdict on a valid grant depends
#: only on the policy, the role, the requester (who is the author) and the reviews
Memo = dict[tuple[object, ...], Evaluation]


def judge(
    f: Facts,
    grant: Grant,
    policy: Policy,
    teams: TeamLookup | None,
    memo: Memo | None = None,
) -> Judgement:
    """``policy``'s verdict on ``grant``: check_grant, then the approval rule on the approvals
    it got. Offline (``teams`` None) see the module doc."""
    problems = checks.check_grant(grant, policy, checks.GrantContext(is_new=False, teams=teams))
    reviews: Sequence[Review]
    if f.reviews is not None:
        reviews, head = f.reviews, f.head_sha
    else:
        reviews, head = [Review(login, "APPROVED", HEAD) for login in f.approved_by], HEAD
    valid = not any(p.severity == "error" for p in problems)

    def run(lookup: TeamLookup) -> Evaluation:
        key = (id(policy), lookup, grant.role, grant.requester.lower(), head, tuple(reviews))
        if memo is not None and valid and key in memo:
            return memo[key]  # its ``problems`` are another grant's warnings: never read here
        ev = approvals.evaluate(
            grant,
            policy,
            author=grant.requester,
            head_sha=head,
            reviews=reviews,
            teams=lookup,
            problems=problems,
        )
        if memo is not None and valid:
            memo[key] = ev
        return ev

    if teams is not None:
        ev = run(teams)
        return Judgement(ev.outcome, (ev.outcome,), tuple(problems), ev)
    low, high = run(_nobody), run(_everybody)
    if low.outcome == high.outcome:
        return Judgement(high.outcome, (high.outcome,), tuple(problems), high)
    possible = tuple(dict.fromkeys((high.outcome.value, low.outcome.value)))
    return Judgement(UNVERIFIED, possible, tuple(problems), high)


def _judged_alike(base: Policy, candidate: Policy, role: str) -> bool:
    """Both policies judge every grant of ``role`` alike: the same role (where it is written
    aside) and the same settings. A shortcut only: the verdicts depend on nothing else."""
    a, b = base.roles.get(role), candidate.roles.get(role)
    if (a is None) != (b is None) or base.settings != candidate.settings:
        return False
    return a is None or _bare(a) == _bare(b)  # type: ignore[arg-type]


def _bare(role: Role) -> Role:
    return replace(role, source="", line=0, description="")


def diff(
    base: Policy,
    candidate: Policy,
    facts: Sequence[Facts],
    teams: TeamLookup | None = None,
) -> Diff:
    """Every grant of ``facts`` the candidate judges differently from the base."""
    changes: list[Change] = []
    skipped: list[tuple[str, str]] = []
    active = requests = 0
    memo: Memo = {}
    alike: dict[str, bool] = {}
    for f in facts:
        grant = grant_of(f)
        if isinstance(grant, str):
            skipped.append((f.grant_id, grant))
            continue
        if f.active:
            active += 1
        else:
            requests += 1
        if grant.role not in alike:
            alike[grant.role] = _judged_alike(base, candidate, grant.role)
        if alike[grant.role]:
            continue
        before = judge(f, grant, base, teams, memo)
        after = judge(f, grant, candidate, teams, memo)
        change = compare(f, grant, base, candidate, before, after)
        if change is not None:
            changes.append(change)
    changes.sort(key=_order)
    return Diff(tuple(changes), active, requests, tuple(skipped), teams is not None)


def _order(c: Change) -> tuple[bool, float, str]:
    when = c.facts.requested_at.timestamp() if c.facts.requested_at else 0.0
    return (not c.facts.active, -when, c.facts.grant_id)


def compare(
    f: Facts,
    grant: Grant,
    base: Policy,
    candidate: Policy,
    before: Judgement,
    after: Judgement,
) -> Change | None:
    """The change between two verdicts on one grant (None: judged alike)."""
    kinds: list[str] = []
    details: list[str] = []
    added, removed = after.codes - before.codes, before.codes - after.codes
    for code, (on, off) in _CODE_KINDS.items():
        if code in added and on:
            kinds.append(on)
            details += _code_details(on, grant, candidate, after)
        if code in removed and off:
            kinds.append(off)
            details += _code_details(off, grant, candidate, before)
    if Approval.INVALID not in (before.outcome, after.outcome):
        kind = _approval_kind(before, after, base.roles.get(grant.role))
        if kind:
            kinds.append(kind)
            details += _approval_details(kind, f, base, candidate, grant.role, after)
    if not kinds and set(before.possible) == set(after.possible):
        return None
    if not kinds:  # the outcome changes for a reason none of the kinds names
        details.append(f"judged {_shown(before)} by the base, {_shown(after)} by the candidate")
    ordered = sorted(set(kinds), key=KINDS.index)
    return Change(f, before, after, tuple(ordered), tuple(dict.fromkeys(details)))


def _approval_kind(before: Judgement, after: Judgement, base_role: Role | None) -> str:
    if after.outcome == UNVERIFIED or before.outcome == UNVERIFIED:
        if after.outcome == Approval.PENDING and Approval.APPROVED in before.possible:
            pass  # decided pending now, could have been approved: said below
        elif after.outcome == Approval.APPROVED and before.outcome != Approval.APPROVED:
            return "no-review-needed" if not _rules(after) else "approved-now"
        elif _rules(before) != _rules(after) or set(before.possible) != set(after.possible):
            return "approvals-unverified"
        else:
            return ""
    if after.outcome == Approval.BLOCKED and before.outcome != Approval.BLOCKED:
        return "blocked"
    if after.outcome == Approval.APPROVED and before.outcome != Approval.APPROVED:
        return "no-review-needed" if not _rules(after) else "approved-now"
    if after.outcome == Approval.PENDING and (
        Approval.APPROVED in before.possible
        or (before.outcome == Approval.PENDING and set(after.unmet()) != set(before.unmet()))
    ):
        rules = base_role.approvals if base_role else ()
        known = {frozenset(str(p) for p in r.principals) for r in rules}
        if any(who not in known for who, _missing in after.unmet()):
            return "needs-other-approvers"
        return "needs-approvals"
    return ""


def _rules(j: Judgement) -> tuple[tuple[frozenset[str], int], ...]:
    if j.evaluation is None:
        return ()
    return tuple(
        (frozenset(str(p) for p in r.rule.principals), r.rule.count) for r in j.evaluation.rules
    )


def _shown(j: Judgement) -> str:
    if j.outcome == UNVERIFIED:
        return " or ".join(j.possible) + " (team membership not verified offline)"
    return str(j.outcome)


def _code_details(kind: str, grant: Grant, candidate: Policy, j: Judgement) -> list[str]:
    role = candidate.roles.get(grant.role)
    if kind == "role-removed":
        return [f"role {grant.role} is not defined in the candidate policy"]
    if kind == "role-added":
        return [f"role {grant.role} is defined in the candidate policy"]
    if role is None:
        return []
    most = format_duration(role.max_duration)
    if kind == "over-max-duration":
        return [f"{grant.duration_text} is over the candidate's {most} maximum of {role.name}"]
    if kind == "within-max-duration":
        return [f"{grant.duration_text} is within the candidate's {most} maximum of {role.name}"]
    if kind == "ticket-required":
        return [f"{role.name} requires a ticket in the candidate; this grant has none"]
    if kind == "ticket-no-longer-required":
        return [f"{role.name} no longer requires a ticket"]
    if kind == "ticket-pattern":
        pattern = candidate.settings.ticket_pattern
        return [f"the ticket does not match the candidate's ticket pattern {pattern!r}"]
    if kind == "ticket-pattern-passes":
        return ["the ticket matches the candidate's ticket pattern"]
    if kind == "requester-not-eligible":
        allowed = ", ".join(str(p) for p in role.requesters) or "nobody"
        return [
            f"{grant.requester} may not request {role.name} by the candidate (open to {allowed})"
        ]
    if kind == "requester-eligible":
        return [f"{grant.requester} may request {role.name} by the candidate"]
    if kind == "requester-unverified":
        teams = ", ".join(str(p) for p in role.requesters if p.kind == "team")
        return [
            f"{grant.requester} may request {role.name} by the candidate only as a member of "
            f"{teams}: not verified offline"
        ]
    # free text: the lint's own messages name the field and the kind, never the text
    return [p.message for p in j.problems if p.code == "free-text"]


def _approval_details(
    kind: str, f: Facts, base: Policy, candidate: Policy, role_name: str, after: Judgement
) -> list[str]:
    got = ", ".join(f.approved_by) if f.reviews is None else "its reviews"
    if kind == "no-review-needed":
        return [f"{role_name} needs no review in the candidate"]
    if kind == "approvals-unverified":
        old, new = base.roles.get(role_name), candidate.roles.get(role_name)
        return [
            f"approval rules of {role_name}: {_describe(old)} -> {_describe(new)}; approved "
            f"by {got or 'nobody recorded'}; team membership not verified offline (run it "
            "with a GitHub token to decide)"
        ]
    lines = after.evaluation.explain() if after.evaluation is not None else []
    if kind == "approved-now":
        return [f"approved by the candidate: {'; '.join(lines)}"]
    return [line for line in lines if not line.endswith("needs no review")]


def _describe(role: Role | None) -> str:
    if role is None:
        return "(no such role)"
    return "; ".join(r.describe() for r in role.approvals) or "no review"


__all__ = ["KINDS", "UNVERIFIED", "Change", "Diff", "Facts", "Judgement", "diff", "judge"]
