"""`jitops audit`: every grant's record, rebuilt from git alone (pure).

The git door streams the commits of main's first-parent line (oldest first, with their
trailers and file changes) and reads the grant files this module asks for in one batch; this
module decides what each commit means. Malformed input (hand-edited files, broken trailers,
odd messages) never stops the audit: it becomes a finding that ``audit verify`` reports.

**Which trailers are believed** (docs/design.md, *Commit trailers*). A pull request's author
controls its commit messages, a squash merge's included, so ``Jitops-*`` trailers count only on
jitops' own commits. A commit is jitops' own when all of these hold:

- it has one parent (a two-parent commit is a pull request's merge);
- its subject is not a pull request's squash or rebase merge subject (``... (#N)``) and is
  exactly ``jitops: <action> <grant>``, naming what its trailers say;
- its change is exactly what its action says: ``issue`` modifies that grant's file and nothing
  else (``audit verify`` also checks the new file has the status block); ``expire``, ``deny``
  and ``revoke`` delete that file and nothing else; a ``revoke`` may also change nothing when
  a pull request had already deleted the file (an early revoke, recorded afterwards);
  ``restore`` adds that file back (a deletion jitops refused: someone else's grant deleted
  without the approval it needs) and nothing else.

A squash merge has one parent and a message its pull request controls (GitHub's "About pull
request merges": the default squash message of a one-commit pull request is that commit's title
followed by the pull request number, and that commit's body, and the merger can edit it; see
https://docs.github.com/en/pull-requests/collaborating-with-pull-requests/incorporating-changes-from-a-pull-request/about-pull-request-merges);
what gives it away is
its change (a grant pull request adds a file, any other touches paths outside ``grants/``) or
its subject. Anything else carrying ``Jitops-*`` trailers is a finding, never a record. With a
signed ledger, ``audit verify --allowed-signers`` also checks each believed commit's signature:
without signatures, a commit whose change equals a jitops change cannot be told from one, but
its effect on ``grants/`` is then the same, and ``--active`` trusts the files in ``grants/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from jitops.core.commits import LogCommit, not_own, pr_of
from jitops.core.grant import (
    format_time,
    grant_id_in,
    grant_path,
    parse_time,
    read_grant,
    valid_id,
)
from jitops.core.inert import printable
from jitops.core.trailers import LedgerEntry, entry_from_trailers

KEYS = (
    "grant",
    "requester",
    "role",
    "pull_request",
    "approved_by",
    "issued_at",
    "expires_at",
    "ended_at",
    "ended_by",
    "reason",
    "not_before",
    "extends",
    "chain_total",
    "emergency",
    "ratify_by",
    "ratified_by",
    "unratified",
)


@dataclass(slots=True)  # thousands are built and updated per audit
class Record:
    grant: str
    requester: str | None = None
    role: str | None = None
    pull_request: int | None = None
    approved_by: list[str] = field(default_factory=list)
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    reason: str | None = None
    ticket: str | None = None
    duration: str | None = None
    requested_at: datetime | None = None
    end_reason: str | None = None
    token_accessor: str | None = None
    added: int = 0  # how many times the file was added (more than once: id reused)
    issued: int = 0  # how many issue commits named it (more than once: a re-issue, or a fault)
    # what each issue commit's trailers said: {sha: (expires_at, approved_by)}; a re-issue
    # (its delivery never posted) writes a second status block, checked against its own commit
    issue_trailers: dict[str, tuple[datetime | None, tuple[str, ...]]] = field(default_factory=dict)
    added_pr: int | None = None  # the pull request whose merge added the file
    issue_sha: str | None = None
    added_sha: str | None = None
    end_sha: str | None = None  # the commit that recorded (or made) the end
    # the request's own last commit, when git has it: a merge commit's second parent (the
    # pull request's head); for a squash or rebase merge, the merge commit itself
    head_sha: str | None = None
    restores: list[tuple[str, datetime]] = field(default_factory=list)  # (sha, when) put back
    # single-parent commits that deleted the file and that jitops' own revoke or restore then
    # tied to the merged pull request it found through GitHub (a rebase merge leaves no merge
    # commit and no "(#N)" subject behind)
    deletions_by_pull_request: list[str] = field(default_factory=list)
    _unexplained_deletion: str | None = None
    present: bool = False  # the file is in grants/ at the audited ref
    # time and risk: as requested (the file as added) and as jitops recorded it
    not_before: datetime | None = None
    extends: str | None = None
    chain: list[str] = field(default_factory=list)  # the grants it extends, nearest first
    chain_started: datetime | None = None  # the chain's first issue
    emergency: bool = False
    ratify_by: datetime | None = None  # the end of the ratification window (issue trailer)
    ratified_by: list[str] = field(default_factory=list)
    ratified_at: datetime | None = None
    unratified: bool = False  # recorded `Jitops-Action: unratified`
    closed_reason: str | None = None  # an admin closed the unratified finding (`close`)
    closed_by: str | None = None
    # the secret it handed out outlives it (the role, as the policy at the issue commit's
    # first parent defined it, reads a secret with no lease: ``vault.static``): revoking the
    # grant did not end it, it has to be rotated. None: issued, but that policy could not be
    # read (see :func:`note_static_secrets`)
    static_secret: bool | None = False
    static_secret_path: str | None = None
    # a commit whose policies/ tree is the one at the issue commit's first parent (the policy
    # that judged the issue): the last commit of the first-parent line before the issue that
    # changed policies/, so one policy version is one name to resolve; None: the issue
    # commit's first parent itself (see :func:`build`)
    policy_commit: str | None = None

    @property
    def chain_total(self) -> timedelta | None:
        """The whole chain's length, from its first issue to this link's expiry."""
        if not self.extends or self.chain_started is None or self.expires_at is None:
            return None
        return self.expires_at - self.chain_started

    @property
    def ratification(self) -> str | None:
        """``ratified``, ``awaiting``, ``unratified``, ``closed`` (an admin closed it), or None
        for a grant that was no emergency."""
        if not self.emergency or self.issued_at is None:
            return None
        if self.unratified:
            return "closed" if self.closed_reason else "unratified"
        return "ratified" if self.ratified_by else "awaiting"

    @property
    def active(self) -> bool:
        """Issued, and its file is in grants/ at the audited ref: what git says is live, and
        what no commit message can argue away."""
        return self.present and self.issued_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "grant": self.grant,
            "requester": self.requester,
            "role": self.role,
            "pull_request": self.pull_request,
            "approved_by": list(self.approved_by),
            "issued_at": rfc3339(self.issued_at),
            "expires_at": rfc3339(self.expires_at),
            "ended_at": rfc3339(self.ended_at),
            "ended_by": self.ended_by,
            "reason": self.reason,
            "ticket": self.ticket,
            "duration": self.duration,
            "requested_at": rfc3339(self.requested_at),
            "end_reason": self.end_reason,
            "active": self.active,
            "not_before": rfc3339(self.not_before),
            "extends": self.extends,
            "chain": list(self.chain),
            "chain_total": _seconds(self.chain_total),
            "emergency": self.emergency,
            "ratify_by": rfc3339(self.ratify_by),
            "ratified_by": list(self.ratified_by),
            "unratified": self.unratified,
            "ratification": self.ratification,
            "closed_reason": self.closed_reason,
            "closed_by": self.closed_by,
            "static_secret": self.static_secret,
            "static_secret_path": self.static_secret_path,
        }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def rfc3339(v: datetime | None) -> str | None:
    """RFC 3339 UTC with a Z (`2026-11-23T10:00:00Z`), or None."""
    if v is None:
        return None
    if v.microsecond == 0 and v.utcoffset() == _ZERO:  # the usual case, fast
        return v.isoformat().replace("+00:00", "Z")
    return format_time(v)


_ZERO = timedelta(0)

#: where the policy lives (:data:`jitops.core.policy.POLICY_DIR`; not imported from there: the
#: audit loads the policy module only when it reads a policy)
POLICY_DIR = "policies"
_POLICY_PREFIX = POLICY_DIR + "/"


@dataclass(frozen=True)
class Finding:
    sha: str
    message: str

    def __str__(self) -> str:
        return f"{self.sha[:12]}: {self.message}"


@dataclass
class History:
    records: dict[str, Record]
    findings: list[Finding]
    unexplained: list[tuple[str, str]]  # (sha, subject) of commits neither PR merge nor jitops
    own: list[str] = field(default_factory=list)  # jitops' own commits (believed), in order


class BlobSource(Protocol):
    """Where grant files come from: ask for blobs while the commits stream, then collect."""

    def request(self, sha: str) -> None: ...

    def finish(self) -> Mapping[str, bytes]: ...


def build(
    commits: Iterable[LogCommit],
    present: Iterable[str],
    blobs: BlobSource,
    *,
    check_status: bool = False,
) -> History:
    """Rebuild every grant's record from ``commits`` (main's first-parent line, oldest first,
    as the git door yields them) and ``present`` (the grant ids in grants/ at the audited ref).

    ``check_status`` also reads every status block jitops committed and compares it with the
    trailers (what `audit verify` needs; listing records does not).
    """
    records: dict[str, Record] = {}
    findings: list[Finding] = []
    unexplained: list[tuple[str, str]] = []
    own: list[str] = []
    added_blobs: dict[str, list[tuple[str, str]]] = {}  # blob -> [(grant, path)]
    status_blobs: dict[str, tuple[str, str]] = {}  # blob -> (grant, sha of issue commit)
    want = Wants(blobs.request, blobs.request if check_status else _ignore)
    in_tree: set[str] = set()  # grant ids whose file exists after the commits seen so far
    # the last commit seen that changed policies/ (its policies/ tree is the one every later
    # commit of the line has until the next such change); None until one is seen, or after a
    # commit whose changes could not be read: then each issue names its own first parent
    policy: list[str | None] = [None]
    for c in commits:
        _apply(
            c, records, findings, unexplained, added_blobs, status_blobs, want, in_tree, own, policy
        )
    for gid in present:
        if valid_id(gid):
            records.setdefault(gid, Record(gid)).present = True
    if not check_status:
        status_blobs = {}
    blob_data = blobs.finish()
    for blob, gid, path in ((b, g, p) for b, items in added_blobs.items() for g, p in items):
        fields = _grant_fields(blob_data.get(blob, b""), path)
        rec = records[gid]
        if fields is None:
            findings.append(
                Finding(rec.added_sha or "?", f"{path} was not a valid grant when added")
            )
            continue
        for key in ("requester", "role"):
            said, filed = getattr(rec, key), _text(fields.get(key))
            if said and filed and said.lower() != filed.lower():
                findings.append(
                    Finding(
                        rec.added_sha or "?",
                        f"{rec.grant}: trailers say {key} {said}, the "
                        f"grant file as added says {filed}",
                    )
                )
            setattr(rec, key, said or filed)
        if "status" in fields and rec.ended_by != "deny":
            findings.append(
                Finding(
                    rec.added_sha or "?",
                    f"{path} was added with a status block, which only jitops' own issue "
                    f"commit writes: {gid} may be live with no issue record on this line "
                    "(an issue commit dropped or folded into another by a rewritten history?)",
                )
            )
        rec.reason = _text(fields.get("reason"))
        rec.ticket = _text(fields.get("ticket"))
        rec.duration = _text(fields.get("duration"))
        _time_fields(rec, fields)
    for blob, (gid, sha) in status_blobs.items():
        _check_status(records[gid], blob_data.get(blob, b""), sha, findings)
    _chains(records)
    return History(records, findings, unexplained, own)


def _time_fields(rec: Record, fields: Mapping[str, Any]) -> None:
    """not_before, extends and emergency as the file was added (time and risk)."""
    if fields.get("not_before"):
        try:
            rec.not_before = parse_time(str(fields["not_before"]))
        except (ValueError, OverflowError):
            rec.not_before = None
    extends = _text(fields.get("extends"))
    rec.extends = extends if extends and valid_id(extends) else None
    rec.emergency = str(fields.get("emergency", "")).lower() == "true" or rec.ratify_by is not None


def _chains(records: Mapping[str, Record]) -> None:
    """Each extension's chain (the grants it extends, nearest first) and when it started."""
    for rec in records.values():
        seen = {rec.grant}
        link = rec
        while link.extends and link.extends not in seen and len(seen) <= 50:
            seen.add(link.extends)
            rec.chain.append(link.extends)
            link = records.get(link.extends) or Record(link.extends)
        starts = [
            r.issued_at
            for g in (rec.grant, *rec.chain)
            if (r := records.get(g)) is not None and r.issued_at is not None
        ]
        rec.chain_started = min(starts) if starts and rec.extends else None


def _grant_fields(data: bytes, path: str) -> dict[str, Any] | None:
    """The fields of a grant file as it was added: the fast line reader for plain ``key: value``
    files (the common case), else jitops' own safe loader, the one `validate` judged it with."""
    simple = _simple_fields(data)
    if simple is not None:
        return simple
    from jitops.core import yamlsafe  # only here: most files never need a YAML parser

    try:
        doc = yamlsafe.load(data, path)
    except yamlsafe.YamlError:
        return None
    return doc.data if isinstance(doc.data, dict) else None


_LINE = re.compile(r"^([a-z_]+): +(.*?) *$")
_INDICATORS = frozenset("-?:,[]{}#&*!|>%@`")  # may not start a plain scalar (or need care)
_UNUSUAL = re.compile("[\t\r\x85\u2028\u2029]")  # tabs and other line breaks: YAML decides


def _simple_fields(data: bytes) -> dict[str, Any] | None:
    """Fast path for the usual request file: one ``key: value`` per line, plain, single- or
    double-quoted scalars. None means "let the YAML loader decide" (anything else)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _UNUSUAL.search(text):
        return None
    out: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None or m.group(1) in out:
            return None
        raw = m.group(2)
        if raw[:1] == '"':
            try:
                value: Any = json.loads(raw)
            except ValueError:
                return None
        elif raw[:1] == "'":
            if len(raw) < 2 or not raw.endswith("'") or "'" in raw[1:-1].replace("''", ""):
                return None
            value = raw[1:-1].replace("''", "'")
        elif not raw or raw[0] in _INDICATORS or raw[-1] == ":" or " #" in raw or ": " in raw:
            return None  # could be YAML syntax, not a plain string
        else:
            value = raw
        out[m.group(1)] = value
    return out or None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class Wants(NamedTuple):
    """Where to ask for the blobs the records need (grant files as added, status blocks)."""

    added: Callable[[str], None]
    status: Callable[[str], None]


def _ignore(_blob: str) -> None:
    pass


#: how jitops' own early-revoke record (a revoke, or a restore of a refused deletion) begins when
#: GitHub named the merged pull request whose commit deleted the file
_DELETED_BY_PR = re.compile(r"pull request #[0-9]+ deleted the grant file")


def _apply(
    c: LogCommit,
    records: dict[str, Record],
    findings: list[Finding],
    unexplained: list[tuple[str, str]],
    added_blobs: dict[str, list[tuple[str, str]]],
    status_blobs: dict[str, tuple[str, str]],
    want: Wants,
    in_tree: set[str],
    own: list[str],
    policy: list[str | None],
) -> None:
    trailers = c.trailers
    if c.unreadable:
        findings.append(Finding(c.sha, "git printed a commit record audit could not read"))
        policy[0] = None  # it may have changed policies/: issues name their own parent again
        return
    judged_by = policy[0] or (c.parents[0] if c.parents else None)  # the policy before c
    entry, problems = entry_from_trailers(trailers) if trailers else (None, [])
    pr = pr_of(c.subject, len(c.parents))
    if entry is not None:
        why = not_own(c, entry, pr, in_tree)
        if why:
            findings.append(
                Finding(c.sha, f"carries Jitops-* trailers but {why}; not a ledger record")
            )
            entry = None
        else:
            own.append(c.sha)
    elif trailers and not problems and any(k.startswith("Jitops-") for k in trailers):
        findings.append(
            Finding(c.sha, "carries Jitops-* trailers without a Jitops-Action; not a ledger record")
        )
    if problems:
        findings.extend(Finding(c.sha, f"malformed trailers: {p}") for p in problems)
    grant_changes = []
    for st, p, b in c.changes:
        if g := grant_id_in(p):
            if valid_id(g):
                grant_changes.append((st, p, b, g))
            elif st == "A":  # a newline, a Windows device name...: never a grant, reported
                findings.append(
                    Finding(
                        c.sha,
                        f"{printable(p)[:100]} was added, but its name is not a valid grant id",
                    )
                )
        elif p.startswith(_POLICY_PREFIX) or p == POLICY_DIR:
            policy[0] = c.sha  # this commit's policies/ tree judges the issues that follow
    if entry is None and pr is None and grant_changes:
        unexplained.append((c.sha, c.subject))
    for status, path, blob, gid in grant_changes:
        rec = records.get(gid) or records.setdefault(gid, Record(gid))
        if status == "A" and entry is not None and entry.action == "restore":
            in_tree.add(gid)  # put back as jitops recorded it: the same grant, still active
        elif status == "A":
            in_tree.add(gid)
            rec.added += 1
            if rec.added > 1:
                findings.append(
                    Finding(c.sha, f"grant id {gid} was added again (ids are never reused)")
                )
            rec.added_sha = c.sha
            rec.requested_at = c.committed_at
            rec.added_pr = pr
            rec.head_sha = c.parents[1] if len(c.parents) == 2 else c.sha
            rec.pull_request = rec.pull_request or pr
            if entry is not None:
                findings.append(
                    Finding(c.sha, f"jitops commit added {path} (jitops never adds grant files)")
                )
            if blob not in added_blobs:
                want.added(blob)
            added_blobs.setdefault(blob, []).append((gid, path))
        elif status == "M" and entry is not None and entry.action == "issue":
            if blob not in status_blobs and blob not in added_blobs:
                want.status(blob)
            status_blobs[blob] = (gid, c.sha)
        elif status == "M" and entry is None:
            findings.append(Finding(c.sha, f"{path} was edited outside jitops"))
        elif status == "D" and entry is None and rec.ended_at is None:
            rec.ended_at = c.committed_at  # an early revoke by pull request; jitops records it
            rec.end_sha = c.sha
            rec._unexplained_deletion = c.sha if pr is None and len(c.parents) == 1 else None
        if status == "D":
            in_tree.discard(gid)
    if entry is None:
        return
    rec = records.get(entry.grant) or records.setdefault(entry.grant, Record(entry.grant))
    rec.requester = entry.requester or rec.requester
    rec.role = entry.role or rec.role
    if entry.pull_request is not None:
        rec.pull_request = entry.pull_request
    if (
        entry.action in ("revoke", "restore")
        and rec._unexplained_deletion is not None
        and _DELETED_BY_PR.match(entry.reason or "")
    ):
        rec.deletions_by_pull_request.append(rec._unexplained_deletion)
        rec._unexplained_deletion = None
    # -- time and risk: ratification records an emergency grant's fate; close ends the finding
    if entry.action == "ratify":
        rec.ratified_by = list(entry.approved_by)
        rec.ratified_at = c.committed_at
        return
    if entry.action == "close":
        rec.closed_reason = entry.reason or "(no reason)"
        rec.closed_by = trailers.get("Jitops-Actor")
        return
    if entry.action == "unratified":
        rec.unratified = True
        rec.emergency = True
        if rec.ended_by is not None:  # it had expired already: the record says unratified
            return
    if entry.action == "restore":
        rec.restores.append((c.sha, c.committed_at))
        # jitops put the file back as its issue commit wrote it (a deletion it refused, or a
        # merged edit of an issued grant's file): the grant never ended
        if rec.ended_by is None:
            rec.ended_at = None
            rec.end_sha = None
        return
    if entry.action == "issue":
        rec.issued += 1
        if rec.issued > 1:
            wrong = _not_a_reissue(rec, entry)
            if wrong:
                findings.append(Finding(c.sha, f"grant {rec.grant} was issued again {wrong}"))
        rec.issue_trailers[c.sha] = (entry.expires_at, tuple(entry.approved_by))
        rec.issued_at = c.committed_at
        rec.issue_sha = c.sha
        rec.policy_commit = judged_by
        if trailers.get("Jitops-Ratify-By"):
            try:
                rec.ratify_by = parse_time(trailers["Jitops-Ratify-By"])
                rec.emergency = True
            except (ValueError, OverflowError):
                findings.append(Finding(c.sha, "Jitops-Ratify-By is not a time"))
        rec.approved_by = list(entry.approved_by)
        rec.expires_at = entry.expires_at
    elif rec.ended_by is not None:
        # the grant had already ended: this removes a file someone added back (reported as
        # an id added again); the record keeps how and when it really ended
        return
    else:
        if entry.action == "revoke" and rec.ended_at is not None:
            pass  # keep the time the file was deleted; the revoke commit names why
        else:
            rec.ended_at = c.committed_at
            rec.end_sha = c.sha
        rec.ended_by = entry.action
        rec.end_reason = entry.reason
        if entry.expires_at is not None:
            rec.expires_at = rec.expires_at or entry.expires_at


REISSUE_SLACK = timedelta(minutes=2)  # a re-issue gets the time left, at least a minute


def _not_a_reissue(rec: Record, entry: LedgerEntry) -> str:
    """Why a second ``issue`` of ``rec`` is not a re-issue ('' when it is): jitops re-issues a
    grant whose delivery was never posted while it is still active, for the time it has left
    (at least a minute), never longer than what was approved."""
    if rec.ended_at is not None:
        return "after it had ended"
    if entry.expires_at is None or rec.expires_at is None:
        return "without an expiry to compare"
    if entry.expires_at > rec.expires_at + REISSUE_SLACK:
        return f"with a later expiry ({rfc3339(entry.expires_at)}, was {rfc3339(rec.expires_at)})"
    return ""


def _check_status(rec: Record, data: bytes, sha: str, findings: list[Finding]) -> None:
    grant, _ = read_grant(data, grant_path(rec.grant))
    if grant is None or grant.status is None:
        findings.append(Finding(sha, f"issue of {rec.grant} left no readable status block"))
        return
    st = grant.status
    rec.token_accessor = st.token_accessor
    expires_at, approved_by = rec.issue_trailers.get(sha, (rec.expires_at, tuple(rec.approved_by)))
    if expires_at is not None and st.expires_at != expires_at:
        findings.append(Finding(sha, f"{rec.grant}: status expires_at and trailer disagree"))
    if sorted(a.lower() for a in st.approved_by) != sorted(a.lower() for a in approved_by):
        findings.append(Finding(sha, f"{rec.grant}: status approved_by and trailer disagree"))
    if not st.token_accessor:
        findings.append(Finding(sha, f"{rec.grant}: status block has no token accessor"))


def note_static_secrets(
    records: Iterable[Record], secrets: Mapping[str, str | bool | None]
) -> None:
    """Mark each issued record whose role handed out a secret that outlives the grant.

    ``secrets``: ``{issue sha: the path of the static secret the role read, as the policy at
    that commit's first parent (the policy that judged the issue) defined it; False: none;
    None: that policy could not be read or has no such role}``. Unknown stays unknown: such a
    record says ``static_secret`` None, never "not static". Records never issued handed out
    nothing: False."""
    for r in records:
        if r.issue_sha is None or r.issued_at is None or r.issue_sha not in secrets:
            continue
        found = secrets[r.issue_sha]
        r.static_secret = None if found is None else isinstance(found, str)
        r.static_secret_path = found if isinstance(found, str) else None


def select(
    records: Iterable[Record],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    requester: str | None = None,
    role: str | None = None,
    active: bool = False,
) -> list[Record]:
    out = []
    for r in records:
        when = r.issued_at or r.requested_at
        if since and (when is None or when < since):
            continue
        if until and (when is None or when > until):
            continue
        if requester and (r.requester or "").lower() != requester.lower():
            continue
        if role and r.role != role:
            continue
        if active and not r.active:
            continue
        out.append(r)
    return sorted(
        out, key=lambda r: (r.issued_at or r.requested_at or datetime.min.astimezone(), r.grant)
    )


__all__ = ["KEYS", "History", "Record", "build", "note_static_secrets", "parse_time", "select"]
