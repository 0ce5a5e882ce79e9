"""The pull request decision (`jitops pr check` / `jitops pr approvals`), pure.

:func:`decide` takes what was read from git and GitHub and returns statuses, problems, the
sticky comment and whom to ask for review; :mod:`jitops.lifecycle.prcheck` reads and writes.

Note the trust model (docs/design.md, *The trust model*): a pull request's workflow runs the
PR's own files, so these statuses are a convenience for reviewers and branch protection. The gate is
`jitops issue` on main, which re-evaluates everything after the merge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jitops.core import approvals, checks, prcomment, whatif
from jitops.core.approvals import Evaluation, Review
from jitops.core.extend import Link
from jitops.core.gate import decide_end, enders
from jitops.core.grant import (
    GRANTS_DIR,
    Grant,
    grant_id_of,
    is_grant_path,
    read_grant,
)
from jitops.core.judge import judge
from jitops.core.policy import POLICY_DIR, Policy, PolicyError, load_policy
from jitops.core.principals import Principal, TeamLookup
from jitops.errors import Problem

MARKER = prcomment.MARKER


OTHER_SUMMARY = "changes no grant and no policy: nothing for jitops to check"
MERGE_GROUP_SUMMARY = "merge queue: each pull request was checked; the gate judges it on main"


@dataclass(frozen=True)
class Change:
    path: str
    status: str  # added | removed | modified | renamed | ...
    previous_path: str | None = None


@dataclass(frozen=True)
class PrInputs:
    number: int
    author: str
    head_sha: str
    changes: Sequence[Change]
    base_policy_files: Mapping[str, bytes]
    head_policy_files: Mapping[str, bytes]
    head_files: Mapping[str, bytes]  # grant files at head, by path
    base_files: Mapping[str, bytes]  # grant files at base, by path
    used_ids: frozenset[str]
    reviews: Sequence[Review]
    ssh_keys: Sequence[str] | None  # the requester's keys (None: not looked up)
    policy_tests: Sequence[str] = ()  # failures of the head policy's own tests
    now: datetime | None = None
    # a policy change: the active grants and the requests since ``whatif_since`` (the what-if)
    whatif_facts: Sequence[whatif.Facts] | None = None
    whatif_since: datetime | None = None
    created_at: datetime | None = None  # when the pull request was opened (risk tiers)
    chain: Sequence[Link] | None = None  # jitops' record of what ``extends`` names (git)


@dataclass(frozen=True)
class PrDecision:
    kind: str  # grant | revoke | policy | other | invalid
    validate: str  # success | failure
    approval: str  # success | pending | failure
    summary: str
    problems: tuple[Problem, ...] = ()
    grant: Grant | None = None
    evaluation: Evaluation | None = None
    request_users: tuple[str, ...] = ()
    request_teams: tuple[str, ...] = ()
    comment: str = field(default="", repr=False)


GRANTS_README = f"{GRANTS_DIR}/README.md"


def _is_grants_readme(c: Change) -> bool:
    return c.path == GRANTS_README and c.previous_path in (None, GRANTS_README)


def classify(changes: Sequence[Change]) -> tuple[str, list[Problem]]:
    """What kind of pull request this is, and shape problems (pure)."""
    touches_policy = [c for c in changes if c.path.startswith(f"{POLICY_DIR}/")]
    # grants/README.md is documentation (jitops init writes it), never a grant: a change to it
    # alone is an "other" pull request; with a grant file it is still "a grant pull request
    # may only add or delete grants/<id>.yaml files"
    touches_grants = [
        c for c in changes if c.path.startswith(f"{GRANTS_DIR}/") and not _is_grants_readme(c)
    ]
    if not touches_grants and not touches_policy:
        return "other", []
    if touches_grants:
        touches_grants = [c for c in changes if c.path.startswith(f"{GRANTS_DIR}/")]
    if touches_policy and touches_grants:
        return "invalid", [
            Problem(
                touches_grants[0].path,
                0,
                "a pull request that changes policies/ must not touch grants/ (a change could "
                "otherwise loosen the policy that judges it); split it into two pull requests",
            )
        ]
    if touches_policy:
        return "policy", []
    if not touches_grants:
        return "other", []  # nothing for jitops to judge: its statuses pass (never pending)
    problems = []
    for c in changes:
        if not is_grant_path(c.path):
            problems.append(
                Problem(
                    c.path,
                    0,
                    "a grant pull request may only add or delete grants/<id>.yaml files; move "
                    "this change to its own pull request",
                )
            )
        elif c.status in ("modified", "renamed", "changed", "copied"):
            problems.append(
                Problem(
                    c.path,
                    0,
                    "editing or renaming an existing grant is not allowed; ask again with a new "
                    "grant file (a new id)",
                )
            )
    added = [c for c in changes if c.status == "added" and is_grant_path(c.path)]
    removed = [c for c in changes if c.status == "removed" and is_grant_path(c.path)]
    if len(added) > 1:
        problems.append(
            Problem(added[1].path, 0, "one grant per pull request: open one pull request per grant")
        )
    if added and removed:
        problems.append(
            Problem(removed[0].path, 0, "do not add and delete grants in one pull request")
        )
    if problems:
        return "invalid", problems
    if added:
        return "grant", []
    if removed:
        return "revoke", []
    return "invalid", [Problem(GRANTS_DIR, 0, "this pull request changes no grant file")]


def decide(inp: PrInputs, teams: TeamLookup | None) -> PrDecision:
    kind, problems = classify(inp.changes)
    if kind == "policy":
        return _policy_change(inp, teams)
    if kind == "other":
        # A required jitops/* check must never sit pending on a pull request it has nothing
        # to say about (a README fix); the gate ignores such pull requests anyway.
        return PrDecision("other", "success", "success", OTHER_SUMMARY)
    try:
        policy = load_policy(inp.base_policy_files)
    except PolicyError as exc:
        return _finish(inp, "invalid", list(exc.problems), None, None, None)
    if kind == "invalid":
        return _finish(inp, kind, problems, None, None, policy)
    if kind == "revoke":
        return _revoke(inp, policy, teams)
    path = next(c.path for c in inp.changes if c.status == "added")
    grant, found = read_grant(inp.head_files.get(path, b""), path)
    problems = list(found)
    judged_policy, notes = policy, []
    if grant is not None:
        # -- time and risk: risk tiers judged at the pull request's creation; not_before,
        # -- extends and emergency checked (the gate judges the chain again at issue)
        at = inp.created_at or inp.now or _EPOCH
        judgement = judge(grant, policy, at=at, teams=teams, chain=inp.chain)
        judged_policy, notes = judgement.policy, judgement.notes()
        ctx = checks.GrantContext(
            is_new=True, used_ids=inp.used_ids, author=inp.author, teams=teams
        )
        problems += checks.check_grant(grant, judged_policy, ctx) + list(judgement.problems)
        if inp.ssh_keys is not None and grant.recipient is None:  # a recipient needs no key
            from jitops.core.sshkeys import usable_ssh_keys

            usable, key_notes = usable_ssh_keys(inp.ssh_keys)
            if not usable:
                why = "; ".join(key_notes) if key_notes else "there is no SSH key on the account"
                problems.append(
                    Problem(
                        path,
                        grant.line("requester"),
                        f"{grant.requester} has no ed25519 or RSA SSH key on GitHub ({why}); "
                        "the credential is sealed to those keys — add one at "
                        "https://github.com/settings/keys (`ssh-keygen -t ed25519`), then "
                        "re-run this check",
                    )
                )
    evaluation = None
    if grant is not None:
        evaluation = approvals.evaluate(
            grant,
            judged_policy,
            author=inp.author,
            head_sha=inp.head_sha,
            reviews=inp.reviews,
            teams=teams,
            problems=problems,
        )
    return _finish(inp, "grant", problems, grant, evaluation, policy, notes)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _revoke(inp: PrInputs, policy: Policy, teams: TeamLookup | None) -> PrDecision:
    """A pull request deleting grants: the requester ends their own access; anyone else needs
    an approval of the head commit from the role's approvers or the admins (the issue run
    checks it again after the merge and puts back what lacked it)."""
    problems = []
    lines = []
    waiting: list[str] = []
    principals: list[Principal] = []
    for c in inp.changes:
        data = inp.base_files.get(c.path)
        if data is None:
            problems.append(Problem(c.path, 0, "this grant does not exist on the base branch"))
            continue
        grant, _ = read_grant(data, c.path)
        who = f"{grant.requester}, {grant.role}" if grant else "unreadable file"
        line = f"- early revoke of `{grant_id_of(c.path)}` ({who})"
        if grant is not None:
            end = decide_end(
                grant.requester,
                grant.role,
                policy,
                author=inp.author,
                head_sha=inp.head_sha,
                reviews=inp.reviews,
                merged_at=None,
                teams=teams,
            )
            if end.allowed:
                line += f": {end.reason}"
            else:
                need = " or ".join(end.who_may_approve) or "the admins (settings.admins)"
                line += f": needs an approval from {need}"
                waiting.append(grant_id_of(c.path))
                principals += enders(policy, grant.role)
        lines.append(line)
    decision = _finish(inp, "revoke" if not problems else "invalid", problems, None, None, policy)
    if problems:
        return decision
    comment = prcomment.revoke_comment(lines)
    if not waiting:
        return PrDecision(
            "revoke",
            "success",
            "success",
            "early revoke: merge to end the access",
            (),
            comment=comment,
        )
    named = list(dict.fromkeys(principals))
    shown = " or ".join(str(p) for p in named) or "the admins (settings.admins)"
    return PrDecision(
        "revoke",
        "success",
        "pending",
        f"ending someone else's access needs an approval from {shown}",
        (),
        request_users=tuple(
            p.login for p in named if p.kind == "user" and p.login != inp.author.lower()
        ),
        request_teams=tuple(f"{p.login}/{p.slug}" for p in named if p.kind == "team"),
        comment=comment,
    )


def _policy_change(inp: PrInputs, teams: TeamLookup | None) -> PrDecision:
    problems: list[Problem] = []
    head: Policy | None = None
    try:
        head = load_policy(inp.head_policy_files)
    except PolicyError as exc:
        problems += exc.problems
    problems += [Problem(f"{POLICY_DIR}/tests", 0, f) for f in inp.policy_tests]
    ok = not problems
    summary = (
        "policy change: the new policy loads and its tests pass"
        if ok
        else ("policy change: the new policy is invalid or fails its tests")
    )
    comment = prcomment.policy_comment(problems, _whatif(inp, head, teams))
    state = "success" if ok else "failure"
    return PrDecision("policy", state, state, summary, tuple(problems), comment=comment)


def _whatif(inp: PrInputs, head: Policy | None, teams: TeamLookup | None) -> str:
    """The what-if section: the grants the head policy judges differently from the base."""
    if head is None or inp.whatif_facts is None or inp.whatif_since is None:
        return ""
    try:
        base = load_policy(inp.base_policy_files)
    except PolicyError:
        return ""  # nothing judged by an invalid base: the comment says what the head needs
    found = whatif.diff(base, head, inp.whatif_facts, teams)
    return prcomment.whatif_section(found, inp.whatif_since)


def _finish(
    inp: PrInputs,
    kind: str,
    problems: list[Problem],
    grant: Grant | None,
    evaluation: Evaluation | None,
    policy: Policy | None,
    notes: Sequence[str] = (),
) -> PrDecision:
    errors = [p for p in problems if p.severity == "error"]
    validate = "failure" if errors or kind == "invalid" else "success"
    outcome = evaluation.outcome if evaluation else "invalid"
    approval = {"approved": "success", "pending": "pending"}.get(outcome, "failure")
    if validate == "failure":
        approval = "failure"
    users: list[str] = []
    teams: list[str] = []
    if evaluation is not None and outcome == "pending":
        for rule in evaluation.rules:
            if rule.met:
                continue
            for p in rule.rule.principals:
                if p.kind == "user" and p.login != inp.author.lower():
                    users.append(p.login)
                elif p.kind == "team":
                    teams.append(f"{p.login}/{p.slug}")
    summary = {
        "success": "approved: merge to get access",
        "pending": "valid; waiting for approvals",
        "failure": "blocked" if outcome == "blocked" and validate == "success" else "invalid",
    }[approval]
    comment = prcomment.grant_comment(grant, evaluation, errors, policy, summary, inp.now, notes)
    return PrDecision(
        kind,
        validate,
        approval,
        summary,
        tuple(problems),
        grant,
        evaluation,
        tuple(dict.fromkeys(users)),
        tuple(dict.fromkeys(teams)),
        comment,
    )
