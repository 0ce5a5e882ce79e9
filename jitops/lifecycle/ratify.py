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
from jitops.core.grant import GRANTS_DIR, Grant, grant_path, parse_time, valid_id
from jitops.core.inert import code_span
from jitops.core.trailers import LedgerEntry, commit_message, parse_trailers
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.landing import jitops_own
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services, log

#: The issue commit's trailer of an emergency grant: when its ratification window ends.
RATIFY_BY_TRAILER = plan.RATIFY_BY_TRAILER
#: How far back a run looks for emergency grants whose ratification is not recorded.
LOOK_BACK = timedelta(days=60)


def _emergency_issues(svc: Services, now: datetime) -> list[tuple[str, str, datetime]]:
    """``(sha, grant id, deadline)`` of issue commits on main's first-parent line carrying
    ``Jitops-Ratify-By`` (newest first; their own-commit check is the caller's)."""
    found = []
    for sha in svc.git.first_parent_with_trailer(
        svc.tip, RATIFY_BY_TRAILER, "issue", now - LOOK_BACK
    ):
        trailers = parse_trailers(svc.git.message(sha))
        gid, by = trailers.get("Jitops-Grant", ""), trailers.get(RATIFY_BY_TRAILER, "")
        try:
            found.append((sha, gid, parse_time(by)))
        except (ValueError, OverflowError):
            continue
    return found


def _recorded(svc: Services, grant_id: str, now: datetime) -> str | None:
    """The ratification jitops already recorded for ``grant_id`` (``ratify`` or ``unratified``)."""
    for action in ("ratify", "unratified"):
        for sha in svc.git.find_trailer(svc.tip, "Jitops-Grant", grant_id, action):
            if jitops_own(svc, sha, grant_id, now):
                return action
    return None


def ratifications(svc: Services, now: datetime) -> list[Outcome]:
    """Record the ratification of every emergency grant whose window has an answer."""
    outcomes: list[Outcome] = []
    for sha, gid, _deadline in _emergency_issues(svc, now):
        if not valid_id(gid):
            continue
        try:
            if not jitops_own(svc, sha, gid, now) or _recorded(svc, gid, now):
                continue
            done = _one(svc, sha, gid, now)
        except JitopsError as exc:  # this grant only; the next run asks again
            log.error("ratification of %s not decided: %s", gid, exc)
            outcomes.append(Outcome(gid, Action.FAILED, f"ratification not decided: {exc}"))
            continue
        if done is not None:
            outcomes.append(done)
    return outcomes


def _one(svc: Services, sha: str, gid: str, now: datetime) -> Outcome | None:
    path = grant_path(gid)
    grant, _ = read_grant_safely(svc.git.show(sha, path) or b"", path)
    if grant is None or grant.status is None or grant.status.pull_request is None:
        return None
    policy = svc.policy_at(f"{sha}^1")  # the policy the grant was issued under
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
        commit = PlannedCommit({}, commit_message(entry, body))
        svc.git.land(svc.remote, svc.branch, lambda _git: [commit])
        _comment(
            svc,
            pr,
            f"**jitops: emergency access ratified** — {code_span(gid)}: {code_span(state.reason)}.",
        )
        return Outcome(gid, Action.RATIFIED, state.reason, pr)
    return _unratified(svc, grant, state.reason, now)


def _unratified(svc: Services, grant: Grant, reason: str, now: datetime) -> Outcome:
    """Revoke (if live) and record ``unratified`` (removing the file if still on main)."""
    assert grant.status is not None
    policy = svc.last_good_policy()
    done = svc.revoke_grant_token(policy, grant.status.token_accessor, grant.id)
    note = {
        "revoked": "jitops revoked its Vault token.",
        "gone": "Its Vault token had already ended.",
    }.get(done, "The token its record names is not this grant's in Vault; left alone.")
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
    message = commit_message(entry, body)

    def build(git: Git) -> list[PlannedCommit]:
        present = path in {e.path for e in git.ls_tree("HEAD", GRANTS_DIR)}
        return [PlannedCommit({path: None} if present else {}, message)]

    svc.git.land(svc.remote, svc.branch, build)
    pr = grant.status.pull_request
    _comment(
        svc,
        pr,
        f"**jitops: emergency access NEVER RATIFIED** — {code_span(grant.id)} "
        f"({code_span(grant.requester)}, {code_span(grant.role)}): {code_span(reason, limit=500)}. "
        f"{note} This stays an audit finding until an admin closes it with a reason "
        "(`jitops audit close`).",
    )
    svc.notify(policy, svc.event("unratified", grant, now, reason=reason))
    return Outcome(grant.id, Action.UNRATIFIED, f"{reason}. {note}", pr)


def _comment(svc: Services, pr: int | None, body: str) -> None:
    if pr is None:
        return
    try:
        svc.github.comment(pr, body)
    except JitopsError as exc:  # the ledger is right; the comment is a courtesy
        log.warning("could not comment on #%s: %s", pr, exc)


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
    marked = [
        sha
        for sha in svc.git.find_trailer(svc.tip, "Jitops-Grant", grant_id, "unratified")
        if jitops_own(svc, sha, grant_id, now)
    ]
    if not marked:
        raise CloseError(
            f"jitops recorded no unratified emergency grant {grant_id}; `jitops audit verify` "
            "lists the ones to close"
        )
    if any(
        jitops_own(svc, sha, grant_id, now)
        for sha in svc.git.find_trailer(svc.tip, "Jitops-Grant", grant_id, "close")
    ):
        raise CloseError(f"the finding of {grant_id} is already closed")
    entry = parse_trailers(svc.git.message(marked[0]))
    requester = entry.get("Jitops-Requester", "")
    if requester.lower() == actor.lower():
        raise CloseError(f"{actor} asked for {grant_id}: the requester never closes their own")
    policy = svc.last_good_policy()
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
