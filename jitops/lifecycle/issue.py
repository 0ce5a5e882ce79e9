"""`jitops issue`: turn grants merged to main into Vault access, or deny them.

Fetch -> decide -> act, one grant at a time (one bad file never stops the others):

* **fetch** (:mod:`jitops.lifecycle.landing`): for every grant file at the tip of main that
  jitops has not issued, find from git the commit that added it on main's first-parent line,
  the merged pull request it belongs to (API), the base tip that merge was made on (git, for
  merge, squash and rebase merges), the policy there, the PR's files, head file, reviews, the
  requester's SSH keys;
* **decide**: :func:`jitops.core.gate.decide_issue` (pure);
* **act**: deny (remove the file, comment with inert values), leave ``failed`` (retried by the
  next run and by the sweep), or issue with **record before deliver**: create the token, push
  the status block naming its accessor, and only then post the sealed delivery.

A recorded grant whose delivery never got posted (the run died between the push and the
comment) is re-issued by the next run: its old token is revoked by accessor first. Vault's
tokens are never listed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from jitops.core import plan
from jitops.core.breakglass import ratify_note
from jitops.core.commits import PlannedCommit
from jitops.core.gate import (
    IssueDecision,
    IssueInputs,
    Rule,
    Verdict,
    decide_issue,
    read_grant_safely,
)
from jitops.core.grant import (
    Grant,
    format_time,
    grant_id_of,
    grant_path,
    is_grant_path,
    shown_id,
    valid_id,
)
from jitops.core.policy import Policy
from jitops.core.record import Facts, Move, Token, decide, due_for_lookup
from jitops.core.tip import GrantFile, Tip
from jitops.delivery import seal as deliver
from jitops.delivery.comment import (
    deny_comment,
    deny_together_comment,
    ended_comment,
    render_delivery_comment,
    time_and_risk_lines,
)
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.ending import Ending, tell, token_note
from jitops.lifecycle.landing import (
    OwnRecord,
    gate_inputs,
    own_record,
    recent_undelivered,
    recorded_accessor,
)
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.revoke import early_revokes
from jitops.lifecycle.services import Services, log, read_tip, tip_policy_or_none


def run_issue(
    svc: Services,
    *,
    before: str | None = None,
    after: str | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Issue or deny every unissued grant at the tip of main and record every early revoke
    not yet recorded (not only the pushed range ``before..after``, kept for the workflow's
    event: a burst of merges whose runs a concurrency group cancelled loses nothing)."""
    now = now or datetime.now(UTC)
    svc.git.fetch(svc.remote, svc.branch)
    tip = read_tip(svc)
    outcomes = issue_pending(svc, tip, now=now)
    if not outcomes:
        svc.say("no grant is waiting to be issued")
    outcomes += redeliver(svc, tip, now=now, skip=frozenset(o.grant for o in outcomes))
    outcomes += early_revokes(svc, tip, now=now)
    outcomes += time_and_risk_runs(svc, tip, now)  # time and risk: see the function
    return outcomes


def time_and_risk_runs(svc: Services, tip: Tip, now: datetime) -> list[Outcome]:
    """What every issue and sweep run finishes (time and risk): an extension's old grant still
    live after a run died between delivering its replacement and ending it; emergency grants
    whose ratification window has an answer (ratified, or revoked and recorded unratified)."""
    from jitops.lifecycle.extension import finish_extensions
    from jitops.lifecycle.ratify import ratifications

    return finish_extensions(svc, tip, now) + ratifications(svc, tip, now)


@dataclass(frozen=True)
class Pending:
    """A grant file at the tip on which jitops' record does not simply stand, and what to do."""

    path: str
    move: Move
    why: str
    found: OwnRecord | None
    data: bytes = b""  # the file as classified


def pending_files(
    svc: Services, tip: Tip, now: datetime, *, check_vault: bool = True
) -> list[Pending]:
    """Grant files at the tip on which jitops' record does not simply stand: files jitops has
    no record of (the gate judges them) and files that differ from its record (restored or
    ended). ``check_vault``: ask Vault about the recorded token where the decision needs it:
    every file that differs from the record, and of the files that are jitops' record with an
    unexpired token, the few :func:`jitops.core.record.due_for_lookup` picks for this run (an
    admin may have ended the token in Vault); False (a dry run): Vault is not asked, and a file
    that differs is listed as needing its word. A file whose record cannot be read now waits
    (reported as failed)."""
    read: list[tuple[GrantFile, Move, str, OwnRecord | None]] = []
    for f in tip.files:
        try:
            found = _record_of(svc, f, now)
            move, why = (
                _no_record(f.path)
                if found is None
                else _by_facts(svc, tip, f, found, now, check_vault=check_vault, look=False)
            )
        except JitopsError as exc:  # undecided: reported as failed, the next run asks again
            log.warning("could not read jitops' record of %s: %s", shown_id(f.path), exc)
            move, why, found = Move.WAIT, str(exc), None
        read.append((f, move, why, found))
    if check_vault:
        # the files that are jitops' record stand unasked, but for a few per run (a rotation)
        ready = {
            found.entry.grant: n
            for n, (f, move, _, found) in enumerate(read)
            if move is Move.KEEP and found is not None and _lookup_due(f, found, now)
        }
        for gid in sorted(due_for_lookup(ready, now)):
            f, _, _, found = read[ready[gid]]
            assert found is not None
            try:
                move, why = _by_facts(svc, tip, f, found, now, check_vault=True, look=True)
            except JitopsError as exc:
                log.warning("could not check the recorded token of %s: %s", gid, exc)
                move, why = Move.WAIT, str(exc)
            read[ready[gid]] = (f, move, why, found)
    return [
        Pending(f.path, move, why, found, f.data)
        for f, move, why, found in read
        if move is not Move.KEEP
    ]


def unissued_paths(
    svc: Services, tip: Tip, now: datetime, *, check_vault: bool = True
) -> list[str]:
    """The paths of :func:`pending_files`."""
    return [p.path for p in pending_files(svc, tip, now, check_vault=check_vault)]


def record_facts(f: GrantFile, found: OwnRecord, now: datetime, *, check_vault: bool) -> Facts:
    """What :func:`jitops.core.record.decide` weighs about the file ``f`` at the tip and
    jitops' own record ``found`` of its id (pure)."""
    status = found.grant.status if found.grant else None
    return Facts(
        action=found.entry.action,
        matches=found.file is not None and found.file == f.data,
        readable=f.grant is not None,
        expires_at=status.expires_at if status else None,
        now=now,
        check_vault=check_vault,
    )


def _lookup_due(f: GrantFile, found: OwnRecord, now: datetime) -> bool:
    """Whether the file ``f`` is jitops' record ``found`` and its decision would ask Vault
    (an issued, unexpired token): one of the files the rotation looks at (pure)."""
    return decide(record_facts(f, found, now, check_vault=True))[0] is Move.ASK_VAULT


def classify(
    svc: Services, tip: Tip, f: GrantFile, now: datetime, *, check_vault: bool = True
) -> tuple[Move, str, OwnRecord | None]:
    """What to do with the grant file ``f`` at the tip, decided by jitops' own record of its
    id (:func:`jitops.core.record.decide`); Vault and GitHub are asked only when the decision
    needs them (``check_vault``: Vault may be asked, about this file's token whatever it is)."""
    found = _record_of(svc, f, now)
    if found is None:
        return (*_no_record(f.path), None)
    return (*_by_facts(svc, tip, f, found, now, check_vault=check_vault, look=True), found)


def _no_record(path: str) -> tuple[Move, str]:
    gid = grant_id_of(path)
    if path != grant_path(gid) or not valid_id(gid):
        return Move.GATE, "no valid grant id"
    return Move.GATE, "jitops has no record of this grant"


def _record_of(svc: Services, f: GrantFile, now: datetime) -> OwnRecord | None:
    """jitops' own record of the id of ``f`` (None: none, or no valid id). When the record
    would remove, restore or end what is on main, each commit it rests on is checked with
    GitHub, however old (a writer can plant one long before the request)."""
    gid = grant_id_of(f.path)
    if f.path != grant_path(gid) or not valid_id(gid):
        return None
    found = own_record(svc, gid, now)
    if found is not None and not (found.entry.action == "issue" and found.file == f.data):
        found = own_record(svc, gid, now, always_ask=True)
    return found


def _by_facts(
    svc: Services,
    tip: Tip,
    f: GrantFile,
    found: OwnRecord,
    now: datetime,
    *,
    check_vault: bool,
    look: bool,
) -> tuple[Move, str]:
    """The move for ``f`` given jitops' record ``found``. ``check_vault``: Vault may be asked;
    ``look``: ... about a file that is jitops' record too (the rotation picked it)."""
    gid = found.entry.grant
    facts = record_facts(f, found, now, check_vault=check_vault and look)
    move, why = decide(facts)
    if move is Move.ASK_VAULT:
        if not check_vault:
            return move, "the file differs from jitops' record"
        facts = replace(facts, token=_token_state(svc, tip, found), clock=svc.clock())
        move, why = decide(facts)
    if move is Move.ASK_ORIGIN:
        assert found.issue_sha is not None
        try:
            in_pr = bool(svc.github.pulls_for_commit(found.issue_sha))
        except JitopsError as exc:  # not re-judged now; the next run asks again
            log.warning("could not check who wrote the status of %s: %s", gid, exc)
            return Move.KEEP, "GitHub did not answer"
        move, why = decide(replace(facts, in_pull_request=in_pr))
    return move, why


def _token_state(svc: Services, tip: Tip, found: OwnRecord) -> Token:
    """Vault's word on the token jitops' issue commit recorded."""
    accessor = found.accessor
    if not accessor or found.grant is None:
        return Token.GONE
    try:
        token = svc.vault(tip.last_good_policy()).lookup_accessor(accessor)
    except JitopsError as exc:
        log.warning("could not look up the recorded token of %s: %s", found.entry.grant, exc)
        return Token.UNKNOWN
    if token is None:
        return Token.GONE
    grant = found.grant
    ours = svc.is_ours(token, grant.id, requester=grant.requester, role=grant.role)
    return Token.LIVE if ours else Token.FOREIGN


#: At most this many grant files are judged by one run (a pull request denied as a whole
#: counts once): the issue and expiry of everyone else never wait long behind one burst. A run
#: that stops early says so; the next run (the next push, or the sweep) continues.
MAX_GRANTS_PER_RUN = 25


def issue_pending(
    svc: Services,
    tip: Tip,
    *,
    now: datetime,
    limit: int | None = None,
    pending: list[Pending] | None = None,
) -> list[Outcome]:
    """Judge every grant file at the tip on which jitops' record does not stand, at most
    ``limit`` (default :data:`MAX_GRANTS_PER_RUN`) of them; the rest are reported as left for
    the next run. ``pending``: :func:`pending_files` of this run, when the caller read it."""
    limit = MAX_GRANTS_PER_RUN if limit is None else limit
    outcomes: list[Outcome] = []
    if pending is None:
        pending = pending_files(svc, tip, now)
    # a file that can only be flagged stays on main until an admin removes it: judged last, so
    # however many a writer merges they never use the budget of the grants behind them
    pending = sorted(pending, key=lambda p: _only_flagged(tip, p.path))
    gated = [p.path for p in pending if p.move is Move.GATE]
    done: set[str] = set()
    judged = 0
    for item in pending:
        path = item.path
        if path in done:
            continue  # denied with its pull request's other files
        shown = shown_id(path)
        if judged >= limit:
            left = [p.path for p in pending if p.path not in done]
            svc.say(
                f"stopped after judging {judged} grant file(s) (at most {limit} per run); "
                f"{len(left)} left for the next run"
            )
            outcomes += [
                Outcome(
                    shown_id(p),
                    Action.SKIPPED,
                    f"not judged in this run (at most {limit} grant files per run); the next "
                    "run continues",
                )
                for p in left
            ]
            break
        judged += 1
        done.add(path)
        try:
            if item.move is Move.GATE and svc.git.show(svc.tip, path) != item.data:
                # another run changed it since this run listed it (issued it, say): what is
                # there now is judged by its record on the next run, never by the gate now
                outcomes.append(Outcome(shown, Action.SKIPPED, "changed by another run meanwhile"))
            elif item.move is Move.GATE:
                found = _one(svc, tip, path, now, [p for p in gated if p not in done])
                done.update(p for p in found if p != path)
                outcomes += found.values()
            elif item.move is Move.WAIT:
                outcomes.append(Outcome(shown, Action.FAILED, item.why))
            else:
                assert item.found is not None
                outcomes.append(_by_record(svc, tip, item.move, item.why, item.found, now))
        except JitopsError as exc:  # this grant only; the next run retries it
            log.error("issue of %s failed: %s", shown, exc)
            outcomes.append(Outcome(shown, Action.FAILED, str(exc)))
        except Exception as exc:  # a bug on one grant must not stop the others' issue or expiry
            log.exception("issue of %s failed unexpectedly", shown)
            outcomes.append(
                Outcome(
                    shown, Action.FAILED, f"unexpected {type(exc).__name__}; report it as a bug"
                )
            )
    return outcomes


# -- a grant jitops already decided: its record is put back, or the grant ended ----------------
def _by_record(
    svc: Services, tip: Tip, move: Move, why: str, found: OwnRecord, now: datetime
) -> Outcome:
    gid = found.entry.grant
    path = grant_path(gid)
    grant = found.grant
    pr = found.entry.pull_request
    if move is Move.RESTORE:
        assert grant is not None
        assert found.file is not None
        assert found.issue_sha is not None
        data = found.file
        (told,) = tell(
            svc,
            [
                Ending(
                    outcome=Outcome(gid, Action.RESTORED, why, pr),
                    commit=plan.restore_commit(grant, data, why),
                    path=path,
                    applies=lambda there: there is not None and there != data,
                    skipped="changed or removed by another run meanwhile",
                )
            ],
        )
        return told
    # END or REMOVE: the recorded token (if live and this grant's) is revoked first
    policy = tip.last_good_policy()
    note = "No token had been issued."
    if found.accessor:
        note = token_note(svc.revoke_grant_token(policy, found.accessor, gid), named_by="record")
    if move is Move.END and grant is not None:
        commit = plan.revoke_commit(grant, why, note, remove=True)
        action = Action.REVOKED
    else:
        commit = plan.removal_commit(found.entry, why, note)
        action = Action.DENIED if found.entry.action == "deny" else Action.REVOKED
    (told,) = tell(
        svc,
        [
            Ending(
                outcome=Outcome(gid, action, f"{why}. {note}", pr),
                commit=commit,
                path=path,
                skipped="removed meanwhile",
                comment=ended_comment(grant, why, note)
                if move is Move.END and grant is not None
                else None,
                comment_on=pr,
                event=svc.event("revoked", grant, now, reason=why) if grant else None,
                policy=lambda: policy,
            )
        ],
    )
    return told


def _one(
    svc: Services, tip: Tip, path: str, now: datetime, pending: list[str]
) -> dict[str, Outcome]:
    """Judge ``path``; a pull request denied as a whole (the grant shape: it adds several
    grant files) takes its other files still ``pending`` with it, in one push and one comment.
    Returns the outcome of each path handled."""
    inputs = _time_and_risk_inputs(svc, tip, gate_inputs(svc, path, now), now)
    decision = decide_issue(inputs, svc.github.is_team_member)
    if decision.verdict is Verdict.FAILED:
        return {
            path: Outcome(shown_id(path), Action.FAILED, decision.reason, decision.pull_request)
        }
    if decision.verdict is Verdict.WAIT:  # scheduled, not due yet -> wait (file stays)
        return {
            path: Outcome(shown_id(path), Action.WAITING, decision.reason, decision.pull_request)
        }
    if decision.verdict is Verdict.DENY:
        mates = _same_pull_request(svc, inputs, decision, pending)
        if mates:
            return _deny_together(svc, tip, [path, *mates], decision, now)
        return {path: _deny(svc, tip, path, decision, now, judged=inputs.main_file)}
    return {path: _issue(svc, tip, decision, now)}


def _time_and_risk_inputs(
    svc: Services, tip: Tip, inputs: IssueInputs, now: datetime
) -> IssueInputs:
    """Time and risk: an extension's chain as jitops recorded it; for a scheduled grant, the
    policy on main now (who may request it is asked again when it is due)."""
    from jitops.lifecycle.extension import read_chain

    grant, _ = read_grant_safely(inputs.main_file, inputs.path)
    if grant is None or inputs.pull is None or not inputs.landed:
        return inputs
    try:
        chain = tuple(read_chain(svc, tip, grant.extends, now)) if grant.extends else None
    except JitopsError as exc:  # uncertain, never a deny: the next run asks again
        return replace(inputs, lookup_failure=str(exc))
    if grant.not_before is None:
        return replace(inputs, chain=chain)
    why = (
        None
        if tip.policy_error is None
        else "; ".join(p.message for p in tip.policy_error.problems[:1])
    )
    return replace(inputs, chain=chain, current_policy=tip.policy, current_policy_error=why)


def _same_pull_request(
    svc: Services, inputs: IssueInputs, decision: IssueDecision, pending: list[str]
) -> list[str]:
    """The other grant files still ``pending`` that the pull request ``decision`` denies by its
    shape added in the same landing (the same commit on main, or -- a rebase merge -- one GitHub
    associates with that pull request)."""
    if decision.rule is not Rule.SHAPE or inputs.pull is None or not inputs.landed:
        return []
    number = inputs.pull.number
    added = {c.path for c in inputs.changes if c.status == "added" and is_grant_path(c.path)}
    first = svc.git.last_commit_adding(svc.tip, inputs.path)
    ours: dict[str, bool] = {}
    out = []
    for other in pending:
        if other not in added:
            continue
        sha = svc.git.last_commit_adding(svc.tip, other)
        if sha is None:
            continue
        if sha not in ours:
            ours[sha] = sha == first or number in svc.github.pulls_for_commit(sha)
        if ours[sha]:
            out.append(other)
    return out


def _deny_together(
    svc: Services, tip: Tip, paths: list[str], decision: IssueDecision, now: datetime
) -> dict[str, Outcome]:
    """Deny every file of ``paths`` for ``decision`` (one pull request, denied as a whole): one
    ``deny`` commit per grant (the ledger's rule: one grant per commit), all in one push, and
    one comment. A file that cannot be recorded is flagged, as :func:`_deny` does."""
    pr = decision.pull_request
    out: dict[str, Outcome] = {}
    commits: dict[str, PlannedCommit] = {}
    grants: dict[str, Grant] = {}
    judged: dict[str, bytes | None] = {}
    for path in paths:
        at_tip = tip.file(path)
        judged[path] = at_tip.data if at_tip else None
        grant = at_tip.grant if at_tip else None
        if grant is None or not _ledger_safe(grant, path):
            _revoke_recorded(svc, tip, path, decision, now)
            out[path] = Outcome(
                shown_id(path),
                Action.FLAGGED,
                f"{decision.reason}; the file cannot be recorded as denied (its values fail "
                "validation): an admin must remove it",
                pr,
            )
            continue
        grants[path] = grant
        commits[path] = plan.deny_commit(grant, pr, decision.reason)

    policy = _once(lambda: decision.policy or tip_policy_or_none(tip, svc.branch))
    shown = list(grants.values())
    endings = [
        Ending(
            outcome=Outcome(grant.id, Action.DENIED, decision.reason, pr),
            commit=commits[path],
            path=path,
            # only a file still exactly as judged: another run may have issued or removed it
            applies=_as_judged(judged[path]),
            skipped="changed or removed meanwhile",
            # one comment for the pull request, posted with its first grant's end
            comment=deny_together_comment(shown, decision.reason) if n == 0 else None,
            comment_on=pr,
            event=svc.event("denied", grant, now, pull_request=pr, reason=decision.reason),
            policy=policy,
        )
        for n, (path, grant) in enumerate(grants.items())
    ]
    out.update(zip(grants, tell(svc, endings), strict=True))
    for path in grants:
        if out[path].action is Action.DENIED:
            _revoke_recorded(svc, tip, path, decision, now)
    return out


def _once(get: Callable[[], Policy | None]) -> Callable[[], Policy | None]:
    """``get``, asked at most once (the tip's invalid policy is logged once per pull request)."""
    return functools.cache(get)


# -- deny ------------------------------------------------------------------------------------
def _ledger_safe(grant: Grant | None, path: str) -> bool:
    """Whether a deny can be recorded: the id names the commit and its file. Everything else
    a requester wrote is safe there (trailers carry only values that pass their rule, the
    message body is one inert line, the comment renders it as code spans)."""
    return grant is not None and path == grant_path(grant.id) and valid_id(grant.id)


def _only_flagged(tip: Tip, path: str) -> bool:
    """Whether nothing about the file at ``path`` can be recorded (it is not a readable grant
    named by its id): the gate can only flag it, and it stays on main for an admin."""
    f = tip.file(path)
    return not _ledger_safe(f.grant if f else None, path)


def _revoke_recorded(
    svc: Services, tip: Tip, path: str, decision: IssueDecision, now: datetime
) -> None:
    """A denied file under a name jitops had issued under: the token jitops recorded ends (so
    no live token is ever left behind a deny). Read after the deny landed, from the history it
    landed on: never a token another run issued while this one judged (that run's file is
    still on main then, and nothing is revoked)."""
    if svc.git.show(svc.tip, path) is not None:
        return
    issued = recorded_accessor(svc, path, now)
    if issued is not None:
        svc.revoke_grant_token(decision.policy or tip.last_good_policy(), issued, grant_id_of(path))


def _as_judged(judged: bytes | None) -> Callable[[bytes | None], bool]:
    """:attr:`Ending.applies` for a deny: only while main holds exactly the file the gate
    judged (another run may have issued it, or removed it, meanwhile)."""
    return lambda there: there is not None and there == judged


def _deny(
    svc: Services, tip: Tip, path: str, decision: IssueDecision, now: datetime, *, judged: bytes
) -> Outcome:
    """Deny ``path`` (exactly the bytes ``judged``): remove it with a ``deny`` commit, comment,
    notify. When another run changed or removed the file meanwhile (it issued it, say), nothing
    is denied: the next run judges what is there."""
    grant = decision.grant
    if grant is None or not _ledger_safe(grant, path):
        _revoke_recorded(svc, tip, path, decision, now)
        # nothing in this file can be written to git safely: an admin removes it by hand
        return Outcome(
            shown_id(path),
            Action.FLAGGED,
            f"{decision.reason}; the file cannot be recorded as denied (its values fail "
            "validation): an admin must remove it",
            decision.pull_request,
        )
    pr = decision.pull_request
    (told,) = tell(
        svc,
        [
            Ending(
                outcome=Outcome(grant.id, Action.DENIED, decision.reason, pr),
                commit=plan.deny_commit(grant, pr, decision.reason),
                path=path,
                applies=_as_judged(judged),
                skipped="changed or removed meanwhile",
                comment=deny_comment(grant, decision.reason),
                comment_on=pr,
                event=svc.event("denied", grant, now, pull_request=pr, reason=decision.reason),
                policy=lambda: decision.policy or tip_policy_or_none(tip, svc.branch),
            )
        ],
    )
    if told.action is Action.DENIED:
        _revoke_recorded(svc, tip, path, decision, now)
    return told


# -- issue: record before deliver --------------------------------------------------------------
def _issue(
    svc: Services,
    tip: Tip,
    decision: IssueDecision,
    now: datetime,
    *,
    replaces: str | None = None,
    until: datetime | None = None,
    replaces_delivery: str | None = None,
) -> Outcome:
    grant, policy, pr = decision.grant, decision.policy, decision.pull_request
    assert grant is not None
    assert policy is not None
    role = policy.roles[grant.role]
    vault = svc.vault(policy)
    duration = grant.duration
    # -- emergency: no prior review, capped at break_glass.max_duration; ratify by a deadline
    bg = role.break_glass if grant.emergency else None
    if bg is not None:
        duration = min(duration, bg.max_duration)
    if replaces is not None:
        svc.revoke_grant_token(policy, replaces, grant.id)
        if replaces_delivery:  # the unclaimed delivery it replaces can no longer be opened
            vault.revoke_accessor(replaces_delivery)
        if until is not None:  # a re-issue never extends the access that was approved
            left = timedelta(seconds=int((until - now).total_seconds()))
            duration = min(duration, max(left, timedelta(minutes=1)))
    issued = vault.issue(
        grant_id=grant.id,
        requester=grant.requester,
        role=role,
        duration=duration,
        pull_request=pr,
        wrap_ttl=policy.settings.wrap_ttl,
        token_role=policy.settings.vault.token_role,
        repository=svc.repository,
        repository_id=svc.repository_id,
    )
    # when Vault started the token's clock (its TTL may be capped by the mount's maximum)
    issued_at = issued.issued_at or issued.expires_at - duration
    status = plan.active_status(
        pull_request=pr,
        approved_by=decision.approvers,
        issued_at=issued_at,
        expires_at=issued.expires_at,
        accessor=issued.accessor,
    )
    ratify_by = issued_at + bg.ratify_within if bg is not None else None
    commit = plan.issue_commit(
        grant, status, delivery=issued.wrapping_accessor, ratify_by=ratify_by
    )
    path = grant_path(grant.id)

    def build(git: Git) -> list[PlannedCommit]:
        data = git.show("HEAD", path)
        if data is None:
            return []
        there, _ = read_grant_safely(data, path)
        current = there.status.token_accessor if there and there.status else None
        if current != replaces:
            return []  # someone else recorded or removed it meanwhile
        return [commit]

    try:
        landed = svc.git.land(svc.remote, svc.branch, build)
    except JitopsError:
        vault.revoke_accessor(issued.accessor)  # nobody can hold it: its wrapping token dies here
        raise
    if not landed:
        vault.revoke_accessor(issued.accessor)
        return Outcome(grant.id, Action.SKIPPED, "recorded or removed by another run meanwhile", pr)

    # recorded: only now may the credential leave
    payload = deliver.payload_for(
        grant_id=grant.id,
        vault_addr=vault.addr,
        wrapping_token=issued.wrapping_token,
        namespace=vault.namespace,
    )
    armored = deliver.seal(payload, list(decision.keys))
    body = render_delivery_comment(
        grant_id=grant.id,
        requester=grant.requester,
        role=grant.role,
        expires_at=issued.expires_at,
        armored=armored,
        wrap_ttl_seconds=int(policy.settings.wrap_ttl.total_seconds()),
        key_fingerprints=[deliver.recipient_label(k) for k in decision.keys],  # issue 21
        static_secret=_static_secret(policy, grant.role),
    )
    body += time_and_risk_lines(
        decision.notes, ratify_note(bg, issued_at) if bg is not None else None
    )
    marker = plan.issued_marker(grant.id, issued.accessor, issued_at, issued.expires_at)
    shown_until = format_time(issued.expires_at)
    if pr is None:
        return Outcome(
            grant.id, Action.FAILED, "recorded, but there is no pull request to deliver to"
        )
    try:
        svc.github.comment(pr, body + "\n" + marker + "\n")
    except JitopsError as exc:
        log.error("delivery of %s not posted: %s", grant.id, exc)
        return Outcome(
            grant.id,
            Action.FAILED,
            f"recorded until {shown_until}, but the delivery could not be posted ({exc}); the "
            "next run re-issues it",
            pr,
        )
    svc.notify(policy, svc.event("issued", grant, now, pull_request=pr, status=status))
    if bg is not None:  # loud: the break_glass event says who must ratify by when
        note = ratify_note(bg, issued_at)
        svc.notify(policy, svc.event("break_glass", grant, now, status=status, reason=note))
    verb = "re-issued" if replaces else "issued"
    capped = f"; {issued.capped}" if issued.capped else ""
    detail = f"{verb} to {grant.requester} until {shown_until}{capped}"
    # -- extension: the new credential is created and delivered (a re-issue too: the first
    # -- delivery never reached the pull request); now the old token is revoked
    if grant.extends is not None:
        from jitops.lifecycle.extension import replaced_by

        try:
            ended = replaced_by(svc, tip, replace(grant, status=status), now)
        except JitopsError as exc:  # the next run (issue or sweep) ends it
            log.error("could not end %s after its extension: %s", grant.extends, exc)
            ended = None
        if ended is not None:
            detail += f"; {grant.extends} ended ({ended.action})"
    return Outcome(grant.id, Action.ISSUED, detail, pr)


def redeliver(
    svc: Services, tip: Tip, *, now: datetime, skip: frozenset[str] = frozenset()
) -> list[Outcome]:
    """Re-issue recorded grants whose delivery was never made (old token revoked)."""
    outcomes = []
    for grant, decision, delivery in recent_undelivered(svc, tip, now, skip):
        assert grant.status is not None
        try:
            outcomes.append(
                _issue(
                    svc,
                    tip,
                    decision,
                    now,
                    replaces=grant.status.token_accessor,
                    until=grant.status.expires_at,
                    replaces_delivery=delivery,
                )
            )
        except JitopsError as exc:
            log.error("re-issue of %s failed: %s", grant.id, exc)
            outcomes.append(Outcome(grant.id, Action.FAILED, str(exc), grant.status.pull_request))
    return outcomes


def _static_secret(policy: Policy, role_name: str) -> str | None:
    """The secret path of a ``static: true`` role (the delivery says it outlives the grant)."""
    role = policy.roles.get(role_name)
    return role.vault_secret if role is not None and role.vault_static else None
