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

from datetime import UTC, datetime

from jitops.core import plan
from jitops.core.grant import format_time, grant_path, shown_id
from jitops.core.tip import SweepPlan, plan_sweep
from jitops.delivery.comment import expired_comment
from jitops.errors import JitopsError
from jitops.lifecycle.ending import Ending, tell
from jitops.lifecycle.issue import (
    issue_pending,
    pending_files,
    redeliver,
    time_and_risk_runs,
    unissued_paths,
)
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.revoke import early_revokes, revoke_token
from jitops.lifecycle.services import Services, log, read_tip
from jitops.lifecycle.shrink import shrink_deliveries


def dry_run_outcomes(todo: SweepPlan) -> list[Outcome]:
    """What ``jitops sweep --dry-run`` reports for ``todo``: the files an admin must repair,
    the grants a run would finish issuing, the grants it would expire (nothing is changed)."""
    outcomes = [
        Outcome(
            shown_id(path),
            Action.FLAGGED,
            f"{why}; an admin must repair or remove it (its token, if any, ends by its TTL)",
        )
        for path, why in todo.unreadable
    ]
    waiting = dict(todo.waiting)
    outcomes += [
        Outcome(shown_id(p), Action.WAITING, waiting[p])
        if p in waiting
        else Outcome(shown_id(p), Action.WOULD_ISSUE, "merged but not yet issued")
        for p in todo.unissued
    ]
    outcomes += [
        Outcome(g.id, Action.WOULD_EXPIRE, f"expired at {format_time(g.status.expires_at)}")
        for g in todo.expired
        if g.status is not None
    ]
    return outcomes


def run_sweep(
    svc: Services, *, now: datetime | None = None, dry_run: bool = False
) -> list[Outcome]:
    now = now or datetime.now(UTC)
    svc.git.fetch(svc.remote, svc.branch)
    tip = read_tip(svc)
    if dry_run:  # Vault is not asked: a file that differs from jitops' record is listed
        return dry_run_outcomes(
            plan_sweep(tip, unissued_paths(svc, tip, now, check_vault=False), now)
        )
    # read once: Vault is asked about the files that differ from jitops' record and about the
    # few of its records the rotation picks (core/record.due_for_lookup), never about them all
    pending = pending_files(svc, tip, now)
    todo = plan_sweep(tip, [p.path for p in pending], now)
    outcomes: list[Outcome] = []
    if todo.unissued:
        svc.say(f"finishing {len(todo.unissued)} unissued grant(s)")
        outcomes += issue_pending(svc, tip, now=now, pending=pending)
    outcomes += redeliver(svc, tip, now=now, skip=frozenset(o.grant for o in outcomes))
    outcomes += early_revokes(svc, tip, now=now)
    outcomes += time_and_risk_runs(svc, tip, now)  # extensions left live; break-glass ratification
    shrink_deliveries(svc, tip, now)  # claimed or expired deliveries lose their ciphertext
    if not todo.expired:
        return outcomes
    try:
        policy = tip.last_good_policy()
    except JitopsError as exc:
        return outcomes + [Outcome(g.id, Action.FAILED, str(exc)) for g in todo.expired]
    endings: list[Ending] = []
    for grant in todo.expired:
        assert grant.status is not None
        try:
            note = revoke_token(svc, policy, grant)
        except JitopsError as exc:  # this grant only; the next sweep retries it
            log.error("could not revoke the token of %s: %s", grant.id, exc)
            outcomes.append(Outcome(grant.id, Action.FAILED, f"could not revoke its token: {exc}"))
            continue
        except Exception as exc:  # a bug on one grant must not stop the other expiries
            log.exception("expiry of %s failed unexpectedly", grant.id)
            why = f"unexpected {type(exc).__name__}; report it as a bug"
            outcomes.append(Outcome(grant.id, Action.FAILED, why))
            continue
        # Vault already ended the token: the end is told even when another run (or an early
        # revoke) removed the file first, which is then not removed twice
        endings.append(
            Ending(
                outcome=Outcome(grant.id, Action.EXPIRED, note),
                commit=plan.expire_commit(grant, note),
                path=grant_path(grant.id),
                comment=expired_comment(grant, note),
                comment_on=grant.status.pull_request,
                event=svc.event("expired", grant, now),
                policy=lambda: policy,
            )
        )
    return outcomes + tell(svc, endings)
