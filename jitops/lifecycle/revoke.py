"""Ending a grant before its time: `jitops revoke` (break-glass) and early revokes.

A grant ends early when someone with write access runs ``jitops revoke`` (the token is revoked
by the accessor git records, the file removed in a ``revoke`` commit with the actor as a
trailer), or when a merged pull request deletes an active grant file (the next run revokes
its token and records the revoke). Both go through :func:`end_grant`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jitops.core import plan
from jitops.core.commits import PlannedCommit
from jitops.core.gate import read_grant_safely
from jitops.core.grant import GRANTS_DIR, Grant, grant_path
from jitops.core.inert import code_span
from jitops.core.policy import Policy
from jitops.core.principals import LOGIN_RE
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.landing import _shown_id, deletions, jitops_own
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services, log


class RevokeError(JitopsError):
    """A grant that cannot be revoked as asked."""


def early_revokes(svc: Services, *, now: datetime | None = None) -> list[Outcome]:
    """Revoke grants whose active files a merged pull request deleted (an early revoke).

    Every deletion on main within the last 768h (no grant token outlives that) is looked at,
    not only the pushed range, so a run cancelled by a concurrency group loses no revoke.
    A deletion that is jitops' own (expire, revoke, deny), or whose revoke jitops already
    recorded, is skipped once Vault confirms its token is gone: a commit can look exactly like
    jitops' own, so a live token of that grant is revoked and recorded whoever deleted the file.
    Each such deletion still within its recorded expiry costs one Vault lookup per run.
    """
    now = now or datetime.now(UTC)
    outcomes = []
    for path, sha in deletions(svc, now):
        try:
            data = svc.git.show(f"{sha}^1", path)
            grant, _ = read_grant_safely(data, path) if data is not None else (None, [])
            if grant is None or grant.status is None or grant.status.expires_at <= now:
                continue  # nothing issued, or its token already ended by its TTL
            recorded = svc.git.find_trailer(svc.tip, "Jitops-Grant", grant.id, "revoke")
            ended = jitops_own(svc, sha, grant.id, now) or any(
                jitops_own(svc, r, grant.id, now) for r in recorded
            )
            if ended:
                # jitops ended it (expire, revoke, deny), so its token is dead -- unless the
                # deleting commit only looks like jitops' own: Vault has the last word
                vault = svc.vault(svc.last_good_policy())
                token = vault.lookup_accessor(grant.status.token_accessor)
                if not svc.is_ours(token, grant.id):
                    continue
                by = f"commit {sha[:12]}, shaped like jitops' own,"
            else:
                numbers = svc.github.pulls_for_commit(sha)
                by = f"pull request #{numbers[0]}" if numbers else f"commit {sha[:12]}"
            outcomes.append(
                end_grant(
                    svc, grant, f"{by} deleted the grant file (early revoke)", now=now, remove=False
                )
            )
        except JitopsError as exc:
            log.error("early revoke of %s failed: %s", _shown_id(path), exc)
            outcomes.append(Outcome(_shown_id(path), Action.FAILED, str(exc)))
    return outcomes


def run_revoke(
    svc: Services,
    grant_id: str,
    reason: str,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Break-glass: end a grant now, whatever its expiry. ``actor``: the GitHub login of who
    asked (recorded in a ``Jitops-Actor`` trailer)."""
    if len(reason.strip()) < 5:
        raise RevokeError("say why with --reason (at least a few words); it goes into git")
    if actor is not None and not _valid_actor(actor):
        raise RevokeError(
            f"--actor {actor!r} is not a GitHub login; give the login of who asks for the revoke"
        )
    svc.git.fetch(svc.remote, svc.branch)
    grant = svc.grants_at(svc.tip).get(grant_id)
    if grant is None:
        raise RevokeError(
            f"no grant {grant_id!r} in grants/ on {svc.branch}; `jitops audit --active` lists "
            "the active ones"
        )
    return end_grant(
        svc, grant, reason.strip(), now=now or datetime.now(UTC), remove=True, actor=actor
    )


def _valid_actor(login: str) -> bool:
    """A user login, or an App's ``name[bot]`` login (what GITHUB_ACTOR holds)."""
    return LOGIN_RE.fullmatch(login.removesuffix("[bot]")) is not None


def end_grant(
    svc: Services,
    grant: Grant,
    reason: str,
    *,
    now: datetime,
    remove: bool,
    actor: str | None = None,
) -> Outcome:
    """Revoke ``grant``'s token and record a ``revoke`` commit (removing the file if asked)."""
    policy = svc.last_good_policy()
    note = _revoke_note(svc, policy, grant) if grant.status else "No token had been issued."
    commit = plan.revoke_commit(grant, reason, note, remove=remove, actor=actor)
    path = grant_path(grant.id)

    def build(git: Git) -> list[PlannedCommit]:
        present = path in {e.path for e in git.ls_tree("HEAD", GRANTS_DIR)}
        return [commit] if present == remove else []

    svc.git.land(svc.remote, svc.branch, build)
    pr = grant.status.pull_request if grant.status else None
    if pr is not None:
        try:
            svc.github.comment(
                pr,
                f"**jitops: access revoked** — {code_span(grant.id)} "
                f"({code_span(grant.requester)}, {code_span(grant.role)}): "
                f"{code_span(reason, limit=500)}. {note}",
            )
        except JitopsError as exc:
            log.warning("could not comment on #%s: %s", pr, exc)
    svc.notify(policy, svc.event("revoked", grant, now, reason=reason))
    return Outcome(grant.id, Action.REVOKED, f"{reason}. {note}", pr)


def _revoke_note(svc: Services, policy: Policy, grant: Grant) -> str:
    assert grant.status is not None
    done = svc.revoke_grant_token(policy, grant.status.token_accessor, grant.id)
    if done == "revoked":
        return "jitops revoked its Vault token."
    if done == "foreign":
        log.warning("%s names a token Vault does not know as this grant's; left alone", grant.id)
        return "The token its file names is not this grant's in Vault; jitops left it alone."
    return "Vault had already ended its token."
