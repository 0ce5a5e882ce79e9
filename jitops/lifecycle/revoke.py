"""Ending a grant before its time: `jitops revoke` (break-glass) and early revokes.

A grant ends early when ``jitops revoke`` runs for its requester or one of the admins
(``settings.admins``; the token is revoked by the accessor jitops recorded, the file removed in
a ``revoke`` commit with the actor as a trailer), or when a merged pull request deletes an
active grant file (the next run revokes its token and records the revoke). Both go through
:func:`end_grant`.

What a deleted grant was is jitops' own record: the file as jitops' newest own ``issue``
commit wrote it (its requester, role, expiry and token accessor), never what a pull request's
own earlier commit made of the file before deleting it. A pull request that deletes someone
else's grant ends it only with an approval of its head commit, before the merge, from the
role's approvers or the admins (:func:`jitops.core.gate.decide_end`); without one the run
refuses: it puts the file back as jitops recorded it (a ``restore`` commit), comments on the
pull request, and the access stays until its expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jitops.core import plan
from jitops.core.gate import decide_end, may_end
from jitops.core.grant import GRANTS_DIR, Grant, format_time, grant_path, shown_id
from jitops.core.policy import Policy, PolicyError
from jitops.core.principals import LOGIN_RE
from jitops.core.tip import Tip
from jitops.delivery.comment import restore_refused_comment, revoked_comment
from jitops.errors import JitopsError
from jitops.lifecycle.ending import Ending, absent, tell, token_note
from jitops.lifecycle.landing import (
    LandingUnknown,
    deletions,
    find_landing,
    jitops_own,
    merged_into,
    pull_facts,
    recorded_grant,
)
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services, log, policy_at, read_tip


class RevokeError(JitopsError):
    """A grant that cannot be revoked as asked."""


def early_revokes(svc: Services, tip: Tip, *, now: datetime | None = None) -> list[Outcome]:
    """Revoke grants whose active files a merged pull request deleted (an early revoke), or put
    back the files of those it may not end.

    Every deletion on main within the last 768h (no grant token outlives that) is looked at,
    not only the pushed range, so a run cancelled by a concurrency group loses no revoke; the
    newest deletion of a file decides (an older one was put back since). What was deleted is
    jitops' own record of the grant (:func:`recorded_grant`). A deletion that is jitops' own
    (expire, revoke, deny), or whose revoke jitops already recorded, is skipped once Vault
    confirms its token is gone: a commit can look exactly like jitops' own, so a live token of
    that grant is handled whoever deleted the file. Each such deletion still within its recorded
    expiry costs one Vault lookup per run.
    """
    now = now or datetime.now(UTC)
    newest: dict[str, str] = {}
    for path, sha in deletions(svc, now):
        newest.pop(path, None)
        newest[path] = sha  # oldest first: the newest deletion of each file is the one left
    present = {e.path for e in svc.git.ls_tree(svc.tip, GRANTS_DIR)}
    outcomes = []
    for path, sha in newest.items():
        if path in present:
            continue  # back on main since (jitops restored it): nothing ended
        try:
            found = recorded_grant(svc, path, now)
            if found is None:
                continue  # jitops never issued it
            grant, issue_sha = found
            assert grant.status is not None
            if grant.status.expires_at <= now:
                continue  # its token already ended by its TTL
            recorded = svc.git.find_trailer(svc.tip, "Jitops-Grant", grant.id, "revoke")
            ended = jitops_own(svc, sha, grant.id, now) or any(
                jitops_own(svc, r, grant.id, now) for r in recorded
            )
            if ended:
                # jitops ended it (expire, revoke, deny), so its token is dead -- unless the
                # deleting commit only looks like jitops' own: Vault has the last word
                vault = svc.vault(tip.last_good_policy())
                token = vault.lookup_accessor(grant.status.token_accessor)
                if not svc.is_ours(token, grant.id):
                    continue
            outcomes.append(_deleted(svc, tip, grant, path, sha, issue_sha, now, shaped=ended))
        except JitopsError as exc:
            log.error("early revoke of %s failed: %s", shown_id(path), exc)
            outcomes.append(Outcome(shown_id(path), Action.FAILED, str(exc)))
    return outcomes


def _deleted(
    svc: Services,
    tip: Tip,
    grant: Grant,
    path: str,
    sha: str,
    issue_sha: str,
    now: datetime,
    *,
    shaped: bool,
) -> Outcome:
    """End ``grant``, whose file commit ``sha`` deleted while its token lives, or put the file
    back when whoever deleted it may not end it."""
    numbers = svc.github.pulls_for_commit(sha)
    if not numbers:
        young = now - svc.git.commit_time(sha) <= svc.recheck_within
        if young and not shaped:
            return Outcome(
                grant.id,
                Action.FAILED,
                f"commit {sha[:12]} deleted the grant file, but GitHub associates no pull "
                "request with it yet; a later run decides (the access stays meanwhile)",
                grant.status.pull_request if grant.status else None,
            )
        by = (
            f"commit {sha[:12]}, shaped like jitops' own,"
            if shaped
            else f"commit {sha[:12]} (pushed to {svc.branch} without a pull request)"
        )
        return end_grant(
            svc, tip, grant, f"{by} deleted the grant file (early revoke)", now=now, remove=False
        )
    pulls = [svc.github.pull_request(n) for n in numbers[:5]]
    pull = merged_into(pulls, svc.branch, merge_commit=False)
    policy: Policy | None = None
    if pull.merged and pull.merge_commit_sha:
        facts = pull_facts(pull)
        try:
            _landed, base_tip = find_landing(svc, facts, sha)
        except LandingUnknown as exc:
            return Outcome(
                grant.id,
                Action.FAILED,
                f"pull request #{pull.number} deleted the grant file; {exc} (the access stays "
                "meanwhile)",
                pull.number,
            )
        if base_tip is not None:
            try:  # the policy main had before the pull request, never its own
                policy = policy_at(svc.git, base_tip)
            except PolicyError as exc:
                log.warning("the policy before #%s landed is invalid: %s", pull.number, exc)
    own = grant.requester.lower() == pull.author.lower()
    reviews = svc.github.reviews(pull.number) if pull.merged and not own else []
    decision = decide_end(
        grant.requester,
        grant.role,
        policy,
        author=pull.author,
        head_sha=pull.head_sha,
        reviews=reviews,
        merged_at=pull.merged_at or now,
        teams=svc.github.is_team_member,
    )
    if decision.allowed:
        why = (
            f"pull request #{pull.number} deleted the grant file (early revoke; {decision.reason})"
        )
        return end_grant(svc, tip, grant, why, now=now, remove=False)
    return _restore(svc, grant, path, issue_sha, pull.number, decision.reason)


def _restore(svc: Services, grant: Grant, path: str, issue_sha: str, pr: int, why: str) -> Outcome:
    """Put ``grant``'s file back as jitops' issue commit ``issue_sha`` wrote it: the deletion
    by pull request ``pr`` may not end it (``why``). The token is left alone."""
    assert grant.status is not None
    recorded = svc.git.show(issue_sha, path)
    if recorded is None:
        raise RevokeError(f"{issue_sha[:12]} holds no {path}; cannot put it back")
    reason = f"pull request #{pr} deleted the grant file without the approval it needs: {why}"
    until = format_time(grant.status.expires_at)
    (told,) = tell(
        svc,
        [
            Ending(
                outcome=Outcome(
                    grant.id, Action.RESTORED, f"{reason}; put back, access stays until {until}", pr
                ),
                commit=plan.restore_commit(grant, recorded, reason),
                path=path,
                applies=absent,
                skipped="put back by another run meanwhile",
                comment=restore_refused_comment(grant, why, until),
                comment_on=pr,
            )
        ],
    )
    return told


def run_revoke(
    svc: Services,
    grant_id: str,
    reason: str,
    *,
    actor: str,
    also: tuple[str, ...] = (),
    now: datetime | None = None,
) -> Outcome:
    """Break-glass: end a grant now, whatever its expiry. ``actor``: the GitHub login of who
    asked (recorded in a ``Jitops-Actor`` trailer): the grant's requester, or one of the
    admins (``settings.admins``, teams read through GitHub); anyone else is refused and
    nothing is revoked. ``also``: further logins that must be allowed too (who re-ran the
    workflow run, when that is someone else)."""
    if len(reason.strip()) < 5:
        raise RevokeError("say why with --reason (at least a few words); it goes into git")
    for login in (actor, *also):
        if not _valid_actor(login):
            raise RevokeError(
                f"--actor {login!r} is not a GitHub login; give the login of who asks for the "
                "revoke"
            )
    now = now or datetime.now(UTC)
    svc.git.fetch(svc.remote, svc.branch)
    tip = read_tip(svc)
    grant = tip.grants().get(grant_id)
    if grant is None:
        raise RevokeError(
            f"no grant {grant_id!r} in grants/ on {svc.branch}; `jitops audit --active` lists "
            "the active ones"
        )
    # whose grant it is: jitops' own record, not what the file says now
    found = recorded_grant(svc, grant_path(grant_id), now)
    owner = found[0].requester if found else grant.requester
    policy = tip.last_good_policy()
    for login in dict.fromkeys((actor, *also)):
        decision = may_end(login, owner, policy, svc.github.is_team_member)
        if not decision.allowed:
            raise RevokeError(f"{decision.reason}; nothing was revoked")
    return end_grant(svc, tip, grant, reason.strip(), now=now, remove=True, actor=actor)


def _valid_actor(login: str) -> bool:
    """A user login, or an App's ``name[bot]`` login (what GITHUB_ACTOR holds)."""
    return LOGIN_RE.fullmatch(login.removesuffix("[bot]")) is not None


def end_grant(
    svc: Services,
    tip: Tip,
    grant: Grant,
    reason: str,
    *,
    now: datetime,
    remove: bool,
    actor: str | None = None,
) -> Outcome:
    """Revoke ``grant``'s token and record a ``revoke`` commit (removing the file if asked)."""
    policy = tip.last_good_policy()
    note = revoke_token(svc, policy, grant) if grant.status else "No token had been issued."
    pr = grant.status.pull_request if grant.status else None
    (told,) = tell(
        svc,
        [
            Ending(
                outcome=Outcome(grant.id, Action.REVOKED, f"{reason}. {note}", pr),
                commit=plan.revoke_commit(grant, reason, note, remove=remove, actor=actor),
                path=grant_path(grant.id),
                applies=(lambda there: there is not None) if remove else absent,
                comment=revoked_comment(grant, reason, note),
                comment_on=pr,
                event=svc.event("revoked", grant, now, reason=reason),
                policy=lambda: policy,
            )
        ],
    )
    return told


def revoke_token(svc: Services, policy: Policy, grant: Grant) -> str:
    """Revoke the token ``grant``'s file names (when Vault knows it as this grant's) and say
    what became of it."""
    assert grant.status is not None
    done = svc.revoke_grant_token(policy, grant.status.token_accessor, grant.id)
    if done == "foreign":
        log.warning("%s names a token Vault does not know as this grant's; left alone", grant.id)
    return token_note(done)
