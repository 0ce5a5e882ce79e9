"""Break-glass ratification on the lifecycle side (:mod:`jitops.core.breakglass` decides).

Every issue and sweep run looks at the emergency grants jitops issued (their issue commits
carry ``Jitops-Ratify-By``) whose ratification it has not recorded yet:

* ratified (the ``ratify`` rules hold through approving reviews of the merged pull request's
  head commit submitted before the deadline): a ``ratify`` commit names the ratifiers;
* the deadline passed without that: the token is revoked if still live and the grant file
  removed (if still on main) in a commit whose trailers say ``Jitops-Action: unratified``;
  the pull request is told and the ``unratified`` event sent. ``audit verify`` reports it until
  an admin closes it (``jitops audit close``: a ``close`` commit with the admin and a reason);
* still within the window: nothing (``audit`` lists it as awaiting ratification).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from jitops.core import breakglass, plan
from jitops.core.commits import PlannedCommit
from jitops.core.gate import read_grant_safely
from jitops.core.grant import Grant, grant_path, parse_time, valid_id
from jitops.core.tip import Tip
from jitops.core.trailers import LedgerEntry, commit_message, parse_trailers
from jitops.delivery.comment import ratified_comment, unratified_comment
from jitops.errors import JitopsError
from jitops.lifecycle.ending import Ending, tell, token_note
from jitops.lifecycle.landing import jitops_own
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services, log, policy_at, read_tip

#: The issue commit's trailer of an emergency grant: when its ratification window ends.
RATIFY_BY_TRAILER = plan.RATIFY_BY_TRAILER
#: How far back a run looks for emergency grants whose ratification is not recorded.
LOOK_BACK = timedelta(days=60)


def _emergency_issues(svc: Services, tip: Tip, now: datetime) -> list[tuple[str, str, datetime]]:
    """``(sha, grant id, deadline)`` of issue commits on main's first-parent line carrying
    ``Jitops-Ratify-By`` (newest first; their own-commit check is the caller's)."""
    found = []
    for sha in svc.git.first_parent_with_trailer(
        tip.ref, RATIFY_BY_TRAILER, "issue", now - LOOK_BACK
    ):
        trailers = parse_trailers(svc.git.message(sha))
        gid, by = trailers.get("Jitops-Grant", ""), trailers.get(RATIFY_BY_TRAILER, "")
        try:
            found.append((sha, gid, parse_time(by)))
        except (ValueError, OverflowError):
            continue
    return found


def _recorded(svc: Services, tip: Tip, grant_id: str, now: datetime) -> str | None:
    """The ratification jitops already recorded for ``grant_id`` (``ratify`` or ``unratified``)."""
    for action in ("ratify", "unratified"):
        for sha in svc.git.find_trailer(tip.ref, "Jitops-Grant", grant_id, action):
            if jitops_own(svc, sha, grant_id, now):
                return action
    return None


def ratifications(svc: Services, tip: Tip, now: datetime) -> list[Outcome]:
    """Record the ratification of every emergency grant whose window has an answer."""
    outcomes: list[Outcome] = []
    for sha, gid, _deadline in _emergency_issues(svc, tip, now):
        if not valid_id(gid):
            continue
        try:
            if not jitops_own(svc, sha, gid, now) or _recorded(svc, tip, gid, now):
                continue
            done = _one(svc, tip, sha, gid, now)
        except JitopsError as exc:  # this grant only; the next run asks again
            log.error("ratification of %s not decided: %s", gid, exc)
            outcomes.append(Outcome(gid, Action.FAILED, f"ratification not decided: {exc}"))
            continue
        if done is not None:
            outcomes.append(done)
    return outcomes


def _one(svc: Services, tip: Tip, sha: str, gid: str, now: datetime) -> Outcome | None:
    path = grant_path(gid)
    grant, _ = read_grant_safely(svc.git.show(sha, path) or b"", path)
    if grant is None or grant.status is None or grant.status.pull_request is None:
        return None
    policy = policy_at(svc.git, f"{sha}^1")  # the policy the grant was issued under
    role = policy.roles.get(grant.role)
    if role is None or role.break_glass is None:
        return None
    pr = grant.status.pull_request
    pull = svc.github.pull_request(pr)
    state = breakglass.ratification(
        role.break_glass,
        requester=grant.requester,
        author=pull.author,
        head_sha=pull.head_sha,
        issued_at=grant.status.issued_at,
        reviews=svc.github.reviews(pr),
        teams=svc.github.is_team_member,
        now=now,
    )
    if state.state is breakglass.State.AWAITING:
        return None
    if state.state is breakglass.State.RATIFIED:
        entry = LedgerEntry(
            "ratify",
            gid,
            grant.requester,
            grant.role,
            pr,
            state.ratified_by,
            grant.status.expires_at,
        )
        body = f"Emergency access of {grant.requester} to {grant.role} was {state.reason}."
        (told,) = tell(
            svc,
            [
                Ending(
                    outcome=Outcome(gid, Action.RATIFIED, state.reason, pr),
                    commit=PlannedCommit({}, commit_message(entry, body)),
                    path=path,
                    applies=lambda _there: True,  # a record of its own: the file may be gone
                    comment=ratified_comment(grant, state.reason),
                    comment_on=pr,
                )
            ],
        )
        return told
    return _unratified(svc, tip, grant, state.reason, now)


def _unratified(svc: Services, tip: Tip, grant: Grant, reason: str, now: datetime) -> Outcome:
    """Revoke (if live) and record ``unratified``, removing the file if the run's tip still has
    it: an end of a grant, told like every end (:func:`~jitops.lifecycle.ending.tell`). When
    main changed meanwhile (the file went, or came back) nothing is recorded and the next run
    decides again (the token is revoked already either way)."""
    assert grant.status is not None
    policy = tip.last_good_policy()
    done = svc.revoke_grant_token(policy, grant.status.token_accessor, grant.id)
    note = token_note(done, named_by="record")
    path = grant_path(grant.id)
    entry = LedgerEntry(
        "unratified",
        grant.id,
        grant.requester,
        grant.role,
        grant.status.pull_request,
        (),
        grant.status.expires_at,
        reason,
    )
    body = f"Emergency access of {grant.requester} to {grant.role} was {reason}. {note}"
    present = tip.file(path) is not None
    pr = grant.status.pull_request
    (told,) = tell(
        svc,
        [
            Ending(
                outcome=Outcome(grant.id, Action.UNRATIFIED, f"{reason}. {note}", pr),
                commit=PlannedCommit({path: None} if present else {}, commit_message(entry, body)),
                path=path,
                applies=(lambda there: there is not None)
                if present
                else (lambda there: there is None),
                skipped="main changed meanwhile; the next run records it",
                comment=unratified_comment(grant, reason, note),
                comment_on=pr,
                event=svc.event("unratified", grant, now, reason=reason),
                policy=lambda: policy,
            )
        ],
    )
    return told


class CloseError(JitopsError):
    """An unratified grant's finding cannot be closed as asked; nothing was recorded."""


def run_close(svc: Services, grant_id: str, reason: str, *, actor: str, now: datetime) -> Outcome:
    """``jitops audit close``: an admin (``settings.admins``, never the grant's requester)
    records why an unratified emergency grant is understood, in a ``close`` commit naming them
    (``Jitops-Actor``) and the reason (``Jitops-Reason``); ``audit verify`` stops reporting it."""
    from jitops.core.plan import _ACTOR_RE, ACTOR_TRAILER

    if len(reason.strip()) < 10:
        raise CloseError("say why with --reason (at least a sentence); it goes into git")
    if not _ACTOR_RE.fullmatch(actor):
        raise CloseError(f"--actor {actor!r} is not a GitHub login")
    if not valid_id(grant_id):
        raise CloseError(f"{grant_id!r} is not a grant id")
    svc.git.fetch(svc.remote, svc.branch)
    tip = read_tip(svc)
    marked = [
        sha
        for sha in svc.git.find_trailer(tip.ref, "Jitops-Grant", grant_id, "unratified")
        if jitops_own(svc, sha, grant_id, now)
    ]
    if not marked:
        raise CloseError(
            f"jitops recorded no unratified emergency grant {grant_id}; `jitops audit verify` "
            "lists the ones to close"
        )
    if any(
        jitops_own(svc, sha, grant_id, now)
        for sha in svc.git.find_trailer(tip.ref, "Jitops-Grant", grant_id, "close")
    ):
        raise CloseError(f"the finding of {grant_id} is already closed")
    entry = parse_trailers(svc.git.message(marked[0]))
    requester = entry.get("Jitops-Requester", "")
    if requester.lower() == actor.lower():
        raise CloseError(f"{actor} asked for {grant_id}: the requester never closes their own")
    policy = tip.last_good_policy()
    if not any(p.matches(actor, svc.github.is_team_member) for p in policy.settings.admins):
        named = ", ".join(str(p) for p in policy.settings.admins) or "none (settings.admins)"
        raise CloseError(f"{actor} is not one of the admins ({named}); nothing was recorded")
    pr = entry.get("Jitops-Pull-Request")
    record = LedgerEntry(
        "close",
        grant_id,
        requester,
        entry.get("Jitops-Role", ""),
        int(pr) if pr and pr.isdigit() else None,
        reason=reason.strip(),
    )
    body = f"{actor} closed the finding of the unratified emergency grant {grant_id}."
    message = commit_message(record, body).rstrip("\n") + f"\n{ACTOR_TRAILER}: {actor}\n"
    svc.git.land(svc.remote, svc.branch, lambda _git: [PlannedCommit({}, message)])
    return Outcome(
        grant_id, Action.CLOSED, f"closed by {actor}: {reason.strip()}", record.pull_request
    )


__all__ = ["LOOK_BACK", "RATIFY_BY_TRAILER", "CloseError", "ratifications", "run_close"]
