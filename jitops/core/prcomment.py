"""The sticky pull-request comment of `jitops pr check` (markdown, pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from jitops.core import freetext
from jitops.core.approvals import Approval, Evaluation
from jitops.core.duration import format_duration
from jitops.core.grant import Grant, format_time
from jitops.core.inert import code_span
from jitops.core.leases import static_note
from jitops.core.policy import Policy
from jitops.core.whatif import UNVERIFIED, Diff, Judgement
from jitops.errors import Problem

_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")

#: hidden marker finding the one comment jitops keeps up to date
MARKER = "<!-- jitops:pr-check -->"


def revoke_comment(lines: Sequence[str]) -> str:
    """The comment on a pull request deleting grants (``lines``: one per grant)."""
    return (
        f"{MARKER}\n### jitops: early revoke\n\n" + "\n".join(lines) + "\n\nMerging this "
        "pull request revokes the access at once (the issue job runs on the merge). A grant "
        "that is not yours ends only with an approval of this pull request's latest commit, "
        "before the merge, from its role's approvers or the admins; without it jitops puts the "
        "file back and the access stays.\n"
    )


def policy_comment(problems: Sequence[Problem], whatif: str = "") -> str:
    """The comment on a pull request changing policies/ (``whatif``: :func:`whatif_section`)."""
    body = "\n".join(f"- `{p}`" for p in problems) or "- the new policy loads\n- policy tests pass"
    return (
        f"{MARKER}\n### jitops: policy change\n\n{body}\n\n"
        + (f"{whatif}\n" if whatif else "")
        + "Policy changes need a code-owner review; they apply to pull requests opened after "
        "the merge.\n"
    )


#: how many changed grants a what-if lists (the rest are counted), and sentences per grant
WHATIF_LIMIT = 20
_DETAILS_LIMIT = 4


def whatif_section(
    diff: Diff, since: datetime, *, limit: int = WHATIF_LIMIT, candidate: str = "this policy"
) -> str:
    """The what-if of a policy change as markdown: the first ``limit`` grants judged
    differently and a count of the rest. Whatever a requester wrote (the grant's id, requester,
    role, duration) is in code spans: no markup, no link, no mention."""
    judged = (
        f"{diff.active} active grant{'s' if diff.active != 1 else ''} and {diff.requests} "
        f"request{'s' if diff.requests != 1 else ''} since {format_time(since)}"
    )
    out = ["#### What-if"]
    if not diff.changes:
        out.append(f"Judged by {candidate}, none of the {judged} changes outcome.")
    else:
        n = len(diff.changes)
        out += [
            f"Judged by {candidate}, {n} of the {judged} change{'s' if n == 1 else ''}:",
            "",
        ]
        for c in diff.changes[:limit]:
            f = c.facts
            who = ", ".join(code_span(v or "?", limit=80) for v in (f.requester, f.role))
            out.append(
                f"- {code_span(f.grant_id, limit=80)} ({who}; {f.state}): "
                f"**{_outcome(c.before)}** → **{_outcome(c.after)}** ({', '.join(c.kinds)})"
            )
            out += [f"  - {code_span(d, limit=300)}" for d in c.details[:_DETAILS_LIMIT]]
            if len(c.details) > _DETAILS_LIMIT:
                out.append(f"  - and {len(c.details) - _DETAILS_LIMIT} more")
        if n > limit:
            out.append(f"- … and {n - limit} more (`jitops policy diff` lists them all)")
    if diff.skipped:
        out += [
            "",
            f"{len(diff.skipped)} grant(s) could not be judged (their files as added "
            "could not be read).",
        ]
    if not diff.teams_verified:
        out += [
            "",
            "Team membership was not verified (offline): an outcome that depends on it "
            f"is shown as {UNVERIFIED}.",
        ]
    out += [
        "",
        "Approvals are the ones jitops recorded when it issued each grant; a request it never "
        "issued had none recorded.",
    ]
    return "\n".join(out) + "\n"


def _outcome(j: Judgement) -> str:
    return " or ".join(j.possible) + "?" if j.outcome == UNVERIFIED else str(j.outcome)


def grant_comment(
    grant: Grant | None,
    evaluation: Evaluation | None,
    errors: Sequence[Problem],
    policy: Policy | None,
    summary: str,
    now: datetime | None,
    notes: Sequence[str] = (),
) -> str:
    """The comment on a grant pull request: the request, its problems, its approvals."""
    out = [MARKER, f"### jitops: {summary}", ""]
    if grant is not None:
        role = policy.roles.get(grant.role) if policy else None
        # a valid login is mentioned (the requester is told); anything else is inert text
        who = f"@{grant.requester}" if _LOGIN.fullmatch(grant.requester) else _cell(grant.requester)
        out += [
            "| | |",
            "| --- | --- |",
            f"| requester | {who} |",
            f"| role | {_cell(grant.role)}{_about(role.description if role else '')} |",
            f"| duration | {_cell(grant.duration_text)} |",
        ]
        # a field the free-text lint refuses is never repeated: a comment outlives the branch
        # (rewritten to drop the value) and goes out in notification e-mails
        allow = policy.settings.free_text.allow if policy else ()
        fields = {"reason": grant.reason, "ticket": grant.ticket}
        refused = {f.field for f in freetext.check(fields, allow)}
        for name, text in fields.items():
            if text and name in refused:
                out.append(f"| {name} | *(not shown: see the problems below)* |")
            elif text:
                out.append(f"| {name} | {_cell(text)} |")
        if grant.recipient:
            out.append(f"| **sealed to** | {_cell(grant.recipient)} (age recipient, see below) |")
        if now is not None:
            out.append(f"| would expire | {format_time(now + grant.duration)} if merged now |")
        out.append("")
        if grant.recipient:
            out += [
                "> [!WARNING]",
                f"> The credential will be sealed ONLY to the age recipient "
                f"{code_span(grant.recipient)}, not to the SSH keys on the requester's GitHub "
                "account. Whoever holds its identity can claim the credential: approve only if "
                "you know it is the requester's own (ask them to show it, e.g. "
                "`age-keygen -y KEYFILE` or `age-plugin-yubikey --list`).",
                "",
            ]
    if errors:
        out.append("**Problems** (fix them and push again):")
        # messages quote what the requester wrote: a code span renders none of it
        out += [
            f"- {code_span(p.path + (':' + str(p.line) if p.line else ''))} "
            f"{code_span(p.message, limit=400)}"
            for p in errors
        ]
        out.append("")
    if evaluation is not None and evaluation.outcome is not Approval.INVALID:
        out.append("**Approvals** (only approvals of the latest commit count):")
        out += [f"- {line}" for line in evaluation.explain()]
        out.append("")
    if notes:  # time and risk: each matching risk entry and why; break-glass; extension
        out.append("**Risk and time** (rules added to the role's own):")
        out += [f"- {code_span(n, limit=300)}" for n in notes]
        out.append("")
    if policy is not None and grant is not None and grant.role in policy.roles:
        role = policy.roles[grant.role]
        if role.vault_static and role.vault_secret:
            out.append(f"**Static secret.** {static_note(role.vault_secret)}.")
            out.append("")
        out.append(
            f"Policy read from the base branch; role maximum {format_duration(role.max_duration)}."
        )
    return "\n".join(out) + "\n"


def _about(description: str) -> str:
    return f" — {description}" if description else ""


def _cell(text: str) -> str:
    """Requester-written text as an inert table cell: one line, a code span (no markdown, no
    HTML, no @-mentions), pipes escaped so the table stays a table."""
    return code_span(text, in_table=True, limit=500)
