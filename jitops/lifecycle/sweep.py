"""`jitops sweep` (scheduled); `jitops revoke` (break-glass) is :mod:`jitops.lifecycle.revoke`.

Vault's TTL has already cut access when a grant expires; the sweep makes git tell the truth:

1. finish issues that a push left unfinished (every unissued grant at the tip goes through
   the gate, as in `jitops issue`), and re-issue recorded grants whose delivery never got
   posted;
2. record early revokes (a merged pull request deleted an active grant file) that no run
   recorded yet;
3. every active grant whose ``expires_at`` has passed: revoke its token by the accessor git
   records (idempotent: a token Vault already ended is recorded as such), remove the file in
   an ``expire`` commit, comment on the pull request, notify.

Vault's tokens are never listed: the sweep revokes exactly what git records, so it needs no
``sudo``, its cost does not grow with unrelated tokens, and two access repositories sharing
one Vault never touch each other's tokens. Each grant is handled on its own: an unreadable
file, a damaged status block or a Vault error on one grant is reported (``flagged`` or
``failed``) and every other grant still expires in the same run. An invalid policy on main
does not stop expiries (the newest policy that loads gives the Vault settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from jitops.core import plan
from jitops.core.commits import PlannedCommit
from jitops.core.gate import read_grant_safely
from jitops.core.grant import GRANTS_DIR, Grant, format_time, grant_path
from jitops.core.inert import code_span
from jitops.core.policy import Policy
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.issue import (
    issue_pending,
    redeliver,
    time_and_risk_runs,
    unissued_paths,
)
from jitops.lifecycle.landing import _shown_id
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.revoke import _revoke_note, early_revokes
from jitops.lifecycle.services import Services, log


@dataclass(frozen=True)
class SweepPlan:
    unissued: tuple[str, ...]  # paths of grant files jitops has not issued
    expired: tuple[Grant, ...]
    unreadable: tuple[tuple[str, str], ...]  # (path, what is wrong) of active-looking files


def plan_sweep(svc: Services, now: datetime) -> SweepPlan:
    grants = []
    unreadable = []
    for path, data in sorted(svc.grant_files_at(svc.tip).items()):
        grant, problems = read_grant_safely(data, path)
        if grant is None and b"status:" in data:
            why = "; ".join(" ".join(p.message.split()) for p in problems[:2]) or "unreadable"
            unreadable.append((path, why))
        elif grant is not None and grant.status is not None:
            grants.append(grant)
    unissued = unissued_paths(svc, now, check_vault=False)
    # a status block jitops did not write is judged by the gate, never expired (its accessor
    # may name anybody's token)
    ours = [g for g in grants if g.path not in unissued]
    return SweepPlan(tuple(unissued), tuple(plan.expired(ours, now)), tuple(unreadable))


def run_sweep(
    svc: Services, *, now: datetime | None = None, dry_run: bool = False
) -> list[Outcome]:
    now = now or datetime.now(UTC)
    svc.git.fetch(svc.remote, svc.branch)
    todo = plan_sweep(svc, now)
    outcomes: list[Outcome] = []
    if dry_run:
        outcomes += [
            Outcome(
                _shown_id(path),
                Action.FLAGGED,
                f"{why}; an admin must repair or remove it (its token, if any, ends by its TTL)",
            )
            for path, why in todo.unreadable
        ]
        outcomes += [
            Outcome(_shown_id(p), Action.WOULD_ISSUE, "merged but not yet issued")
            for p in todo.unissued
        ]
        outcomes += [
            Outcome(g.id, Action.WOULD_EXPIRE, f"expired at {format_time(g.status.expires_at)}")
            for g in todo.expired
            if g.status is not None
        ]
        return outcomes
    if todo.unissued:
        svc.say(f"finishing {len(todo.unissued)} unissued grant(s)")
        outcomes += issue_pending(svc, now=now)
    outcomes += redeliver(svc, now=now, skip=frozenset(o.grant for o in outcomes))
    outcomes += early_revokes(svc, now=now)
    outcomes += time_and_risk_runs(svc, now)  # extensions left live; break-glass ratification
    if not todo.expired:
        return outcomes
    try:
        policy = svc.last_good_policy()
    except JitopsError as exc:
        return outcomes + [Outcome(g.id, Action.FAILED, str(exc)) for g in todo.expired]
    commits: list[tuple[Grant, PlannedCommit, Outcome, str]] = []
    for grant in todo.expired:
        try:
            note = _revoke_note(svc, policy, grant)
        except JitopsError as exc:  # this grant only; the next sweep retries it
            log.error("could not revoke the token of %s: %s", grant.id, exc)
            outcomes.append(Outcome(grant.id, Action.FAILED, f"could not revoke its token: {exc}"))
            continue
        except Exception as exc:  # a bug on one grant must not stop the other expiries
            log.exception("expiry of %s failed unexpectedly", grant.id)
            why = f"unexpected {type(exc).__name__}; report it as a bug"
            outcomes.append(Outcome(grant.id, Action.FAILED, why))
            continue
        commits.append(
            (
                grant,
                plan.expire_commit(grant, note),
                Outcome(grant.id, Action.EXPIRED, note),
                "expired",
            )
        )
    if commits:
        _land_removals(svc, commits, now, policy)
        outcomes += [c[2] for c in commits]
    return outcomes


def _land_removals(
    svc: Services,
    commits: list[tuple[Grant, PlannedCommit, Outcome, str]],
    now: datetime,
    policy: Policy,
) -> None:
    def build(git: Git) -> list[PlannedCommit]:
        present = {e.path for e in git.ls_tree("HEAD", GRANTS_DIR)}
        # a grant removed meanwhile (by another run, or an early revoke) is not removed twice
        return [c for g, c, _o, _k in commits if grant_path(g.id) in present]

    svc.git.land(svc.remote, svc.branch, build)
    for grant, _commit, outcome, kind in commits:
        assert grant.status is not None
        if grant.status.pull_request is not None:
            try:
                svc.github.comment(
                    grant.status.pull_request,
                    f"**jitops: access {kind}** — {code_span(grant.id)} "
                    f"({code_span(grant.requester)}, {code_span(grant.role)}). "
                    f"{outcome.detail}",
                )
            except JitopsError as exc:  # the ledger is already right; a comment can wait
                log.warning("could not comment on #%s: %s", grant.status.pull_request, exc)
        svc.notify(policy, svc.event(kind, grant, now))
