"""`jitops sweep` (scheduled) and `jitops revoke` (break-glass).

Vault's TTL has already cut access when a grant expires; the sweep makes git tell the truth:

1. finish issues that a push left unfinished (a grant on main with no status block);
2. every active grant whose ``expires_at`` has passed: revoke its token by accessor
   (idempotent: a token Vault already ended is recorded as such), remove the file in an
   ``expire`` commit, comment on the pull request, notify;
3. every live Vault token carrying a jitops grant id that git does not show as active (a run
   died between creating it and recording it, or an early revoke whose `issue` run failed):
   revoke it.

Early revokes (a merged pull request deleting an active grant file) are recorded by `issue`,
which runs on every push touching ``grants/``.

All commits of a run go out in one push, rebuilt on the freshly fetched main on a race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from jitops.errors import JitopsError
from jitops.grant import GRANTS_DIR, Grant, format_time
from jitops.ledger import Git, PlannedCommit
from jitops.lifecycle import plan
from jitops.lifecycle.issue import Outcome, issue_grants
from jitops.lifecycle.services import Services, log
from jitops.policy import Policy


class RevokeError(JitopsError):
    """A grant that cannot be revoked as asked."""


@dataclass(frozen=True)
class SweepPlan:
    unissued: tuple[tuple[str, str], ...]  # (grant id, sha that added it)
    expired: tuple[Grant, ...]


def plan_sweep(svc: Services, now: datetime) -> SweepPlan:
    tip = f"{svc.remote}/{svc.branch}"
    grants = svc.grants_at(tip)
    unissued = []
    for g in grants.values():
        if g.status is None:
            sha = svc.git.last_commit_adding(tip, plan.grant_path(g.id))
            if sha:
                unissued.append((g.id, sha))
    return SweepPlan(tuple(sorted(unissued)), tuple(plan.expired(grants.values(), now)))


def run_sweep(
    svc: Services, *, now: datetime | None = None, dry_run: bool = False
) -> list[Outcome]:
    now = now or datetime.now(UTC)
    svc.git.fetch(svc.remote, svc.branch)
    todo = plan_sweep(svc, now)
    outcomes: list[Outcome] = []
    if dry_run:
        outcomes += [
            Outcome(g, "would issue", "merged but not yet issued") for g, _ in todo.unissued
        ]
        outcomes += [
            Outcome(g.id, "would expire", f"expired at {format_time(g.status.expires_at)}")
            for g in todo.expired
            if g.status is not None
        ]
        return outcomes
    if todo.unissued:
        svc.say(f"finishing {len(todo.unissued)} unissued grant(s)")
        outcomes += issue_grants(svc, todo.unissued, now=now)
    tip = f"{svc.remote}/{svc.branch}"
    policy = svc.policy_at(tip)
    commits: list[tuple[Grant, PlannedCommit, Outcome, str]] = []
    for grant in todo.expired:
        note = _revoke_note(svc, policy, grant)
        commits.append(
            (grant, plan.expire_commit(grant, note), Outcome(grant.id, "expired", note), "expired")
        )
    if commits:
        _land_removals(svc, commits, now, policy)
        outcomes += [c[2] for c in commits]
    return outcomes


def _revoke_note(svc: Services, policy: Policy, grant: Grant) -> str:
    assert grant.status is not None
    revoked = svc.vault(policy).revoke_accessor(grant.status.token_accessor)
    if revoked:
        return "jitops revoked its Vault token."
    return "Vault had already ended its token."


def _land_removals(
    svc: Services,
    commits: list[tuple[Grant, PlannedCommit, Outcome, str]],
    now: datetime,
    policy: Policy,
) -> None:
    def build(git: Git) -> list[PlannedCommit]:
        present = {e.path for e in git.ls_tree("HEAD", GRANTS_DIR)}
        # a grant removed meanwhile (by another run, or an early revoke) is not removed twice
        return [c for g, c, _o, _k in commits if plan.grant_path(g.id) in present]

    svc.git.land(svc.remote, svc.branch, build)
    for grant, _commit, outcome, kind in commits:
        assert grant.status is not None
        if grant.status.pull_request is not None:
            try:
                svc.github.comment(
                    grant.status.pull_request,
                    f"**jitops: access {kind}** — `{grant.id}` ({grant.requester}, "
                    f"{grant.role}). {outcome.detail}",
                )
            except JitopsError as exc:  # the ledger is already right; a comment can wait
                log.warning("could not comment on #%s: %s", grant.status.pull_request, exc)
        svc.notify(policy, svc.event(kind, grant, now))


def run_revoke(
    svc: Services, grant_id: str, reason: str, *, now: datetime | None = None
) -> Outcome:
    """Break-glass: end a grant now, whatever its expiry."""
    if len(reason.strip()) < 5:
        raise RevokeError("say why with --reason (at least a few words); it goes into git")
    svc.git.fetch(svc.remote, svc.branch)
    grant = svc.grants_at(f"{svc.remote}/{svc.branch}").get(grant_id)
    if grant is None:
        raise RevokeError(
            f"no grant {grant_id!r} in grants/ on {svc.branch}; `jitops audit --active` lists "
            "the active ones"
        )
    return end_grant(svc, grant, reason.strip(), now=now or datetime.now(UTC), remove=True)


def end_grant(svc: Services, grant: Grant, reason: str, *, now: datetime, remove: bool) -> Outcome:
    """Revoke ``grant``'s token and record a ``revoke`` commit (removing the file if asked)."""
    policy = svc.policy_at(f"{svc.remote}/{svc.branch}")
    note = _revoke_note(svc, policy, grant) if grant.status else "No token had been issued."
    commit = plan.revoke_commit(grant, reason, note, remove=remove)
    path = plan.grant_path(grant.id)

    def build(git: Git) -> list[PlannedCommit]:
        present = path in {e.path for e in git.ls_tree("HEAD", GRANTS_DIR)}
        return [commit] if present == remove else []

    svc.git.land(svc.remote, svc.branch, build)
    pr = grant.status.pull_request if grant.status else None
    if pr is not None:
        try:
            svc.github.comment(
                pr,
                f"**jitops: access revoked** — `{grant.id}` ({grant.requester}, {grant.role}): "
                f"{reason}. {note}",
            )
        except JitopsError as exc:
            log.warning("could not comment on #%s: %s", pr, exc)
    svc.notify(policy, svc.event("revoked", grant, now, reason=reason))
    return Outcome(grant.id, "revoked", f"{reason}. {note}", pr)
