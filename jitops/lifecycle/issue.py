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

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from jitops.core import plan
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
    valid_id,
)
from jitops.core.inert import code_span
from jitops.core.policy import POLICY_DIR, BreakGlass
from jitops.core.record import Facts, Move, Token, decide
from jitops.core.sshkeys import fingerprint
from jitops.delivery import seal as deliver
from jitops.delivery.comment import render_delivery_comment
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.landing import (
    OwnRecord,
    _shown_id,
    gate_inputs,
    own_record,
    recent_undelivered,
    recorded_accessor,
)
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.revoke import early_revokes
from jitops.lifecycle.services import Services, log


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
    outcomes = issue_pending(svc, now=now)
    if not outcomes:
        svc.say("no grant is waiting to be issued")
    outcomes += redeliver(svc, now=now, skip=frozenset(o.grant for o in outcomes))
    outcomes += early_revokes(svc, now=now)
    outcomes += time_and_risk_runs(svc, now)  # time and risk: see the function
    return outcomes


def time_and_risk_runs(svc: Services, now: datetime) -> list[Outcome]:
    """What every issue and sweep run finishes (time and risk): an extension's old grant still
    live after a run died between delivering its replacement and ending it; emergency grants
    whose ratification window has an answer (ratified, or revoked and recorded unratified)."""
    from jitops.lifecycle.extension import finish_extensions
    from jitops.lifecycle.ratify import ratifications

    return finish_extensions(svc, now) + ratifications(svc, now)


@dataclass(frozen=True)
class Pending:
    """A grant file at the tip on which jitops' record does not simply stand, and what to do."""

    path: str
    move: Move
    why: str
    found: OwnRecord | None


def pending_files(svc: Services, now: datetime, *, check_vault: bool = True) -> list[Pending]:
    """Grant files at the tip on which jitops' record does not simply stand: files jitops has
    no record of (the gate judges them) and files that differ from its record (restored or
    ended). ``check_vault``: also ask Vault about every unexpired recorded token (the issue
    run, which every push touching ``grants/`` starts, does; the scheduled sweep leaves it to
    that run). A file whose record cannot be read now waits (reported as failed)."""
    out = []
    for path, data in sorted(svc.grant_files_at(svc.tip).items()):
        try:
            move, why, found = classify(svc, path, data, now, check_vault=check_vault)
        except JitopsError as exc:  # undecided: reported as failed, the next run asks again
            log.warning("could not read jitops' record of %s: %s", _shown_id(path), exc)
            move, why, found = Move.WAIT, str(exc), None
        if move is not Move.KEEP:
            out.append(Pending(path, move, why, found))
    return out


def unissued_paths(svc: Services, now: datetime, *, check_vault: bool = True) -> list[str]:
    """The paths of :func:`pending_files`."""
    return [p.path for p in pending_files(svc, now, check_vault=check_vault)]


def classify(
    svc: Services, path: str, data: bytes, now: datetime, *, check_vault: bool = True
) -> tuple[Move, str, OwnRecord | None]:
    """What to do with the grant file ``path`` (``data`` at the tip), decided by jitops' own
    record of its id (:func:`jitops.core.record.decide`); Vault and GitHub are asked only when
    the decision needs them."""
    gid = grant_id_of(path)
    if path != grant_path(gid) or not valid_id(gid):
        return Move.GATE, "no valid grant id", None
    found = own_record(svc, gid, now)
    if found is None:
        return Move.GATE, "jitops has no record of this grant", None
    grant, _ = read_grant_safely(data, path)
    status = found.grant.status if found.grant else None
    facts = Facts(
        action=found.entry.action,
        matches=found.file is not None and found.file == data,
        readable=grant is not None,
        expires_at=status.expires_at if status else None,
        now=now,
        check_vault=check_vault,
    )
    move, why = decide(facts)
    if move is Move.ASK_VAULT:
        if not check_vault:
            return move, "the file differs from jitops' record", found
        facts = replace(facts, token=_token_state(svc, found), clock=svc.clock())
        move, why = decide(facts)
    if move is Move.ASK_ORIGIN:
        assert found.issue_sha is not None
        try:
            in_pr = bool(svc.github.pulls_for_commit(found.issue_sha))
        except JitopsError as exc:  # not re-judged now; the next run asks again
            log.warning("could not check who wrote the status of %s: %s", gid, exc)
            return Move.KEEP, "GitHub did not answer", found
        move, why = decide(replace(facts, in_pull_request=in_pr))
    return move, why, found


def _token_state(svc: Services, found: OwnRecord) -> Token:
    """Vault's word on the token jitops' issue commit recorded."""
    accessor = found.accessor
    if not accessor or found.grant is None:
        return Token.GONE
    try:
        token = svc.vault(svc.last_good_policy()).lookup_accessor(accessor)
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


def issue_pending(svc: Services, *, now: datetime, limit: int | None = None) -> list[Outcome]:
    """Judge every grant file at the tip on which jitops' record does not stand, at most
    ``limit`` (default :data:`MAX_GRANTS_PER_RUN`) of them; the rest are reported as left for
    the next run."""
    limit = MAX_GRANTS_PER_RUN if limit is None else limit
    outcomes: list[Outcome] = []
    pending = pending_files(svc, now)
    gated = [p.path for p in pending if p.move is Move.GATE]
    done: set[str] = set()
    judged = 0
    for item in pending:
        path = item.path
        if path in done:
            continue  # denied with its pull request's other files
        shown = _shown_id(path)
        if judged >= limit:
            left = [p.path for p in pending if p.path not in done]
            svc.say(
                f"stopped after judging {judged} grant file(s) (at most {limit} per run); "
                f"{len(left)} left for the next run"
            )
            outcomes += [
                Outcome(
                    _shown_id(p),
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
            if item.move is Move.GATE:
                found = _one(svc, path, now, [p for p in gated if p not in done])
                done.update(p for p in found if p != path)
                outcomes += found.values()
            elif item.move is Move.WAIT:
                outcomes.append(Outcome(shown, Action.FAILED, item.why))
            else:
                assert item.found is not None
                outcomes.append(_by_record(svc, item.move, item.why, item.found, now))
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
def _by_record(svc: Services, move: Move, why: str, found: OwnRecord, now: datetime) -> Outcome:
    gid = found.entry.grant
    path = grant_path(gid)
    grant = found.grant
    pr = found.entry.pull_request
    if move is Move.RESTORE:
        assert grant is not None
        assert found.file is not None
        assert found.issue_sha is not None
        restore = plan.restore_commit(grant, found.file, why)
        data = found.file

        def build_restore(git: Git) -> list[PlannedCommit]:
            there = git.show("HEAD", path)
            return [] if there is None or there == data else [restore]

        if not svc.git.land(svc.remote, svc.branch, build_restore):
            return Outcome(gid, Action.SKIPPED, "changed or removed by another run meanwhile", pr)
        return Outcome(gid, Action.RESTORED, why, pr)
    # END or REMOVE: the recorded token (if live and this grant's) is revoked first
    policy = svc.last_good_policy()
    note = "No token had been issued."
    if found.accessor:
        done = svc.revoke_grant_token(policy, found.accessor, gid)
        note = {
            "revoked": "jitops revoked its Vault token.",
            "gone": "Vault had already ended its token.",
        }.get(done, "The token its record names is not this grant's in Vault; left alone.")
    if move is Move.END and grant is not None:
        commit = plan.revoke_commit(grant, why, note, remove=True)
        action = Action.REVOKED
    else:
        commit = plan.removal_commit(found.entry, why, note)
        action = Action.DENIED if found.entry.action == "deny" else Action.REVOKED

    def build(git: Git) -> list[PlannedCommit]:
        return [commit] if git.show("HEAD", path) is not None else []

    if not svc.git.land(svc.remote, svc.branch, build):
        return Outcome(gid, Action.SKIPPED, "removed meanwhile", pr)
    if pr is not None and move is Move.END and grant is not None:
        try:
            svc.github.comment(
                pr,
                f"**jitops: access ended** — {code_span(gid)} ({code_span(grant.requester)}, "
                f"{code_span(grant.role)}): {code_span(why, limit=500)}. {note}",
            )
        except JitopsError as exc:  # the ledger is right; the comment is a courtesy
            log.warning("could not comment on #%s: %s", pr, exc)
    if grant is not None:
        svc.notify(policy, svc.event("revoked", grant, now, reason=why))
    return Outcome(gid, action, f"{why}. {note}", pr)


def _one(svc: Services, path: str, now: datetime, pending: list[str]) -> dict[str, Outcome]:
    """Judge ``path``; a pull request denied as a whole (the grant shape: it adds several
    grant files) takes its other files still ``pending`` with it, in one push and one comment.
    Returns the outcome of each path handled."""
    inputs = gate_inputs(svc, path, now)
    inputs = _time_and_risk_inputs(svc, inputs, now)
    decision = decide_issue(inputs, svc.github.is_team_member)
    if decision.verdict is Verdict.FAILED:
        return {
            path: Outcome(_shown_id(path), Action.FAILED, decision.reason, decision.pull_request)
        }
    if decision.verdict is Verdict.WAIT:  # scheduled, not due yet -> wait (file stays)
        return {
            path: Outcome(_shown_id(path), Action.WAITING, decision.reason, decision.pull_request)
        }
    if decision.verdict is Verdict.DENY:
        mates = _same_pull_request(svc, inputs, decision, pending)
        if mates:
            return _deny_together(svc, [path, *mates], decision, now)
        return {path: _deny(svc, path, decision, now)}
    return {path: _issue(svc, decision, now)}


def _time_and_risk_inputs(svc: Services, inputs: IssueInputs, now: datetime) -> IssueInputs:
    """Time and risk: an extension's chain as jitops recorded it; for a scheduled grant, the
    policy on main now (who may request it is asked again when it is due)."""
    from jitops.lifecycle.extension import read_chain

    grant, _ = read_grant_safely(inputs.main_file, inputs.path)
    if grant is None or inputs.pull is None or not inputs.landed:
        return inputs
    try:
        chain = tuple(read_chain(svc, grant.extends, now)) if grant.extends else None
        current = svc.git.files_at(svc.tip, POLICY_DIR, ".yaml") if grant.not_before else None
    except JitopsError as exc:  # uncertain, never a deny: the next run asks again
        return replace(inputs, lookup_failure=str(exc))
    return replace(inputs, chain=chain, current_policy_files=current)


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
    svc: Services, paths: list[str], decision: IssueDecision, now: datetime
) -> dict[str, Outcome]:
    """Deny every file of ``paths`` for ``decision`` (one pull request, denied as a whole): one
    ``deny`` commit per grant (the ledger's rule: one grant per commit), all in one push, and
    one comment. A file that cannot be recorded is flagged, as :func:`_deny` does."""
    pr = decision.pull_request
    out: dict[str, Outcome] = {}
    commits: dict[str, PlannedCommit] = {}
    grants: dict[str, Grant] = {}
    for path in paths:
        grant, _ = read_grant_safely(svc.git.show(svc.tip, path) or b"", path)
        issued = recorded_accessor(svc, path, now)
        if issued is not None:  # a name jitops had issued under: its recorded token ends
            svc.revoke_grant_token(
                decision.policy or svc.last_good_policy(), issued, grant_id_of(path)
            )
        if grant is None or not _ledger_safe(grant, path):
            out[path] = Outcome(
                _shown_id(path),
                Action.FLAGGED,
                f"{decision.reason}; the file cannot be recorded as denied (its values fail "
                "validation): an admin must remove it",
                pr,
            )
            continue
        grants[path] = grant
        commits[path] = plan.deny_commit(grant, pr, decision.reason)

    def build(git: Git) -> list[PlannedCommit]:
        return [c for p, c in commits.items() if git.show("HEAD", p) is not None]

    landed = set(svc.git.land(svc.remote, svc.branch, build)) if commits else set()
    if not landed:
        for path, grant in grants.items():
            out[path] = Outcome(grant.id, Action.SKIPPED, "removed meanwhile", pr)
        return out
    if pr is not None:
        try:
            svc.github.comment(pr, deny_together_comment(list(grants.values()), decision.reason))
        except JitopsError as exc:  # the ledger is right; the comment is a courtesy
            log.warning("could not comment on #%s: %s", pr, exc)
    policy = decision.policy or svc.policy_or_none()
    for path, grant in grants.items():
        if policy is not None:
            svc.notify(
                policy, svc.event("denied", grant, now, pull_request=pr, reason=decision.reason)
            )
        out[path] = Outcome(grant.id, Action.DENIED, decision.reason, pr)
    return out


def deny_together_comment(grants: list[Grant], reason: str) -> str:
    """One deny comment for every grant file of a pull request denied as a whole (inert)."""
    shown = ", ".join(code_span(g.id) for g in grants[:100])
    more = f" and {len(grants) - 100} more" if len(grants) > 100 else ""
    return (
        f"**jitops: access denied** for the {len(grants)} grants of this pull request: "
        f"{shown}{more}.\n\n{code_span(reason, limit=500)}\n\n"
        "The grant files are removed from main; no access was issued. Open one pull request "
        "per grant, each with a new grant id, to ask again."
    )


# -- deny ------------------------------------------------------------------------------------
def _ledger_safe(grant: Grant | None, path: str) -> bool:
    """Whether a deny can be recorded: the id names the commit and its file. Everything else
    a requester wrote is safe there (trailers carry only values that pass their rule, the
    message body is one inert line, the comment renders it as code spans)."""
    return grant is not None and path == grant_path(grant.id) and valid_id(grant.id)


def _deny(svc: Services, path: str, decision: IssueDecision, now: datetime) -> Outcome:
    grant = decision.grant
    # a file jitops had issued and someone changed since (e.g. a merged status block that
    # extends the expiry, or breaks the file): the token jitops recorded is revoked
    issued = recorded_accessor(svc, path, now)
    if issued is not None:
        svc.revoke_grant_token(decision.policy or svc.last_good_policy(), issued, grant_id_of(path))
    if grant is None or not _ledger_safe(grant, path):
        # nothing in this file can be written to git safely: an admin removes it by hand
        return Outcome(
            _shown_id(path),
            Action.FLAGGED,
            f"{decision.reason}; the file cannot be recorded as denied (its values fail "
            "validation): an admin must remove it",
            decision.pull_request,
        )
    commit = plan.deny_commit(grant, decision.pull_request, decision.reason)

    def build(git: Git) -> list[PlannedCommit]:
        return [commit] if git.show("HEAD", path) is not None else []

    if not svc.git.land(svc.remote, svc.branch, build):
        return Outcome(grant.id, Action.SKIPPED, "removed meanwhile", decision.pull_request)
    if decision.pull_request is not None:
        try:
            svc.github.comment(decision.pull_request, deny_comment(grant, decision.reason))
        except JitopsError as exc:  # the ledger is right; the comment is a courtesy
            log.warning("could not comment on #%s: %s", decision.pull_request, exc)
    policy = decision.policy or svc.policy_or_none()
    if policy is not None:
        svc.notify(
            policy,
            svc.event(
                "denied", grant, now, pull_request=decision.pull_request, reason=decision.reason
            ),
        )
    return Outcome(grant.id, Action.DENIED, decision.reason, decision.pull_request)


def deny_comment(grant: Grant, reason: str) -> str:
    """The deny comment; everything the requester wrote is rendered inert."""
    return (
        f"**jitops: access denied** for {code_span(grant.id)} ({code_span(grant.requester)}, "
        f"{code_span(grant.role)}).\n\n{code_span(reason, limit=500)}\n\n"
        "The grant file is removed from main; no access was issued. "
        "Open a new pull request with a new grant id to ask again."
    )


# -- issue: record before deliver --------------------------------------------------------------
def _issue(
    svc: Services,
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
        key_fingerprints=[fingerprint(k) for k in decision.keys],
    )
    body += _time_and_risk_note(decision, bg, issued_at)
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
        from jitops.core.breakglass import ratify_note

        note = ratify_note(bg, issued_at)
        svc.notify(policy, svc.event("break_glass", grant, now, status=status, reason=note))
    verb = "re-issued" if replaces else "issued"
    capped = f"; {issued.capped}" if issued.capped else ""
    detail = f"{verb} to {grant.requester} until {shown_until}{capped}"
    # -- extension: the new credential is created and delivered; now the old token is revoked
    if grant.extends is not None and replaces is None:
        from jitops.lifecycle.extension import replaced_by

        try:
            ended = replaced_by(svc, replace(grant, status=status), now)
        except JitopsError as exc:  # the next run (issue or sweep) ends it
            log.error("could not end %s after its extension: %s", grant.extends, exc)
            ended = None
        if ended is not None:
            detail += f"; {grant.extends} ended ({ended.action})"
    return Outcome(grant.id, Action.ISSUED, detail, pr)


def _time_and_risk_note(decision: IssueDecision, bg: BreakGlass | None, issued_at: datetime) -> str:
    """The delivery comment's lines about risk tiers, an extension and break-glass."""
    from jitops.core.breakglass import ratify_note

    lines = [f"- {code_span(n, limit=300)}" for n in decision.notes]
    if bg is not None:
        lines.append(f"- **break-glass**: {ratify_note(bg, issued_at)}.")
    return ("\n\n" + "\n".join(lines)) if lines else ""


def redeliver(svc: Services, *, now: datetime, skip: frozenset[str] = frozenset()) -> list[Outcome]:
    """Re-issue recorded grants whose delivery was never made (old token revoked)."""
    outcomes = []
    for grant, decision, delivery in recent_undelivered(svc, now, skip):
        assert grant.status is not None
        try:
            outcomes.append(
                _issue(
                    svc,
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
