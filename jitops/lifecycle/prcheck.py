"""`jitops pr check` / `jitops pr approvals`: read a pull request, decide, write the result.

The decision is pure (:func:`jitops.core.prcheck.decide`); :func:`run` does the I/O: it reads
the pull request from git and GitHub, and writes the statuses, the sticky comment and the
review requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jitops.core.grant import GRANTS_DIR, grant_ids_in, is_grant_path, read_grant
from jitops.core.policy import POLICY_DIR, PolicyError, load_policy
from jitops.core.prcheck import (
    MARKER,
    MERGE_GROUP_SUMMARY,
    Change,
    PrDecision,
    PrInputs,
    classify,
    decide,
)
from jitops.doors.git import Git
from jitops.errors import Problem

if TYPE_CHECKING:
    from jitops.doors.github import GitHub

#: how far back the what-if of a policy change looks for requests (`policy diff --since`)
WHATIF_WINDOW = timedelta(days=30)

__all__ = ["MARKER", "MERGE_GROUP_SUMMARY", "PrDecision", "github_doors", "pass_merge_group", "run"]


def github_doors(
    repo_name: str, token: str, api_url: str, environ: Mapping[str, str]
) -> tuple[GitHub, GitHub | None]:
    """The GitHub door that writes and the one that answers team membership (None: the same).

    Inside Actions the workflow's GITHUB_TOKEN writes (statuses, the comment, review requests)
    and the optional JITOPS_GITHUB_TOKEN, often read-only, answers team membership."""
    from jitops.doors.github import GitHub

    writer, members = token, None
    env_members, env_writer = environ.get("JITOPS_GITHUB_TOKEN"), environ.get("GITHUB_TOKEN")
    if env_members and env_writer and token == env_members and env_writer != env_members:
        writer = env_writer
        members = GitHub(repo_name, env_members, api_url)
    return GitHub(repo_name, writer, api_url), members


def pass_merge_group(gh: GitHub, sha: str) -> None:
    """Passing ``jitops/*`` statuses on a merge queue's group commit (``merge_group`` event).

    Every pull request in the group passed its own required ``jitops/*`` checks to enter the
    queue, and `jitops issue` judges each one again on main (the policy before it landed, its
    reviews, its file set); a required check must never leave the queue waiting forever.
    """
    for context in ("jitops/validate", "jitops/approval"):
        gh.set_status(sha, context, "success", MERGE_GROUP_SUMMARY)


def run(
    git: Git,
    gh: GitHub,
    number: int,
    *,
    now: datetime,
    request_reviews: bool,
    remote: str = "origin",
    environ: Mapping[str, str] | None = None,
    members: GitHub | None = None,
) -> PrDecision:
    """Read the pull request, decide, and write statuses, the sticky comment and review requests.

    ``request_reviews`` is the full `pr check`; without it (`pr approvals`, after a review) the
    requester's SSH keys are not looked up again and nobody is asked for review. ``members``,
    when given, answers team membership (a token with organisation members read access).
    """
    from jitops.doors.github import GitHubError

    pr = gh.pull_request(number)
    git.ensure_commits(remote, [pr.base_sha, pr.head_sha])
    changes = [Change(f.path, f.status, f.previous_path) for f in gh.pull_files(number)]
    kind, _ = classify(changes)
    head_files: dict[str, bytes] = {}
    base_files: dict[str, bytes] = {}
    for c in changes:
        if is_grant_path(c.path):
            data = git.show(pr.head_sha, c.path)
            if data is not None:
                head_files[c.path] = data
            old = git.show(pr.base_sha, c.previous_path or c.path)
            if old is not None:
                base_files[c.path] = old
    ssh_keys = None
    chain = None
    grant_paths = [c.path for c in changes if c.status == "added" and c.path in head_files]
    if kind == "grant" and grant_paths:  # time and risk: what `extends` names, from git
        asked, _ = read_grant(head_files[grant_paths[0]], grant_paths[0])
        if asked is not None and asked.extends:
            from jitops.lifecycle.extension import read_chain_offline

            chain = read_chain_offline(git, pr.base_sha, asked.extends, now)
    if kind == "grant" and grant_paths and request_reviews:  # `pr approvals` re-judges reviews only
        grant, _ = read_grant(head_files[grant_paths[0]], grant_paths[0])
        if grant is not None:
            ssh_keys = gh.ssh_keys(grant.requester)
    head_policy = git.files_at(pr.head_sha, POLICY_DIR, ".yaml")
    policy_failures: list[str] = []
    whatif_facts = None
    if kind == "policy":
        from jitops.lifecycle.whatif import read_facts

        whatif_facts = read_facts(git, pr.base_sha, now - WHATIF_WINDOW)
        from jitops.core.policytest import run_cases

        try:
            head = load_policy(head_policy)
            cases = git.files_at(pr.head_sha, f"{POLICY_DIR}/tests", ".yaml")
            policy_failures = [str(f) for f in run_cases(head, cases).failures]
        except PolicyError:
            pass  # reported by decide()
    inputs = PrInputs(
        number=number,
        author=pr.author,
        head_sha=pr.head_sha,
        changes=changes,
        base_policy_files=git.files_at(pr.base_sha, POLICY_DIR, ".yaml"),
        head_policy_files=head_policy,
        head_files=head_files,
        base_files=base_files,
        used_ids=frozenset(grant_ids_in(git.paths_ever_added(pr.base_sha, GRANTS_DIR))),
        reviews=gh.reviews(number) if kind in ("grant", "revoke") else (),
        ssh_keys=ssh_keys,
        policy_tests=policy_failures,
        now=now,
        whatif_facts=whatif_facts,
        whatif_since=now - WHATIF_WINDOW,
        created_at=pr.created_at,
        chain=chain,
    )
    try:
        decision = decide(inputs, (members or gh).is_team_member)
    except GitHubError:
        if kind != "policy":
            raise
        # the what-if is the only reader of team membership on a policy change: without it
        # (a token without members read access) the what-if says membership is not verified
        decision = decide(inputs, None)
    gh.set_status(pr.head_sha, "jitops/validate", decision.validate, decision.summary)
    gh.set_status(pr.head_sha, "jitops/approval", decision.approval, decision.summary)
    if decision.comment:
        gh.upsert_comment(number, MARKER, decision.comment)
    if request_reviews and (decision.request_users or decision.request_teams):
        org = gh.repo_full_name.split("/")[0].lower()
        teams = [t.split("/", 1)[1] for t in decision.request_teams if t.split("/")[0] == org]
        users = list(decision.request_users)
        try:
            gh.request_reviewers(number, users, teams)
        except GitHubError as exc:  # a convenience: the statuses and the comment are written
            # GitHub refuses the whole request when one person cannot review: ask the teams
            asked_teams = bool(teams and users)
            if asked_teams:
                try:
                    gh.request_reviewers(number, [], teams)
                except GitHubError:
                    asked_teams = False
            who = ", ".join(users) if asked_teams else "the approvers named in the comment"
            note = Problem(
                "pull request",
                0,
                f"could not ask for reviews ({exc}); ask {who} directly",
                severity="warning",
            )
            decision = replace(decision, problems=(*decision.problems, note))
    _notify(decision, inputs, pr.url, gh.repo_full_name, now, environ, request_reviews)
    return decision


def _notify(
    decision: PrDecision,
    inputs: PrInputs,
    url: str,
    repository: str,
    now: datetime,
    environ: Mapping[str, str] | None,
    first_check: bool,
) -> None:
    """`requested` on the full check of a valid grant PR, `approved` once approvals are in."""
    grant = decision.grant
    if environ is None or grant is None or decision.validate != "success":
        return
    kind = "approved" if decision.approval == "success" else "requested"
    if kind == "requested" and not first_check:
        return
    from jitops.doors.webhooks import Event, Notifier

    try:
        policy = load_policy(inputs.base_policy_files)
    except PolicyError:
        return
    ev = decision.evaluation
    Notifier(policy.settings.notify, environ).send(
        Event(
            kind=kind,
            grant_id=grant.id,
            requester=grant.requester,
            role=grant.role,
            pull_request=inputs.number,
            approved_by=ev.approvers if ev else (),
            reason=grant.reason,
            at=now,
            repository=repository,
            url=url or None,
        )
    )
