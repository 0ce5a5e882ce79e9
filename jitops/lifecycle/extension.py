"""Extensions on the lifecycle side: reading a chain from jitops' own record, and ending the
grant an extension replaced once the new one is delivered (:mod:`jitops.core.extend` decides).

"Never two live credentials for longer than one issue run, never a gap": the issue run creates,
records and delivers the new credential, then revokes the old token and records that in a
``revoke`` commit of the old grant. A run that dies between the two leaves the old grant live;
:func:`finish_extensions`, called by every issue and sweep run, ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from jitops.core.extend import MAX_LINKS, Link
from jitops.core.gate import read_grant_safely
from jitops.core.grant import Grant, grant_path, valid_id
from jitops.core.tip import Tip
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.landing import own_record
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services, log


def link(svc: Services, tip: Tip, grant_id: str, now: datetime) -> Link:
    """jitops' own record of ``grant_id`` as one link of a chain (the own-commit rule applies:
    a pull request's commit shaped like jitops' is no record)."""
    if not valid_id(grant_id):
        return Link(grant_id, "unknown")
    found = own_record(svc, grant_id, now)
    if found is None:
        on_main = tip.file(grant_path(grant_id)) is not None
        return Link(grant_id, "waiting" if on_main else "unknown")
    action = found.entry.action
    grant = found.grant
    status = grant.status if grant else None
    common = {
        "requester": found.entry.requester or (grant.requester if grant else ""),
        "role": found.entry.role or (grant.role if grant else ""),
        "issued_at": status.issued_at if status else None,
        "expires_at": status.expires_at if status else None,
        "extends": grant.extends if grant else None,
    }
    if action == "deny":
        return Link(grant_id, "denied", **common)  # type: ignore[arg-type]
    if action != "issue":
        return Link(grant_id, "ended", ended_by=action, **common)  # type: ignore[arg-type]
    if status is None or status.expires_at <= now:
        return Link(grant_id, "ended", ended_by="expire", **common)  # type: ignore[arg-type]
    return Link(grant_id, "active", **common)  # type: ignore[arg-type]


def read_chain(svc: Services, tip: Tip, grant_id: str, now: datetime) -> list[Link]:
    """The chain from ``grant_id`` back to its first link (bounded by :data:`MAX_LINKS`)."""
    return _walk(grant_id, lambda gid: link(svc, tip, gid, now))


def read_chain_offline(git: Git, tip: str, grant_id: str, now: datetime) -> list[Link]:
    """:func:`read_chain` from git alone (``jitops request``): jitops' own commits by their
    shape, without asking GitHub about recent ones (the gate asks again)."""

    def one(gid: str) -> Link:
        if not valid_id(gid):
            return Link(gid, "unknown")
        newest = None
        for sha in git.ledger_commits_about(tip, gid):
            entry = git.jitops_entry(sha)
            if entry is None or entry.grant != gid:
                continue
            newest = newest or entry
            if entry.action == "issue":
                grant, _ = read_grant_safely(git.show(sha, grant_path(gid)) or b"", grant_path(gid))
                status = grant.status if grant else None
                common = {
                    "requester": entry.requester,
                    "role": entry.role,
                    "issued_at": status.issued_at if status else None,
                    "expires_at": status.expires_at if status else None,
                    "extends": grant.extends if grant else None,
                }
                if newest.action != "issue":
                    state = "denied" if newest.action == "deny" else "ended"
                    return Link(gid, state, ended_by=newest.action, **common)  # type: ignore[arg-type]
                if status is None or status.expires_at <= now:
                    return Link(gid, "ended", ended_by="expire", **common)  # type: ignore[arg-type]
                return Link(gid, "active", **common)  # type: ignore[arg-type]
        if newest is not None:
            state = "denied" if newest.action == "deny" else "ended"
            return Link(gid, state, newest.requester, newest.role, ended_by=newest.action)
        on_main = git.show(tip, grant_path(gid)) is not None
        return Link(gid, "waiting" if on_main else "unknown")

    return _walk(grant_id, one)


def _walk(grant_id: str, one: Callable[[str], Link]) -> list[Link]:
    out: list[Link] = []
    seen: set[str] = set()
    current: str | None = grant_id
    while current is not None and current not in seen and len(out) <= MAX_LINKS:
        seen.add(current)
        found = one(current)
        out.append(found)
        current = found.extends
    return out


def replaced_by(svc: Services, tip: Tip, grant: Grant, now: datetime) -> Outcome | None:
    """End the grant ``grant`` (just issued and delivered) extends: revoke its token and record
    it (:func:`~jitops.lifecycle.revoke.end_grant`, told like every end). None when there is
    nothing to end (it had ended already). The old grant's file is the run's ``tip``'s (the
    extension's issue commit does not touch it); its end lands only while main still holds it."""
    if grant.extends is None:
        return None
    from jitops.lifecycle.revoke import end_grant

    old_path = grant_path(grant.extends)
    there = tip.file(old_path)
    data = there.data if there else None
    old = there.grant if there else None
    if old is None or old.status is None:
        return None
    found = own_record(svc, old.id, now, issues_only=True)
    if found is None or found.file != data:
        return None  # not jitops' own record on main: never ended on a file's word
    if old.requester.lower() != grant.requester.lower() or old.role != grant.role:
        return None  # (the gate refused such an extension; defence in depth)
    return end_grant(svc, tip, old, f"replaced by its extension {grant.id}", now=now, remove=True)


def _delivered(svc: Services, tip: Tip, grant: Grant) -> bool:
    """Whether the delivery of ``grant``'s recorded token is posted on its pull request (the
    hidden issued marker of jitops' own comment names its accessor)."""
    from jitops.core.plan import find_issued_record

    status = grant.status
    if status is None or status.pull_request is None:
        return False
    me = svc.github.whoami(tip.last_good_policy().settings.bot).lower()
    bodies = [c.body for c in svc.github.comments(status.pull_request) if c.author.lower() == me]
    found = find_issued_record(bodies, grant.id)
    return found is not None and found.accessor == status.token_accessor


def finish_extensions(svc: Services, tip: Tip, now: datetime) -> list[Outcome]:
    """End every active grant on main that an issued grant on main extends (an issue run that
    died after delivering the extension, before ending the old grant)."""
    issued = {}
    for f in tip.files:
        grant = f.grant
        if grant is not None and grant.status is not None and grant.extends:
            issued[grant.extends] = (grant, f.data)
    outcomes = []
    for old_id, (new, data) in sorted(issued.items()):
        if tip.file(grant_path(old_id)) is None:
            continue
        try:
            mine = own_record(svc, new.id, now, issues_only=True)
            if mine is None or mine.file != data:
                continue  # the extension's status is not jitops' own
            if not _delivered(svc, tip, new):
                continue  # never a gap: the old access ends only once the new one is delivered
            done = replaced_by(svc, tip, new, now)
        except JitopsError as exc:
            log.error("could not end %s, extended by %s: %s", old_id, new.id, exc)
            outcomes.append(Outcome(old_id, Action.FAILED, str(exc)))
            continue
        if done is not None:
            outcomes.append(done)
    return outcomes


__all__ = ["finish_extensions", "link", "read_chain", "replaced_by"]
