"""Judging one grant against the policy (pure: no git, no network).

``check_grant`` returns located problems. Errors make the grant invalid; a *warning* is
something that could not be decided offline (team membership) and is decided later by
``pr check`` through GitHub — it is reported, never silently passed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from jitops.core import freetext
from jitops.core.duration import format_duration
from jitops.core.grant import Grant
from jitops.core.policy import Policy
from jitops.core.principals import TeamLookup, same_login
from jitops.errors import Problem

#: The rule behind each problem :func:`check_grant` finds (``Problem.code``): what a policy
#: change can turn on or off for the same grant (`jitops policy diff` compares them).
CODES = (
    "status",  # a request carries a status block
    "id-reused",
    "not-author",  # the requester is not the pull request's author
    "free-text",  # the free-text lint refused reason or ticket
    "unknown-role",
    "over-max-duration",
    "blank-reason",
    "ticket-required",
    "ticket-pattern",
    "requester-unverified",  # eligible only through a team: not verified offline (warning)
    "requester-not-eligible",
)


@dataclass(frozen=True)
class GrantContext:
    """What is known about a grant beyond its file.

    ``is_new``: the file is added by the change being judged (a request), so it must not carry
    a status block and its id must never have been used before.
    ``used_ids``: every grant id that ever existed in the history of ``grants/`` at the base.
    ``author``: the pull request author, when known. ``teams``: a GitHub team lookup, when
    available (None offline).
    """

    is_new: bool = True
    used_ids: Collection[str] | None = None
    author: str | None = None
    teams: TeamLookup | None = None


def check_grant(grant: Grant, policy: Policy, ctx: GrantContext | None = None) -> list[Problem]:
    ctx = ctx or GrantContext()
    out: list[Problem] = []

    def err(key: str, message: str, code: str, severity: str = "error") -> None:
        out.append(Problem(grant.path, grant.line(key), message, severity, code))

    if ctx.is_new and grant.status is not None:
        err(
            "status",
            "a request must not contain 'status:'; jitops writes it when access is issued — "
            "remove the status block",
            "status",
        )
    if ctx.is_new and ctx.used_ids is not None and grant.id in ctx.used_ids:
        out.append(
            Problem(
                grant.path,
                0,
                f"grant id {grant.id!r} was already used in the history of grants/; ids are "
                "never reused so the ledger stays unambiguous — rename the file to a new id",
                code="id-reused",
            )
        )
    if ctx.author is not None and not same_login(ctx.author, grant.requester):
        err(
            "requester",
            f"requester {grant.requester} is not the pull request author {ctx.author}; "
            "people ask for access for themselves — the requester must open the pull request",
            "not-author",
        )

    # Free text first: a message below may quote a field, never one the lint refused.
    leaked = freetext.check(
        {"reason": grant.reason, "ticket": grant.ticket}, policy.settings.free_text.allow
    )
    for finding in leaked:
        err(finding.field, freetext.message(finding), "free-text")
    refused = {finding.field for finding in leaked}

    role = policy.roles.get(grant.role)
    if role is None:
        known = ", ".join(sorted(policy.roles)) or "none"
        err(
            "role",
            f"role {grant.role!r} is not defined in policies/; known roles: {known}",
            "unknown-role",
        )
        return out

    if grant.duration > role.max_duration:
        err(
            "duration",
            f"duration {grant.duration_text} exceeds the {format_duration(role.max_duration)} "
            f"maximum of role {role.name}; ask for {format_duration(role.max_duration)} or less",
            "over-max-duration",
        )
    if len(grant.reason.strip()) < 10 <= len(grant.reason):
        err(
            "reason",
            "reason is mostly blank; say in 10 to 500 characters why access is needed",
            "blank-reason",
        )
    if role.require_ticket and not (grant.ticket or "").strip():
        err(
            "ticket" if grant.ticket is not None else "role",
            f"role {role.name} requires a ticket; add 'ticket: <ticket id>' (e.g. INC-1234)",
            "ticket-required",
        )
    pattern = policy.settings.ticket_pattern
    if grant.ticket is not None and pattern and not re.search(pattern, grant.ticket):
        shown = "" if "ticket" in refused else f" {grant.ticket!r}"
        err(
            "ticket",
            f"ticket{shown} does not match the ticket pattern {pattern!r} of the "
            "policy; use a ticket id of that form",
            "ticket-pattern",
        )
    out.extend(_requester_problems(grant, policy, ctx))
    return out


def _requester_problems(grant: Grant, policy: Policy, ctx: GrantContext) -> list[Problem]:
    role = policy.roles[grant.role]
    undecided = []
    for principal in role.requesters:
        verdict = principal.matches(grant.requester, ctx.teams)
        if verdict:
            return []
        if verdict is None:
            undecided.append(str(principal))
    line = grant.line("requester")
    if undecided:
        return [
            Problem(
                grant.path,
                line,
                f"requester {grant.requester} may request {role.name} only as a member of "
                f"{', '.join(undecided)}; team membership is not verified offline "
                "(`pr check` verifies it through GitHub)",
                "warning",
                "requester-unverified",
            )
        ]
    allowed = ", ".join(str(p) for p in role.requesters)
    return [
        Problem(
            grant.path,
            line,
            f"{grant.requester} may not request role {role.name}; it is open to {allowed} — "
            "ask an admin, or pick a role you are eligible for",
            code="requester-not-eligible",
        )
    ]
