"""Deliveries shrink after use: every sweep run (scheduled; the issue run on a push stays lean)
edits the bot's delivery comment of a recently issued grant down to a one-line note once
Vault says its wrapping token is gone, a bounded number of deliveries a run.

Which comments: only the comment of the bot (``settings.bot``) that carries the delivery
marker of a grant jitops issued within ``recheck_within`` plus ``settings.wrap_ttl`` before the
run (jitops' own ``issue`` commits on main's first-parent line carrying ``Jitops-Delivery``), whose
hidden issued marker names the token jitops recorded, and which still holds a sealed block. A
wrapping token lives at most ``wrap_ttl``: a run within ``recheck_within`` after that sees it
gone, so every delivery shrinks while the cost of a run does not grow with history.

When: only when jitops' record says so -- Vault answers "invalid accessor" for the wrapping
token the issue commit names (:func:`jitops.core.record.shrink`) -- never because a comment
looks edited, never on a live token, never when Vault does not answer. Shrinking revokes and
re-delivers nothing: a gone wrapping token is never delivered again
(:func:`jitops.core.record.redeliver`), whatever its comment says.

The note says what jitops can tell (:func:`jitops.core.record.how_spent`): claimed by the time
Vault answered when that was before the wrap TTL could run out, else "claimed or expired".
Failures are logged and left to the next run: this step never fails a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jitops.core import plan
from jitops.core.gate import read_grant_safely
from jitops.core.grant import GrantStatus, grant_path, valid_id
from jitops.core.policy import Policy
from jitops.core.record import Token, how_spent, shrink
from jitops.core.tip import Tip
from jitops.core.trailers import parse_trailers
from jitops.delivery.comment import holds_sealed, spent_delivery_comment, spent_note
from jitops.doors.github import Comment
from jitops.errors import JitopsError
from jitops.lifecycle.landing import own_record
from jitops.lifecycle.services import Services, log


@dataclass(frozen=True)
class Delivered:
    """One delivery jitops recorded: its issue commit, the grant's status there, and the
    wrapping token's accessor (``Jitops-Delivery``)."""

    sha: str
    grant_id: str
    status: GrantStatus
    wrapping: str


#: How many recent deliveries one run looks at, oldest first (one comment listing each, and a
#: Vault lookup for those still holding a sealed block): the cost of a run stays constant
#: however many grants were issued lately. A delivery stays in the window for
#: ``recheck_within`` + ``wrap_ttl`` (2h by default): with the sweep every 10 minutes, up to
#: about 36 deliveries an hour are each looked at before they leave it.
SHRINK_PER_RUN = 3


def shrink_deliveries(
    svc: Services, tip: Tip, now: datetime, *, budget: int = SHRINK_PER_RUN
) -> None:
    """Shrink the delivery comment of recently issued grants whose wrapping token Vault no
    longer knows, at most ``budget`` deliveries a run, oldest first (see the module)."""
    policy = tip.policy or tip.last_good
    if policy is None:
        return
    try:
        recent = recent_deliveries(svc, now - (svc.recheck_within + policy.settings.wrap_ttl))
    except JitopsError as exc:
        log.warning("could not list recent deliveries to shrink: %s", exc)
        return
    if not recent:
        return
    comments: dict[int, list[Comment]] = {}  # one read per pull request
    for d in list(reversed(recent))[:budget]:  # oldest first: nearest the end of the window
        try:
            _one(svc, policy, d, comments, now)
        except JitopsError as exc:  # the next run tries again
            log.warning("could not shrink the delivery of %s: %s", d.grant_id, exc)


def recent_deliveries(svc: Services, since: datetime) -> list[Delivered]:
    """The newest delivery of each grant id whose ``issue`` commit (of jitops' own shape, on
    main's first-parent line) was made after ``since``: git only, nothing asked of GitHub."""
    out: list[Delivered] = []
    seen: set[str] = set()
    for sha in svc.git.first_parent_with_trailer(
        svc.tip, plan.DELIVERY_TRAILER, "issue", since
    ):  # newest first
        entry = svc.git.jitops_entry(sha)
        if entry is None or entry.action != "issue" or entry.grant in seen:
            continue
        seen.add(entry.grant)
        if not valid_id(entry.grant):
            continue
        wrapping = parse_trailers(svc.git.message(sha)).get(plan.DELIVERY_TRAILER)
        path = grant_path(entry.grant)
        grant, _ = read_grant_safely(svc.git.show(sha, path) or b"", path)
        if not wrapping or grant is None or grant.status is None:
            continue
        if grant.status.pull_request is None:
            continue
        out.append(Delivered(sha, entry.grant, grant.status, wrapping))
    return out


def _one(
    svc: Services,
    policy: Policy,
    d: Delivered,
    comments: dict[int, list[Comment]],
    now: datetime,
) -> None:
    pr = d.status.pull_request
    assert pr is not None
    if pr not in comments:
        comments[pr] = svc.github.comments(pr)
    me = svc.github.whoami(policy.settings.bot).lower()
    targets = [
        c
        for c in comments[pr]
        if c.author.lower() == me
        and holds_sealed(c.body, d.grant_id)
        and _names(c.body, d.grant_id, d.status.token_accessor)
    ]
    if not targets:
        return  # shrunk already, or never posted (re-delivery is not this step's)
    live = svc.vault(policy).wrapping_live(d.wrapping)  # raises when Vault does not answer
    seen = svc.clock()
    if not shrink(wrapping=Token.LIVE if live else Token.GONE, sealed=True):
        return
    # the candidate came from commits of jitops' shape; its own record (the one-commit rule,
    # GitHub asked about a recent commit) must be this very issue commit and delivery
    found = own_record(svc, d.grant_id, now, issues_only=True)
    if found is None or found.issue_sha != d.sha or found.delivery != d.wrapping:
        return
    note = spent_note(how_spent(seen, d.status.issued_at, policy.settings.wrap_ttl).value, seen)
    marker = plan.issued_marker(
        d.grant_id, d.status.token_accessor, d.status.issued_at, d.status.expires_at
    )
    body = spent_delivery_comment(d.grant_id, note, marker)
    for c in targets:
        svc.github.edit_comment(pr, c.id, body)
    svc.say(f"{d.grant_id}: {note.sentence(d.grant_id)}; its delivery comment was shrunk")


def _names(body: str, grant_id: str, accessor: str) -> bool:
    record = plan.find_issued_record([body], grant_id)
    return record is not None and record.accessor == accessor


__all__ = ["Delivered", "recent_deliveries", "shrink_deliveries"]
