"""`jitops issue`: turn grants merged to main into Vault access, or deny them.

For each grant file added in the pushed range:

1. find the merged pull request that added it and re-evaluate its approvals as of its head
   commit, against the policy of the merge's first parent (branch protection can be bypassed
   by admins; this check cannot);
2. approved: create an orphan Vault token whose TTL is the grant's duration, wrap the secret,
   seal the wrapping token to the requester's SSH keys, post it in the pull request, then
   commit the ``status:`` block; not approved: remove the file in a ``deny`` commit.

Re-running is safe: a grant whose file already has a status is skipped, and a grant whose
delivery comment exists but whose commit never landed is recorded from that comment instead
of being issued twice. A token created by a run that died before posting its delivery cannot
be used by anyone (its wrapping token was never delivered) and is revoked by the next sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from jitops import approvals, checks, deliver
from jitops.errors import JitopsError
from jitops.grant import GRANTS_DIR, Grant, format_time, read_grant
from jitops.ledger import Git, PlannedCommit, names_in
from jitops.lifecycle import plan
from jitops.lifecycle.services import Services, log
from jitops.notify import Event
from jitops.policy import PolicyError


@dataclass(frozen=True)
class Outcome:
    """What a run did with one grant (for output, tests and the demo)."""

    grant: str
    action: str  # issued | recorded | denied | skipped | revoked | expired | failed
    detail: str
    pull_request: int | None = None


@dataclass(frozen=True)
class _Pending:
    grant: Grant
    commit: PlannedCommit
    outcome: Outcome
    event: Event | None


def run_issue(
    svc: Services, *, before: str | None, after: str, now: datetime | None = None
) -> list[Outcome]:
    """Issue or deny every grant added to ``grants/`` in ``before..after``."""
    svc.git.fetch(svc.remote, svc.branch)
    added = svc.git.grants_added(before, after, GRANTS_DIR)
    if not added:
        svc.say("no grant was added in this push")
    outcomes = issue_grants(svc, added, now=now)
    return outcomes + early_revokes(svc, before=before, after=after, now=now)


def early_revokes(
    svc: Services, *, before: str | None, after: str, now: datetime | None = None
) -> list[Outcome]:
    """Revoke grants whose active files a merged pull request deleted in the range."""
    now = now or datetime.now(UTC)
    outcomes = []
    for status, path, sha in svc.git.changes_in_range(before, after, GRANTS_DIR):
        if status != "D" or not names_in([path], GRANTS_DIR, ".yaml"):
            continue
        if svc.git.jitops_entry(sha) is not None:
            continue  # jitops' own expire / deny / revoke (trailers alone prove nothing)
        data = svc.git.show(f"{sha}^1", path)
        grant, _ = read_grant(data, path) if data is not None else (None, [])
        if grant is None or grant.status is None:
            continue
        if svc.git.recorded(f"{svc.remote}/{svc.branch}", grant.id, "revoke"):
            outcomes.append(Outcome(grant.id, "skipped", "early revoke already recorded"))
            continue
        from jitops.lifecycle.sweep import end_grant

        numbers = svc.github.pulls_for_commit(sha)
        by = f"pull request #{numbers[0]}" if numbers else f"commit {sha[:12]}"
        outcomes.append(
            end_grant(
                svc,
                grant,
                f"{by} deleted the grant file (early revoke)",
                now=now,
                remove=False,
            )
        )
    return outcomes


def issue_grants(
    svc: Services, added: Sequence[tuple[str, str]], *, now: datetime | None = None
) -> list[Outcome]:
    """Issue or deny grants given as ``(grant id, sha of the commit that added it)``."""
    tip = f"{svc.remote}/{svc.branch}"
    current = svc.grants_at(tip)
    outcomes: list[Outcome] = []
    pending: list[_Pending] = []
    for grant_id, sha in added:
        grant = current.get(grant_id)
        if grant is None:
            outcomes.append(Outcome(grant_id, "skipped", f"{grant_id} is no longer in grants/"))
            continue
        if grant.status is not None:
            outcomes.append(Outcome(grant_id, "skipped", f"{grant_id} was already issued"))
            continue
        try:
            pending.append(_decide(svc, grant, sha, now or datetime.now(UTC)))
        except JitopsError as exc:
            # Nothing was committed for this grant; a later run (or the sweep) retries it.
            log.error("issue of %s failed: %s", grant_id, exc)
            outcomes.append(Outcome(grant_id, "failed", str(exc)))
    if pending:
        _land(svc, pending)
        for item in pending:
            outcomes.append(item.outcome)
            if item.event is not None:
                policy = svc.policy_at(tip)
                svc.notify(policy, item.event)
    return outcomes


def _decide(svc: Services, grant: Grant, sha: str, now: datetime) -> _Pending:
    gh = svc.github
    numbers = gh.pulls_for_commit(sha)
    prs = [gh.pull_request(n) for n in numbers]
    merged = [p for p in prs if p.merged]
    base_ref = f"{sha}^1"
    try:
        policy = svc.policy_at(base_ref)
    except PolicyError as exc:
        return _deny(svc, grant, None, f"the policy at {base_ref} is invalid: {exc}", now)
    if not merged:
        return _deny(
            svc,
            grant,
            None,
            "the grant reached main without a merged pull request; open a pull request",
            now,
        )
    pr = merged[0]
    used = names_in(svc.git.paths_ever_added(base_ref, GRANTS_DIR), GRANTS_DIR, ".yaml")
    problems = checks.check_grant(
        grant,
        policy,
        checks.GrantContext(is_new=True, used_ids=used, author=pr.author, teams=gh.is_team_member),
    )
    evaluation = approvals.evaluate(
        grant,
        policy,
        author=pr.author,
        head_sha=pr.head_sha,
        reviews=gh.reviews(pr.number),
        teams=gh.is_team_member,
        problems=problems,
    )
    if evaluation.outcome != "approved":
        why = "; ".join(evaluation.explain()) or evaluation.outcome
        return _deny(svc, grant, pr.number, f"not approved at merge ({why})", now)

    keys, notes = deliver.usable_ssh_keys(gh.ssh_keys(grant.requester))
    if not keys:
        detail = "; ".join(notes) if notes else "no SSH key at all"
        return _deny(
            svc,
            grant,
            pr.number,
            f"{grant.requester} has no ed25519 or RSA SSH key on GitHub ({detail}); add one at "
            "https://github.com/settings/keys and request again",
            now,
        )

    approvers = tuple(evaluation.approvers)
    me = gh.whoami(policy.settings.bot)  # only our own comments are evidence, not look-alikes
    record = plan.find_issued_record(
        (c.body for c in gh.comments(pr.number) if c.author.lower() == me.lower()), grant.id
    )
    if record is not None:
        status = plan.active_status(
            pull_request=pr.number,
            approved_by=approvers,
            issued_at=record.issued_at,
            expires_at=record.expires_at,
            accessor=record.accessor,
        )
        return _Pending(
            grant,
            plan.issue_commit(grant, status),
            Outcome(grant.id, "recorded", "delivery already posted; recorded it", pr.number),
            None,
        )

    role = policy.roles[grant.role]
    vault = svc.vault(policy)
    issued = vault.issue(
        grant_id=grant.id,
        requester=grant.requester,
        role=role,
        duration=grant.duration,
        pull_request=pr.number,
        wrap_ttl=policy.settings.wrap_ttl,
        token_role=policy.settings.vault.token_role,
    )
    issued_at = issued.expires_at - grant.duration  # when Vault started the token's clock
    payload = deliver.payload_for(
        grant_id=grant.id, vault_addr=vault.addr, wrapping_token=issued.wrapping_token
    )
    armored = deliver.seal(payload, keys)
    body = deliver.render_delivery_comment(
        grant_id=grant.id,
        requester=grant.requester,
        role=grant.role,
        expires_at=issued.expires_at,
        armored=armored,
        wrap_ttl_seconds=int(policy.settings.wrap_ttl.total_seconds()),
        key_fingerprints=[deliver.fingerprint(k) for k in keys],
    )
    marker = plan.issued_marker(grant.id, issued.accessor, issued_at, issued.expires_at)
    gh.comment(pr.number, body + "\n" + marker + "\n")
    status = plan.active_status(
        pull_request=pr.number,
        approved_by=approvers,
        issued_at=issued_at,
        expires_at=issued.expires_at,
        accessor=issued.accessor,
    )
    event = svc.event("issued", grant, now, pull_request=pr.number, status=status)
    return _Pending(
        grant,
        plan.issue_commit(grant, status),
        Outcome(
            grant.id,
            "issued",
            f"issued to {grant.requester} until {format_time(issued.expires_at)}",
            pr.number,
        ),
        event,
    )


def _deny(svc: Services, grant: Grant, pr: int | None, reason: str, now: datetime) -> _Pending:
    if pr is not None:
        svc.github.comment(
            pr,
            f"**jitops: access denied** for `{grant.id}` ({grant.requester}, {grant.role}).\n\n"
            f"{reason}\n\nThe grant file is removed from main; no access was issued. "
            "Open a new pull request with a new grant id to ask again.",
        )
    event = svc.event("denied", grant, now, pull_request=pr, reason=reason)
    return _Pending(
        grant,
        plan.deny_commit(grant, pr, reason),
        Outcome(grant.id, "denied", reason, pr),
        event,
    )


def _land(svc: Services, pending: Sequence[_Pending]) -> list[str]:
    """Commit every decision in one push, re-checked against the freshly fetched main."""

    def build(git: Git) -> list[PlannedCommit]:
        fresh = {g.id: g for g in _grants_in_worktree(git)}
        out = []
        for item in pending:
            now_there = fresh.get(item.grant.id)
            if now_there is None or now_there.status is not None:
                continue  # someone else recorded or removed it meanwhile
            out.append(item.commit)
        return out

    return svc.git.land(svc.remote, svc.branch, build)


def _grants_in_worktree(git: Git) -> list[Grant]:
    out = []
    for path, data in git.files_at("HEAD", GRANTS_DIR, ".yaml").items():
        grant, _ = read_grant(data, path)
        if grant is not None:
            out.append(grant)
    return out


__all__ = ["Outcome", "early_revokes", "issue_grants", "run_issue"]
