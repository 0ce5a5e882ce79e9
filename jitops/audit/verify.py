"""`jitops audit verify`: the ledger's invariants, checked from plain history data (pure).

Each violation is one line. What counts as a pull request merge: GitHub's merge commit (two
parents, subject "Merge pull request #N from owner/branch") or a squash / rebase merge (one
parent, subject ending in "(#N)"). What counts as jitops' own commit, whose trailers are
believed: see :mod:`jitops.audit` (one parent, subject ``jitops: <action> <grant>``, a change
that is exactly what the action says). Every other commit carrying ``Jitops-*`` trailers is
reported, and so is a grant file that arrived already carrying a status block (only jitops'
issue commit writes one; a history rewrite that folds the issue commit into the merge before
it leaves a live grant with no issue record). The commit author is not checked: anyone who
can push can write any author name.
With a signed ledger, each of jitops' own commits must carry a good signature by a key of the
allowed signers file (``--allowed-signers``); without one, the real protection stays branch
protection (`jitops doctor` checks it), and this check finds what slipped past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from jitops.audit.history import History, Record
from jitops.core.grant import format_time

#: What git's ``%G?`` letters mean, for the lines verify prints.
_SIGNATURE = {
    "B": "has a bad signature",
    "U": "is signed by a key that is not in the allowed signers file",
    "X": "has a signature that has expired",
    "Y": "is signed by an expired key",
    "R": "is signed by a revoked key",
    "E": "has a signature that cannot be checked",
    "N": "is not signed",
}


def verify(
    history: History,
    *,
    now: datetime,
    tolerance: timedelta,
    needs_review: Mapping[str, bool],
    signatures: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per violated invariant (empty: the ledger is consistent).

    ``needs_review``: ``{issue sha: its role needed review}`` under the policy of the issue's
    parent (unknown: needs review). ``signatures``: git's ``%G?`` letter for each of jitops'
    own commits, when the ledger is signed (None: not checked)."""
    out = [str(f) for f in history.findings]
    attested = _attested_additions(history)
    out += [
        f"{sha[:12]}: commit touching grants/ came neither from a pull request merge nor from "
        f"jitops ({subject[:60]!r})"
        for sha, subject in history.unexplained
        if sha not in attested
    ]
    for r in sorted(history.records.values(), key=lambda r: r.grant):
        out += _check_record(r, needs_review, now, tolerance)
        out += _time_and_risk(r, history.records, now, tolerance)
    if signatures is not None:
        out += [
            f"{sha[:12]}: jitops commit {_SIGNATURE.get(signatures.get(sha, 'N'), 'is not signed')}"
            for sha in history.own
            if signatures.get(sha, "N") != "G"
        ]
    return out


def _attested_additions(history: History) -> set[str]:
    """Single-parent commits that added a grant which jitops' own issue or deny commit ties to a
    pull request, or deleted one which jitops' own revoke or restore ties to a pull request. A
    rebase merge replays a pull request's commits without a merge commit or a ``(#N)`` subject,
    so git alone cannot show where they came from; jitops asked GitHub which merged pull
    request landed the commit before it decided, and its record names that pull request."""
    added = {
        r.added_sha
        for r in history.records.values()
        if r.added_sha is not None
        and r.added_pr is None
        and r.pull_request is not None
        and (r.issue_sha is not None or r.ended_by == "deny")
    }
    # a rebase-merged early revoke: jitops' own revoke (or restore) names the pull request
    deleted = {sha for r in history.records.values() for sha in r.deletions_by_pull_request}
    return added | deleted


def unreviewed_issues(history: History) -> list[Record]:
    """Issues without approvers: whether their role needed review is read from the policy at
    the issue commit's parent (the caller reads it through the git door)."""
    return [r for r in history.records.values() if r.issue_sha is not None and not r.approved_by]


def _time_and_risk(
    r: Record, records: Mapping[str, Record], now: datetime, tolerance: timedelta
) -> list[str]:
    """Break-glass: never ratified (until an admin closes it with a reason), or its window
    passed with no record; extension: each link the same requester's and role's, issued, and
    ended once the extension was issued (never two live credentials beyond one issue run)."""
    out = []
    if r.ratification == "unratified":
        out.append(
            f"grant {r.grant}: emergency access of {r.requester} to {r.role} was never ratified; "
            "an admin closes this finding with `jitops audit close "
            f"{r.grant} --reason ...` once it is understood"
        )
    elif r.ratification == "awaiting" and r.ratify_by is not None and now - r.ratify_by > tolerance:
        out.append(
            f"grant {r.grant}: its ratification window ended {format_time(r.ratify_by)} and "
            "jitops recorded neither ratify nor unratified"
        )
    if r.extends and r.issue_sha is not None:
        old = records.get(r.extends)
        at = f"{r.issue_sha[:12]}: extension {r.grant} of {r.extends}"
        if old is None or old.issue_sha is None:
            out.append(f"{at}, which was never issued in this history")
        else:
            if (old.requester or "").lower() != (r.requester or "").lower():
                out.append(f"{at}: requesters differ ({old.requester}, {r.requester})")
            if old.role != r.role:
                out.append(f"{at}: roles differ ({old.role}, {r.role})")
            if r.issued_at is not None:
                end = old.ended_at or (now if old.present else None)
                if end is not None and end - r.issued_at > tolerance:
                    minutes = int((end - r.issued_at).total_seconds() // 60)
                    out.append(f"{at}: {r.extends} stayed live {minutes} min after it was issued")
    return out


def _check_record(
    r: Record, needs_review: Mapping[str, bool], now: datetime, tolerance: timedelta
) -> list[str]:
    out = []
    if r.issue_sha is not None:
        at = f"{r.issue_sha[:12]}: issue of {r.grant}"
        if r.pull_request is None:
            out.append(f"{at} has no pull request")
        if r.added == 0:
            out.append(f"{at}, but no commit in this history added its file (rewritten history?)")
        elif r.added_pr is None and r.pull_request is None:
            out.append(f"{at}, whose file was not added by a pull request merge")
        elif r.added_pr is not None and r.pull_request is not None and r.added_pr != r.pull_request:
            out.append(
                f"{at} names pull request #{r.pull_request}, but #{r.added_pr} added the file"
            )
        if not r.approved_by and needs_review.get(r.issue_sha, True) and not r.emergency:
            out.append(f"{at} has no approvers but its role needs review")
        if r.expires_at is None:
            out.append(f"{at} has no expires_at")
        if r.ended_by == "deny":
            # a grant jitops issued is ended (expire, revoke), never denied: an issue record
            # followed by a deny is a pull request's copy of jitops' issue commit (a rebase
            # merge replays it single-parent, with its message) that the gate then took off
            # main, or an issued grant judged again after its file was changed
            out.append(
                f"{at}, but {r.grant} was denied after it was issued (an issued grant is ended, "
                "never denied): the issue record may be a pull request's copy of jitops' commit "
                "replayed by a rebase merge, whose approvers are not to be believed"
            )
    elif r.ended_by in ("expire", "revoke"):
        out.append(f"grant {r.grant} was ended ({r.ended_by}) but never issued in this history")
    if r.ended_by is not None and r.added == 0 and r.issue_sha is None:
        out.append(f"grant {r.grant} was ended but its file was never added in this history")
    if r.active and r.expires_at is None:
        out.append(f"grant {r.grant} is active without an expires_at")
    if r.expires_at is not None and r.issued_at is not None:
        end = r.ended_at or (now if r.present else None)
        if end is not None and end - r.expires_at > tolerance:
            late = end - r.expires_at
            out.append(
                f"grant {r.grant} stayed active in git {int(late.total_seconds() // 60)} min "
                f"past its expiry {format_time(r.expires_at)} (tolerance "
                f"{int(tolerance.total_seconds() // 60)} min)"
            )
    return out
