"""The issue gate (docs/design.md, *The gate, exactly*) as one pure decision.

:func:`decide_issue` takes plain data that `jitops issue` read from git and GitHub and returns
an :class:`IssueDecision`: issue, deny (naming the rule that failed) or ``failed`` (the gate
could not be decided; a later run retries, and after :data:`DEFAULT_GIVE_UP_AFTER` of waiting
the grant is denied with that reason). No git, no network, no Vault: every rule is a unit test.

The rules, in the order they are checked:

1. the commit that brought the file is part of a **merged** pull request whose base is the
   protected branch, and that pull request's merge landed on the branch's first-parent line;
2. the policy that judges is the branch's **as it was before that pull request landed** (the
   base tip the merge was made on, found by the caller from git; never a commit of the PR);
3. the pull request has the **grant shape**: it adds exactly this one ``grants/<id>.yaml`` and
   touches nothing else, and the file carries no ``status:``;
4. **what was reviewed is what is issued**: the file on the branch is byte-for-byte the file at
   the PR's head commit; approvals count only on that head commit and only when submitted
   strictly before ``merged_at`` (a review in the merge's own second does not count);
5. the approval rule (docs/design.md) holds, with team memberships read at evaluation time;
   time and risk (docs/time-and-risk.md) add to it: every matching ``risk`` entry's rules
   (judged at the merge), an extension's ``extend`` rule and chain, break-glass; a scheduled
   grant not due yet *waits*, and once due its requester is asked again of the policy now.

Before any of those, the file itself must be a valid grant (id rule, schema) and the requester
must have an SSH key age can seal to: all of it is known before a Vault token exists.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from jitops.core import approvals, checks, schedule
from jitops.core.approvals import Approval, Evaluation, Review
from jitops.core.extend import Link
from jitops.core.grant import GRANTS_DIR, Grant, format_time, read_grant
from jitops.core.judge import Judgement, judge
from jitops.core.policy import Policy, PolicyError, load_policy
from jitops.core.principals import Principal, TeamLookup, same_login
from jitops.errors import Problem

#: How long a grant may stay ``failed`` (its pull request cannot be determined) before it is
#: denied with that reason. Overridable per run (``jitops issue --give-up-after``).
DEFAULT_GIVE_UP_AFTER = timedelta(hours=24)


class Verdict(enum.Enum):
    """What the gate says about one grant."""

    ISSUE = "issue"
    DENY = "deny"
    FAILED = "failed"  # not decidable now (GitHub unreachable, PR not yet associated): retry
    WAIT = "wait"  # approved, scheduled (not_before) and not due yet: a later run issues it


class Rule(enum.Enum):
    """Which check decided a denial (or a failure); the value is what people read."""

    FILE = "the grant file"
    PULL_REQUEST = "gate rule 1 (a merged pull request into the branch)"
    POLICY = "gate rule 2 (the policy before the pull request landed)"
    SHAPE = "gate rule 3 (the pull request adds exactly this grant file)"
    REVIEWED = "gate rule 4 (what was reviewed is what is issued)"
    APPROVAL = "gate rule 5 (the approval rule)"
    DELIVERY = "delivery (the requester's SSH keys)"


@dataclass(frozen=True)
class PullFacts:
    """The pull request as GitHub reports it."""

    number: int
    author: str
    merged: bool
    base_ref: str
    head_sha: str
    merged_at: datetime | None
    merge_commit_sha: str | None
    commits: int | None = None  # the pull request's commit count (GitHub's ``commits``)


@dataclass(frozen=True)
class FileChange:
    """One entry of the pull request's file list (GitHub's ``diff-entry``)."""

    path: str
    status: str  # added | removed | modified | renamed | copied | changed | unchanged


@dataclass(frozen=True)
class IssueInputs:
    """Everything the gate looks at, already read.

    ``lookup_failure``: set when the pull request could not be determined (an error, or no
    pull request associated yet); the rest may then be missing. ``landed``: the PR's merge
    commit is on the branch's first-parent line and the commit that added the file is part of
    that landing (git). ``base_tip``/``base_policy_files``: the commit the merge was made on and
    the policy files there (None when git could not tell). ``used_ids``: every grant id in the
    history of ``grants/`` at ``base_tip``. ``waiting_since``: when the file reached the branch.
    """

    path: str
    main_file: bytes
    branch: str
    now: datetime
    waiting_since: datetime
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER
    lookup_failure: str | None = None
    pull: PullFacts | None = None
    landed: bool = False
    base_tip: str | None = None
    base_policy_files: Mapping[str, bytes] | None = None
    changes: Sequence[FileChange] = ()
    head_file: bytes | None = None
    reviews: Sequence[Review] = ()
    used_ids: frozenset[str] = frozenset()
    # the requester's keys age can seal to, and why the others cannot
    # (:func:`jitops.delivery.seal.sealable_keys` probes them)
    ssh_keys: Sequence[str] | None = None
    key_notes: Sequence[str] = ()
    # time and risk: jitops' own record of the grant ``extends`` names and its chain (read
    # for an extension); the policy on the branch now, from the run's tip (for a scheduled
    # grant: who may request is asked again when it is due; None: it does not load, and
    # ``current_policy_error`` says why)
    chain: Sequence[Link] | None = None
    current_policy: Policy | None = None
    current_policy_error: str | None = None


@dataclass(frozen=True, kw_only=True)
class IssueDecision:
    verdict: Verdict
    reason: str
    rule: Rule | None = None
    grant: Grant | None = None
    pull_request: int | None = None
    policy: Policy | None = None
    approvers: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # the requester's keys age can seal to (ISSUE only)
    evaluation: Evaluation | None = None
    notes: tuple[str, ...] = ()  # the matching risk entries and why; break-glass; extension

    @property
    def issues(self) -> bool:
        return self.verdict is Verdict.ISSUE


def read_grant_safely(data: bytes, path: str) -> tuple[Grant | None, list[Problem]]:
    """:func:`jitops.core.grant.read_grant` that never raises: a hostile file on main (a huge
    integer, a status block of the wrong types) becomes a problem of that file alone."""
    try:
        return read_grant(data, path)
    except Exception as exc:  # one unreadable file must never stop a run for everyone
        return None, [Problem(path, 0, f"the file cannot be read ({type(exc).__name__})")]


@dataclass(frozen=True)
class Judging:
    """What the gate knows about one grant so far: each rule passes it on, enriched, or stops
    with a decision. ``grant``, ``pull``, ``policy``, ``reviews`` and ``evaluation`` are set by
    the rules that establish them (:data:`ISSUE_RULES`, in order)."""

    inp: IssueInputs
    teams: TeamLookup | None = None
    grant: Grant | None = None
    pull: PullFacts | None = None
    policy: Policy | None = None
    reviews: tuple[Review, ...] = ()
    evaluation: Evaluation | None = None
    judgement: Judgement | None = None  # time and risk: what the approval rule judges against

    @property
    def pr(self) -> PullFacts:
        assert self.pull is not None, "a rule after the pull request is known"
        return self.pull

    def deny(
        self, rule: Rule, why: str, *, pull: bool = True, policy: bool = False
    ) -> IssueDecision:
        return _deny(
            rule, why, self.grant, self.pull if pull else None, self.policy if policy else None
        )


#: One gate rule: a decision (deny, failed, issue) that ends the judging, or what it learnt.
IssueRule = Callable[[Judging], "IssueDecision | Judging"]


def valid_file(j: Judging) -> IssueDecision | Judging:
    """The file on the branch is a valid grant (id rule, schema)."""
    grant, problems = read_grant_safely(j.inp.main_file, j.inp.path)
    errors = [p for p in problems if p.severity == "error"]
    if grant is None or errors:
        # the pull request, when known, so the requester is told where they look
        return _deny(
            Rule.FILE,
            f"the file on {j.inp.branch} is not a valid grant ({_first(errors)})",
            grant,
            j.inp.pull,
        )
    return replace(j, grant=grant)


def pull_request_known(j: Judging) -> IssueDecision | Judging:
    """Rule 1: nothing else can be judged without the pull request; not knowing it is
    ``failed`` (retried) until ``give_up_after``, then a deny."""
    inp = j.inp
    if inp.lookup_failure is None and inp.pull is not None:
        return replace(j, pull=inp.pull)
    why = inp.lookup_failure or "no pull request is associated with it yet"
    waited = inp.now - inp.waiting_since
    if waited >= inp.give_up_after:
        return j.deny(
            Rule.PULL_REQUEST,
            f"its pull request could not be determined for {_human(waited)} ({why}); open "
            "a new pull request with a new grant id",
        )
    return IssueDecision(
        verdict=Verdict.FAILED,
        reason=f"its pull request could not be determined ({why}); waiting since "
        f"{format_time(inp.waiting_since)} ({_human(waited)}), a later run retries; denied "
        f"after {_human(inp.give_up_after)}",
        rule=Rule.PULL_REQUEST,
        grant=j.grant,
    )


def merged(j: Judging) -> IssueDecision | Judging:
    """Rule 1: the pull request is merged."""
    if not j.pr.merged or j.pr.merged_at is None:
        return j.deny(Rule.PULL_REQUEST, f"pull request #{j.pr.number} is not merged")
    return j


def into_the_branch(j: Judging) -> IssueDecision | Judging:
    """Rule 1: into the protected branch."""
    pr, branch = j.pr, j.inp.branch
    if pr.base_ref != branch:
        return j.deny(
            Rule.PULL_REQUEST,
            f"pull request #{pr.number} was merged into {pr.base_ref!r}, not {branch!r}; "
            f"a grant reaches {branch} only through its own pull request",
        )
    return j


def landed(j: Judging) -> IssueDecision | Judging:
    """Rule 1: the commit that added the file is part of how the pull request landed."""
    if not j.inp.landed:
        return j.deny(
            Rule.PULL_REQUEST,
            f"the commit that added the file is not part of how pull request #{j.pr.number} "
            f"landed on {j.inp.branch}",
        )
    return j


def policy_before(j: Judging) -> IssueDecision | Judging:
    """Rule 2: the policy that judges is the branch's as it was before the pull request."""
    inp, pr = j.inp, j.pr
    if inp.base_tip is None or inp.base_policy_files is None:
        return j.deny(
            Rule.POLICY,
            f"the commit {inp.branch} had before pull request #{pr.number} landed cannot be found",
        )
    try:
        return replace(j, policy=load_policy(inp.base_policy_files))
    except PolicyError as exc:
        return j.deny(
            Rule.POLICY,
            f"the policy at {inp.base_tip[:12]} (before #{pr.number} landed) is invalid: "
            f"{_first(list(exc.problems))}",
        )


def grant_shape(j: Judging) -> IssueDecision | Judging:
    """Rule 3: the pull request adds exactly this grant file and touches nothing else."""
    shape = _shape_problem(j.inp.changes, j.inp.path)
    if shape is not None:
        return j.deny(Rule.SHAPE, f"pull request #{j.pr.number} {shape}")
    return j


def reviewed_is_issued(j: Judging) -> IssueDecision | Judging:
    """Rule 4: the file on the branch is byte for byte the file at the head commit."""
    inp, pr = j.inp, j.pr
    if inp.head_file is None or inp.head_file != inp.main_file:
        return j.deny(
            Rule.REVIEWED,
            f"the file on {inp.branch} differs from the file at the head commit of pull request "
            f"#{pr.number} ({pr.head_sha[:12]}), which is what was reviewed",
        )
    return j


def no_status(j: Judging) -> IssueDecision | Judging:
    """Rule 3, on the file the pull request added: it carries no status block."""
    assert j.grant is not None
    if j.grant.status is not None:
        return j.deny(
            Rule.SHAPE, f"pull request #{j.pr.number} wrote a status: block; only jitops writes it"
        )
    return j


def approved(j: Judging) -> IssueDecision | Judging:
    """Rule 5: the grant's own checks and the approval rule, under the policy that judges,
    counting only reviews submitted before the merge (staleness -- not on the head commit --
    is the approval rule's own business)."""
    inp, pr, grant, policy = j.inp, j.pr, j.grant, j.policy
    assert grant is not None
    assert policy is not None
    assert pr.merged_at is not None
    reviews = counted_before(inp.reviews, pr.merged_at)
    judged = j.judgement.policy if j.judgement is not None else policy
    ctx = checks.GrantContext(is_new=True, used_ids=inp.used_ids, author=pr.author, teams=j.teams)
    found = checks.check_grant(grant, judged, ctx)
    if j.judgement is not None:
        found += list(j.judgement.problems)
    evaluation = approvals.evaluate(
        grant,
        judged,
        author=pr.author,
        head_sha=pr.head_sha,
        reviews=reviews,
        teams=j.teams,
        problems=found,
    )
    why = "; ".join(evaluation.explain()) or evaluation.outcome
    if evaluation.outcome is Approval.INVALID:
        return j.deny(
            Rule.FILE,
            f"invalid under the policy {inp.branch} had before #{pr.number} landed ({why})",
            policy=True,
        )
    if evaluation.outcome is not Approval.APPROVED:
        counted = len([r for r in inp.reviews if r.submitted_at is not None])
        late = counted - len(reviews)
        if late:
            why += f"; {late} review(s) submitted at or after the merge do not count"
        return j.deny(Rule.APPROVAL, f"not approved at merge ({why})", policy=True)
    return replace(j, reviews=tuple(reviews), evaluation=evaluation)


def time_and_risk(j: Judging) -> IssueDecision | Judging:
    """Time and risk (docs/time-and-risk.md), before rule 5: every matching risk entry adds
    its rules (judged at the merge); an extension is judged by the role's ``extend`` and its
    chain as jitops recorded it now; an emergency grant by ``break_glass`` (no prior review,
    capped). What it finds, the approval rule reports."""
    assert j.grant is not None
    assert j.policy is not None
    assert j.pr.merged_at is not None
    judgement = judge(
        j.grant,
        j.policy,
        at=j.pr.merged_at,
        teams=j.teams,
        chain=j.inp.chain if j.inp.chain is not None else (),  # () reads as "not issued"
        chain_at=j.inp.now,  # the grant extended must be live, and the total fit, at issue
        request=False,
    )
    return replace(j, judgement=judgement)


def scheduled(j: Judging) -> IssueDecision | Judging:
    """Scheduled access: an approved grant not due yet waits (nothing issued, the file stays);
    once due, who may request it is asked again of the policy on the branch now (teams are read
    live anyway): someone who left since is denied."""
    grant = j.grant
    assert grant is not None
    if grant.not_before is None:
        return j
    if not schedule.due(grant.not_before, j.inp.now):
        return IssueDecision(
            verdict=Verdict.WAIT,
            reason=schedule.waiting(grant.not_before, j.inp.now),
            grant=grant,
            pull_request=j.pr.number,
            policy=j.policy,
            notes=_notes(j),
        )
    gone = _no_longer_eligible(grant, j.inp, j.teams)
    if gone is not None:
        return j.deny(Rule.APPROVAL, gone, policy=True)
    return j


def _notes(j: Judging) -> tuple[str, ...]:
    return tuple(j.judgement.notes()) if j.judgement is not None else ()


def _no_longer_eligible(grant: Grant, inp: IssueInputs, teams: TeamLookup | None) -> str | None:
    """Why a scheduled grant's requester may no longer have the role now it is due (None: they
    may): the role and its requesters as the policy on the branch says now, teams read now."""
    branch, now_policy = inp.branch, inp.current_policy
    if now_policy is None:
        why = inp.current_policy_error or "it cannot be read"
        return f"the policy on {branch} now is invalid ({why}); who may request it is unknown"
    role = now_policy.roles.get(grant.role)
    if role is None:
        return f"role {grant.role} is no longer in the policy on {branch}; nothing is issued"
    people = role.requesters
    if grant.emergency and role.break_glass is not None:
        people = role.break_glass.requesters
    if any(p.matches(grant.requester, teams) for p in people):
        return None
    return (
        f"{grant.requester} is no longer among the requesters of {grant.role} now it is due "
        f"({', '.join(str(p) for p in people)}, teams read now); request again if this is wrong"
    )


def sealable(j: Judging) -> IssueDecision | Judging:
    """Delivery: the requester has an SSH key age can seal to (known before a token exists)."""
    assert j.grant is not None
    if not j.inp.ssh_keys:
        notes = list(j.inp.key_notes)
        detail = "; ".join(notes) if notes else "no SSH key at all"
        return j.deny(
            Rule.DELIVERY,
            f"{j.grant.requester} has no ed25519 or RSA SSH key on GitHub that age can seal to "
            f"({detail}); add one at https://github.com/settings/keys and request again",
            policy=True,
        )
    return j


#: The gate, rule by rule, in the order they are checked (see the module doc): the first that
#: decides ends the judging; a grant that passes them all is issued.
ISSUE_RULES: tuple[IssueRule, ...] = (
    valid_file,
    pull_request_known,
    merged,
    into_the_branch,
    landed,
    policy_before,
    grant_shape,
    reviewed_is_issued,
    no_status,
    time_and_risk,
    approved,
    scheduled,
    sealable,
)


def decide_issue(inp: IssueInputs, teams: TeamLookup | None) -> IssueDecision:
    """Apply the gate to one unissued grant file on the branch (pure; see the module doc)."""
    j = Judging(inp, teams)
    for rule in ISSUE_RULES:
        step = rule(j)
        if isinstance(step, IssueDecision):
            return step
        j = step
    return _issued(j)


def _issued(j: Judging) -> IssueDecision:
    assert j.grant is not None
    assert j.evaluation is not None
    approvers = j.evaluation.approvers
    by = ", ".join(approvers) or "policy (no review needed)"
    if j.grant.emergency:
        by = "nobody: break-glass, issued without prior review"
    return IssueDecision(
        verdict=Verdict.ISSUE,
        reason=f"approved by {by}",
        grant=j.grant,
        pull_request=j.pr.number,
        policy=j.policy,
        approvers=tuple(approvers),
        keys=tuple(j.inp.ssh_keys or ()),
        evaluation=j.evaluation,
        notes=_notes(j),
    )


@dataclass(frozen=True)
class EndDecision:
    """Whether someone may end a grant before its expiry, and why (in words people read)."""

    allowed: bool
    reason: str
    approvers: tuple[str, ...] = ()
    who_may_approve: tuple[str, ...] = ()  # principals, as written in the policy


def enders(policy: Policy | None, role: str) -> tuple[Principal, ...]:
    """Who may end someone else's grant of ``role``: the role's approvers and the admins."""
    found: list[Principal] = list(policy.settings.admins) if policy else []
    if policy is not None and role in policy.roles:
        found += [p for rule in policy.roles[role].approvals for p in rule.principals]
    return tuple(dict.fromkeys(p for p in found if p.kind != "anyone"))


def may_end(
    actor: str, requester: str, policy: Policy | None, teams: TeamLookup | None
) -> EndDecision:
    """Whether ``actor`` may end ``requester``'s grant alone (`jitops revoke`): the requester
    ends their own access; anyone else must be one of the admins (``settings.admins``)."""
    if same_login(actor, requester):
        return EndDecision(True, f"{actor} ends their own access")
    admins = policy.settings.admins if policy else ()
    if any(p.matches(actor, teams) for p in admins):
        return EndDecision(True, f"{actor} is one of the admins", (actor,))
    named = ", ".join(str(p) for p in admins)
    who = f"the admins ({named})" if named else "the admins (settings.admins names none)"
    return EndDecision(
        False,
        f"{actor} may not end {requester}'s access: only {requester} or {who} may revoke it",
        who_may_approve=tuple(str(p) for p in admins),
    )


def decide_end(
    requester: str,
    role: str,
    policy: Policy | None,
    *,
    author: str,
    head_sha: str,
    reviews: Sequence[Review],
    merged_at: datetime | None,
    teams: TeamLookup | None,
) -> EndDecision:
    """Whether a pull request by ``author`` deleting ``requester``'s grant of ``role`` may end
    it (an early revoke). The requester ends their own access without review; anyone else needs
    an approval of the pull request's head commit from the role's approvers or the admins,
    submitted strictly before ``merged_at`` (None: the pull request is still open), by someone
    other than the author. ``policy``: the policy the branch had before the pull request."""
    if same_login(author, requester):
        return EndDecision(True, f"{requester} ended their own access")
    principals = enders(policy, role)
    counted = counted_before(reviews, merged_at) if merged_at is not None else list(reviews)
    approvers = tuple(
        r.user
        for login, r in sorted(approvals.latest_reviews(counted).items())
        if r.state.upper() == "APPROVED"
        and r.commit_id == head_sha
        and not same_login(login, author)
        and any(p.matches(login, teams) for p in principals)
    )
    shown = tuple(str(p) for p in principals)
    if approvers:
        return EndDecision(True, f"approved by {', '.join(approvers)}", approvers, shown)
    who = " or ".join(shown) or "the admins (settings.admins names none)"
    when = "before the merge" if merged_at is not None else "of its latest commit"
    return EndDecision(
        False,
        f"{author} is not {requester}: ending someone else's access needs an approval "
        f"{when} from {who}",
        (),
        shown,
    )


def counted_before(reviews: Sequence[Review], merged_at: datetime) -> list[Review]:
    """The reviews submitted strictly before ``merged_at``. GitHub's timestamps have one-second
    resolution, so a review stamped with the merge's own second may have come after it; a
    legitimate approval is always earlier (the approval status it needs comes from a workflow
    run of many seconds after the review)."""
    return [r for r in reviews if r.submitted_at is not None and r.submitted_at < merged_at]


def _shape_problem(changes: Sequence[FileChange], path: str) -> str | None:
    if not changes:
        return "changes no file"
    others = [c.path for c in changes if c.path != path]
    if others:
        shown = ", ".join(sorted(others)[:3]) + (" ..." if len(others) > 3 else "")
        return (
            f"also changes {shown}; a grant pull request adds exactly one {GRANTS_DIR}/<id>.yaml "
            "and touches nothing else"
        )
    if len(changes) != 1 or changes[0].status != "added":
        return f"does not add {path} (status {changes[0].status})"
    return None


def _deny(
    rule: Rule,
    why: str,
    grant: Grant | None = None,
    pr: PullFacts | None = None,
    policy: Policy | None = None,
) -> IssueDecision:
    return IssueDecision(
        verdict=Verdict.DENY,
        reason=f"{rule.value} failed: {why}",
        rule=rule,
        grant=grant,
        pull_request=pr.number if pr else None,
        policy=policy,
    )


def _first(problems: Sequence[Problem]) -> str:
    if not problems:
        return "unreadable"
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return " ".join(first.message.split()) + more


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


__all__ = [
    "DEFAULT_GIVE_UP_AFTER",
    "EndDecision",
    "FileChange",
    "IssueDecision",
    "IssueInputs",
    "PullFacts",
    "Rule",
    "Verdict",
    "counted_before",
    "decide_end",
    "decide_issue",
    "enders",
    "may_end",
    "read_grant_safely",
]
