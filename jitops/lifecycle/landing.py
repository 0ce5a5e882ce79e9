"""Fetching what the issue gate judges: how a grant file landed on main, from git and the API.

*The policy before the pull request landed* is the base tip the merge was made on, for every
merge method GitHub has (docs/protocols.md, *Pull requests, merges and reviews*):

* ``merge``: one new commit with two parents, the first the base tip -> its first parent;
* ``squash``: one new commit with one parent, the base tip -> its first parent;
* ``rebase``: each non-merge commit of the PR replayed onto the base tip with a new sha (GitHub
  always rewrites the committer), no merge commit; ``merge_commit_sha`` is the last replayed
  commit -> the base tip is ``merge_commit_sha~N`` on main's first-parent line, N being the
  number of the PR's non-merge commits (the PR's commits are those of its head that main does
  not reach: the replays have new shas). GitHub associates every replayed commit with the PR
  (``GET /repos/{o}/{r}/commits/{sha}/pulls``), and each one in that window must be: one GitHub
  has not associated yet (it can lag) makes the landing unknown -- the gate's ``failed``,
  retried by a later run -- never a shorter window, whose base tip would be the PR's own commit.
  (``<commit adding the file>^1`` would be the PR's own earlier commit: never used.)
* a merge queue's merge is one of the above on main's first-parent line.

A PR of several commits merged with one single-parent commit is a squash or a rebase; git alone
cannot tell which. When GitHub associates the commit before it with the PR it is a rebase. When
it does not, it is taken as a squash only if that commit (the would-be base tip) has the
author, author date and message of none of the PR's commits (a rebase keeps them) and the merge
commit changes exactly what the PR changes (each path to the PR head's content); else the
landing is unknown (``failed``). Neither test depends on GitHub's association; and a rebase
that passed the second anyway would change no path outside the PR's net change in its last
commit, so the commit judged by would hold the policy main had before the PR (GitHub refuses a
rebase whose result differs from a merge's).

The commit that added the file on main's first-parent line must be part of that landing. A
"merge commit" that is one of the PR's own commits (the PR reached main by a push, not through
a merge GitHub made) gives no base tip: the gate denies.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jitops.core import plan
from jitops.core.gate import (
    FileChange,
    IssueDecision,
    IssueInputs,
    PullFacts,
    Verdict,
    read_grant_safely,
)
from jitops.core.grant import (
    GRANTS_DIR,
    Grant,
    grant_id_of,
    grant_ids_in,
    grant_path,
    is_grant_path,
    valid_id,
)
from jitops.core.policy import POLICY_DIR
from jitops.core.record import Token, redeliver
from jitops.core.tip import GrantFile, Tip
from jitops.core.trailers import LedgerEntry, parse_trailers
from jitops.delivery.comment import extract_sealed
from jitops.delivery.seal import sealing_recipients
from jitops.doors.git import Git
from jitops.errors import JitopsError
from jitops.lifecycle.services import Services, log

if TYPE_CHECKING:
    from jitops.doors.github import PullRequest

#: A rebase merge of more commits than this is not followed (its base tip stays unknown: deny).
MAX_REBASED_COMMITS = 50


class LandingUnknown(JitopsError):
    """How a pull request landed on main cannot be told now (GitHub has not associated all of
    its replayed commits with it yet, or git and GitHub disagree): the gate's ``failed``."""


def gate_inputs(svc: Services, path: str, now: datetime) -> IssueInputs:
    """Everything :func:`jitops.core.gate.decide_issue` needs about the grant file ``path``."""
    git, gh, tip = svc.git, svc.github, svc.tip
    main_file = git.show(tip, path) or b""
    added = git.last_commit_adding(tip, path)
    since = git.commit_time(added) if added else now
    base = IssueInputs(
        path=path,
        main_file=main_file,
        branch=svc.branch,
        now=now,
        waiting_since=since,
        give_up_after=svc.give_up_after,
    )
    grant, problems = read_grant_safely(main_file, path)
    if added is None:
        return base
    if grant is None or any(p.severity == "error" for p in problems):
        # the gate denies on the file itself; only the pull request to tell is looked up
        return replace(base, pull=_associated(svc, added))
    try:
        numbers = gh.pulls_for_commit(added)
        if not numbers:
            return replace(
                base,
                lookup_failure=f"GitHub associates no pull request with commit {added[:12]} yet",
            )
        pulls = [gh.pull_request(n) for n in numbers[:5]]
        facts = pull_facts(merged_into(pulls, svc.branch, merge_commit=True))
        base = replace(base, pull=facts)
        if not (facts.merged and facts.base_ref == svc.branch and facts.merge_commit_sha):
            return base
        landed, base_tip = find_landing(svc, facts, added)
        if not landed or base_tip is None:
            return replace(base, landed=landed)
        # requesters (issue 21): the grant's age recipient ONLY, when it names one
        keys, notes = sealing_recipients(grant.recipient, lambda: gh.ssh_keys(grant.requester))
        return replace(
            base,
            landed=True,
            base_tip=base_tip,
            base_policy_files=git.files_at(base_tip, POLICY_DIR, ".yaml"),
            used_ids=frozenset(grant_ids_in(git.paths_ever_added(base_tip, GRANTS_DIR))),
            changes=tuple(FileChange(f.path, f.status) for f in gh.pull_files(facts.number)),
            head_file=git.show(facts.head_sha, path),
            reviews=tuple(gh.reviews(facts.number)),
            ssh_keys=tuple(keys),
            key_notes=tuple(notes),
        )
    except JitopsError as exc:  # GitHub or git could not answer: uncertain, never a deny
        return replace(base, lookup_failure=str(exc))


def _associated(svc: Services, sha: str) -> PullFacts | None:
    """The first pull request GitHub associates with ``sha`` (None when none or on error)."""
    try:
        numbers = svc.github.pulls_for_commit(sha)
        if not numbers:
            return None
        p = svc.github.pull_request(numbers[0])
    except JitopsError:
        return None
    return pull_facts(p, commits=False)


def merged_into(pulls: Sequence[PullRequest], branch: str, *, merge_commit: bool) -> PullRequest:
    """Of the pull requests GitHub associates with a commit (not empty), the one merged into
    ``branch`` (with a merge commit, when ``merge_commit``); else the first. A commit can be in
    several pull requests (one merged into main, others still open or into other branches): the
    one that brought it to ``branch`` is judged."""
    return next(
        (
            p
            for p in pulls
            if p.merged and p.base_ref == branch and (p.merge_commit_sha or not merge_commit)
        ),
        pulls[0],
    )


def pull_facts(p: PullRequest, *, commits: bool = True) -> PullFacts:
    """What the gate reads of a pull request (``commits``: with GitHub's commit count)."""
    return PullFacts(
        number=p.number,
        author=p.author,
        merged=p.merged,
        base_ref=p.base_ref,
        head_sha=p.head_sha,
        merged_at=p.merged_at,
        merge_commit_sha=p.merge_commit_sha,
        commits=p.commits if commits else None,
    )


def find_landing(svc: Services, pull: PullFacts, added: str) -> tuple[bool, str | None]:
    """``(landed, base tip)``: whether ``added`` is part of how the merged pull request ``pull``
    landed on main's first-parent line, and the commit that merge was made on (None: it cannot
    be found). Raises :class:`LandingUnknown` when that cannot be told yet (see the module doc);
    GitHub's association of ``added`` with ``pull`` is already known."""
    git, number, merge_sha = svc.git, pull.number, pull.merge_commit_sha
    if merge_sha is None or git.rev_parse(merge_sha) is None:
        return False, None  # not in main's history at all
    chain = set(git.first_parent_line(svc.tip, added))
    if merge_sha not in chain or added not in chain:
        return False, None
    parents = git.parents(merge_sha)
    if not parents:
        return False, None
    git.ensure_commits(svc.remote, [pull.head_sha])
    if _is_ancestor(git, merge_sha, pull.head_sha):
        return True, None  # the PR's own commit: it reached main by a push, not by a merge
    if len(parents) > 1:  # a merge commit (a merge queue's too): its first parent
        return added == merge_sha, parents[0]
    own = git.commits_not_in(pull.head_sha, merge_sha)
    if pull.commits is not None and len(own) != pull.commits:
        raise LandingUnknown(
            f"GitHub counts {pull.commits} commits in pull request #{number}, git finds "
            f"{len(own)} of its head that {merge_sha[:12]} does not reach"
        )
    replayed = len(git.commits_not_in(pull.head_sha, merge_sha, merges=False))
    if replayed <= 1:  # a squash, or a rebase of one commit: the merge commit's parent
        return added == merge_sha, parents[0]

    def belongs(sha: str) -> bool:
        return sha == added or number in svc.github.pulls_for_commit(sha)

    before = parents[0]
    if not belongs(before):  # a squash, or a rebase whose commits GitHub has not associated yet
        squash = added == merge_sha and not _replays_one_of(git, before, pull.head_sha, merge_sha)
        if squash and _changes_exactly_the_pr(git, before, merge_sha, pull.head_sha):
            return True, before
        raise LandingUnknown(
            f"pull request #{number} has {replayed} commits and {merge_sha[:12]} is not a squash "
            f"of them, but GitHub does not associate {before[:12]} with #{number} yet"
        )
    if replayed > MAX_REBASED_COMMITS:
        return True, None
    window = [merge_sha, before]
    while True:
        older = git.parents(window[-1])
        if len(older) != 1:
            raise LandingUnknown(
                f"{window[-1][:12]} on main is not a commit a rebase merge of #{number} made"
            )
        if len(window) == replayed:
            break
        if not belongs(older[0]):
            raise LandingUnknown(
                f"GitHub does not associate {older[0][:12]}, one of the {replayed} commits a "
                f"rebase merge of pull request #{number} put on main, with #{number} yet"
            )
        window.append(older[0])
    base_tip = older[0]
    if belongs(base_tip):
        raise LandingUnknown(
            f"GitHub associates more commits on main with pull request #{number} than its "
            f"{replayed}: {base_tip[:12]} too"
        )
    return added in window, base_tip


def _is_ancestor(git: Git, older: str, newer: str) -> bool:
    found = git.is_ancestor(older, newer)
    if found is None:
        raise LandingUnknown(f"git cannot tell whether {older[:12]} is in {newer[:12]}'s history")
    return found


def _replays_one_of(git: Git, sha: str, head: str, merge_sha: str) -> bool:
    """Whether ``sha`` has the author, author date and message of one of the pull request's own
    commits (those of ``head`` that ``merge_sha`` does not reach): a rebase keeps them."""
    return git.authorship(sha) in git.authorships(head, merge_sha)


def _changes_exactly_the_pr(git: Git, before: str, after: str, head: str) -> bool:
    """Whether ``before..after`` sets exactly the paths the pull request (``head`` against its
    merge base with ``after``) changes, each to the head's content: what a squash does."""
    bases = git.merge_bases(after, head)
    if len(bases) != 1:
        return False
    change = git.changed_paths(before, after)
    return bool(change) and change == git.changed_paths(bases[0], head)


#: How far back `issue` looks for grant files deleted by pull requests (early revokes):
#: Vault's default maximum token TTL (768h), after which no grant token can still be alive.
EARLY_REVOKE_WINDOW = timedelta(hours=768)


def deletions(svc: Services, now: datetime) -> list[tuple[str, str]]:
    """``(path, sha)`` of grant files deleted on main's first-parent line within
    :data:`EARLY_REVOKE_WINDOW`, oldest first (jitops' own removals included)."""
    found = svc.git.deletions_since(svc.tip, GRANTS_DIR, now - EARLY_REVOKE_WINDOW)
    return [(path, sha) for path, sha in found if is_grant_path(path)]


def jitops_own(
    svc: Services, sha: str, grant_id: str, now: datetime, *, always_ask: bool = False
) -> bool:
    """Whether ``sha`` is jitops' own ledger commit about ``grant_id`` (docs/design.md,
    *Commit trailers*): the rule audit applies (one parent, jitops' subject and trailers, a
    change that is exactly what its action says) and -- for a recent one, or any when
    ``always_ask`` -- no pull request associated (a rebase merge can replay a commit of exactly
    that shape)."""
    entry = svc.git.jitops_entry(sha)  # audit's own-commit rule: shape, subject and change
    if entry is None or entry.grant != grant_id:
        return False
    if not always_ask and now - svc.git.commit_time(sha) > svc.recheck_within:
        return True
    return not svc.github.pulls_for_commit(sha)


def recorded_accessor(svc: Services, path: str, now: datetime) -> str | None:
    """The accessor jitops' own newest ``issue`` commit recorded for ``path``, if any: what to
    revoke when a later change to the file (a tampered status block) is denied. Only a commit
    that passes the own-commit rule counts (:func:`own_record`)."""
    found = own_record(svc, grant_id_of(path), now, issues_only=True)
    return found.accessor if found is not None and found.issue_sha is not None else None


@dataclass(frozen=True)
class OwnRecord:
    """jitops' own record of one grant id on main's first-parent line.

    ``entry``/``sha``: the newest of jitops' own ledger commits about it; ``issue_sha``: the
    newest own ``issue`` commit (None: never issued), ``file`` the grant file it wrote and
    ``status`` its status block, ``delivery`` the wrapping accessor it recorded (None: none)."""

    entry: LedgerEntry
    sha: str
    issue_sha: str | None = None
    file: bytes | None = None
    grant: Grant | None = None
    delivery: str | None = None

    @property
    def accessor(self) -> str | None:
        status = self.grant.status if self.grant else None
        return status.token_accessor if status else None


def own_record(
    svc: Services,
    grant_id: str,
    now: datetime,
    *,
    issues_only: bool = False,
    always_ask: bool = False,
) -> OwnRecord | None:
    """jitops' own record of ``grant_id`` (see :class:`OwnRecord`), None when jitops never
    recorded anything about it. Only commits on main's first-parent line that pass the
    own-commit rule (:func:`jitops_own`) count: a pull request's commit carrying the same
    trailers is not a record. GitHub not answering whether a recent one belongs to a pull
    request is an error (:class:`~jitops.errors.JitopsError`), never a guess. ``issues_only``:
    only what jitops issued counts (its other commits are not looked up at all).
    ``always_ask``: GitHub is asked about every candidate, however old (a commit a writer got
    rebase-merged long before a file with its id came to main is old when it is first read)."""
    if not valid_id(grant_id):
        return None
    newest: tuple[LedgerEntry, str] | None = None
    for sha in svc.git.ledger_commits_about(svc.tip, grant_id):
        entry = svc.git.jitops_entry(sha)
        if entry is None or entry.grant != grant_id:
            continue
        if issues_only and entry.action != "issue":
            continue  # asked only what jitops issued: no other commit is looked up
        # GitHub not answering whether a recent one came with a pull request raises: a commit
        # a writer can shape is never taken as jitops' record on trust (the grant fails this
        # run and the next run asks again)
        if not jitops_own(svc, sha, grant_id, now, always_ask=always_ask):
            continue
        if newest is None:
            newest = (entry, sha)
        if entry.action == "issue":
            data = svc.git.show(sha, grant_path(grant_id))
            grant, _ = read_grant_safely(data or b"", grant_path(grant_id))
            trailers = parse_trailers(svc.git.message(sha))
            return OwnRecord(
                newest[0], newest[1], sha, data, grant, trailers.get(plan.DELIVERY_TRAILER) or None
            )
    return OwnRecord(newest[0], newest[1]) if newest else None


def recorded_grant(svc: Services, path: str, now: datetime) -> tuple[Grant, str] | None:
    """``path``'s grant as jitops' own newest ``issue`` commit recorded it, and that commit
    (None: jitops never issued it). What jitops revokes, restores or asks approval for when a
    file is deleted: never what a pull request's own commit made of the file before deleting
    it."""
    found = own_record(svc, grant_id_of(path), now, issues_only=True)
    if found is None or found.issue_sha is None or found.grant is None:
        return None
    if found.grant.status is None or found.grant.id != grant_id_of(path):
        return None
    return found.grant, found.issue_sha


def recently_issued(
    tip: Tip, now: datetime, within: timedelta, skip: frozenset[str] = frozenset()
) -> list[GrantFile]:
    """The grant files at the tip whose status says they were issued within ``within`` before
    ``now`` and are still active, with a pull request to deliver to: the only ones whose
    delivery a run re-checks (``skip``: ids or paths this run already handled). A file whose
    name is not its id is never re-issued; an ``issued_at`` in the future is not recent."""
    out = []
    for f in tip.files:
        grant = f.grant
        if grant is None or grant.status is None or grant.id in skip or f.path in skip:
            continue
        if f.path != grant_path(grant.id) or not valid_id(grant.id):
            continue  # a flagged file: never re-issued
        status = grant.status
        if status.pull_request is None or status.expires_at <= now:
            continue
        if timedelta(0) <= now - status.issued_at <= within:
            out.append(f)
    return out


def recent_undelivered(
    svc: Services, tip: Tip, now: datetime, skip: frozenset[str] = frozenset()
) -> list[tuple[Grant, IssueDecision, str | None]]:
    """Active grants issued within ``recheck_within`` whose delivery was never made (the run
    that recorded them died before posting it), with what re-issuing them needs and the
    accessor of the wrapping token the re-issue replaces.

    Whether a delivery happened is jitops' record, not a comment's presence: the issue commit
    names the delivery's wrapping token by its accessor, and Vault says whether it is still
    live (:func:`jitops.core.record.redeliver`): a claimed delivery is never replaced, however
    its comment was edited or deleted."""
    out: list[tuple[Grant, IssueDecision, str | None]] = []
    candidates = []
    for f in recently_issued(tip, now, svc.recheck_within, skip):
        assert f.grant is not None
        found = own_record(svc, f.grant.id, now)
        if found is None or found.entry.action != "issue" or found.file != f.data:
            continue  # only a grant whose file on main is jitops' own record
        candidates.append((f.grant, found.delivery))
    if not candidates:
        return out
    policy = tip.policy
    if policy is None:
        log.error("cannot re-deliver: the policy on main is invalid: %s", tip.policy_error)
        return out
    me = svc.github.whoami(policy.settings.bot).lower()
    for grant, delivery in candidates:
        recorded = grant.status
        assert recorded is not None
        assert recorded.pull_request is not None
        try:
            pr = recorded.pull_request
            bodies = [c.body for c in svc.github.comments(pr) if c.author.lower() == me]
            # posted: a comment of the bot names the recorded token AND still holds a sealed
            # block (a comment shrunk or emptied while Vault says the wrapping token is live
            # delivers nothing: like a deleted one, it is delivered afresh)
            posted = any(
                _names_token(body, grant.id, recorded.token_accessor)
                and extract_sealed([body], grant.id) is not None
                for body in bodies
            )
            wrapping = None
            if delivery is not None and not posted:
                live = svc.vault(policy).wrapping_live(delivery)
                wrapping = Token.LIVE if live else Token.GONE
            if not redeliver(wrapping=wrapping, posted=posted):
                continue
            if grant.role not in policy.roles:
                continue
            # requesters (issue 21): the grant's age recipient ONLY, when it names one
            keys, _ = sealing_recipients(
                grant.recipient, functools.partial(svc.github.ssh_keys, grant.requester)
            )
        except JitopsError as exc:
            log.error("could not check the delivery of %s: %s", grant.id, exc)
            continue
        if not keys:
            continue
        # Vault, not the file, says whether jitops issued this: a status block that came in
        # with a merge names whatever accessor its author chose.
        try:
            token = svc.vault(policy).lookup_accessor(recorded.token_accessor)
        except JitopsError as exc:
            log.error("could not check the recorded token of %s: %s", grant.id, exc)
            continue
        if not svc.is_ours(token, grant.id, requester=grant.requester, role=grant.role):
            log.warning(
                "%s: the recorded token is not a live jitops token of this grant; not re-issued",
                grant.id,
            )
            continue
        assert token is not None
        if token.expire_time is not None and token.expire_time < recorded.expires_at:
            grant = replace(grant, status=replace(recorded, expires_at=token.expire_time))
        fresh = replace(grant, status=None)
        out.append(
            (
                grant,
                IssueDecision(
                    verdict=Verdict.ISSUE,
                    reason="recorded but never delivered",
                    grant=fresh,
                    pull_request=recorded.pull_request,
                    policy=policy,
                    approvers=recorded.approved_by,
                    keys=tuple(keys),
                ),
                delivery,
            )
        )
    return out


def _names_token(body: str, grant_id: str, accessor: str) -> bool:
    """Whether one comment body's hidden issued marker names ``accessor`` for ``grant_id``."""
    record = plan.find_issued_record([body], grant_id)
    return record is not None and record.accessor == accessor


__all__ = [
    "EARLY_REVOKE_WINDOW",
    "MAX_REBASED_COMMITS",
    "LandingUnknown",
    "OwnRecord",
    "deletions",
    "find_landing",
    "gate_inputs",
    "jitops_own",
    "merged_into",
    "own_record",
    "pull_facts",
    "recent_undelivered",
    "recently_issued",
    "recorded_accessor",
    "recorded_grant",
]
