"""`jitops request`: write a valid grant file, commit it on a branch and open the pull request.

Planning is pure (:func:`plan_request`); :func:`run_request` does the git and GitHub work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from jitops.core import checks
from jitops.core.extend import Link
from jitops.core.grant import GRANTS_DIR, ID_RE, grant_ids_in, grant_path, read_grant
from jitops.core.judge import judge
from jitops.core.policy import POLICY_DIR, Policy, load_policy
from jitops.core.sshkeys import usable_ssh_keys
from jitops.doors.git import Git
from jitops.errors import Problem, ProblemsError

if TYPE_CHECKING:
    from jitops.doors.github import GitHub


class RequestError(ProblemsError):
    """The request would not be valid; nothing was written."""


@dataclass(frozen=True)
class RequestPlan:
    grant_id: str
    path: str
    text: str
    branch: str
    title: str
    body: str


def new_id(role: str, login: str, today: datetime, used: set[str]) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", f"{role}-{login}-{today:%Y%m%d}".lower()).strip("-")[:58]
    candidate, n = stem, 1
    while candidate in used or not ID_RE.fullmatch(candidate):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def plan_request(
    policy: Policy,
    *,
    role: str,
    requester: str,
    duration: str,
    reason: str,
    ticket: str | None,
    used_ids: set[str],
    today: datetime,
    recipient: str | None = None,
    not_before: str | None = None,
    extends: str | None = None,
    emergency: bool = False,
    chain: Sequence[Link] | None = None,
) -> RequestPlan:
    grant_id = new_id(role, requester, today, used_ids)
    path = grant_path(grant_id)
    lines = [
        "# yaml-language-server: $schema=../.jitops/grant.schema.json",
        f"requester: {requester}",
        f"role: {role}",
        f"duration: {duration}",
        f"reason: {_quote(reason)}",
    ]
    if ticket:
        lines.append(f"ticket: {_quote(ticket)}")
    if recipient:
        lines.append(f"recipient: {_quote(recipient)}")
    # -- time and risk: scheduled, an extension, break-glass (judged as pr check judges them)
    if not_before:
        lines.append(f"not_before: {_quote(not_before)}")
    if extends:
        lines.append(f"extends: {_quote(extends)}")
    if emergency:
        lines.append("emergency: true")
    text = "\n".join(lines) + "\n"
    grant, problems = read_grant(text.encode(), path)
    if grant is not None:
        judgement = judge(grant, policy, at=today, teams=None, chain=chain)
        problems += checks.check_grant(
            grant,
            judgement.policy,
            checks.GrantContext(is_new=True, used_ids=used_ids, author=requester),
        )
        problems += judgement.problems
    errors = [p for p in problems if p.severity == "error"]
    if errors or grant is None:
        raise RequestError(errors or problems)
    role_def = policy.roles[role]
    body = (
        f"Access request: **{role}** for **{duration}**.\n\n> {reason}\n\n"
        + (f"Ticket: {ticket}\n\n" if ticket else "")
        + (
            f"**Sealed to the age recipient `{recipient}`** (not to my GitHub SSH keys): "
            "approve only if you know it is mine.\n\n"
            if recipient
            else ""
        )
        + (f"{role_def.description}\n\n" if role_def.description else "")
        + "jitops checks this pull request against the policy of the base branch and asks the "
        "right reviewers; merge once approved, then `jitops claim " + grant_id + "`."
    )
    return RequestPlan(
        grant_id,
        path,
        text,
        f"jitops/{grant_id}",
        f"Access: {role} for {requester} ({duration})",
        body,
    )


def check_keys(plan: RequestPlan, requester: str, keys: list[str], recipient: str | None) -> None:
    """Refuse, before anything is pushed, a request whose delivery could not be sealed: no
    ed25519 or RSA key on the requester's GitHub account and no age recipient named."""
    if recipient:
        return
    usable, notes = usable_ssh_keys(keys)
    if usable:
        return
    why = "; ".join(notes) if notes else "there is no SSH key on the account"
    raise RequestError(
        [
            Problem(
                plan.path,
                0,
                f"{requester} has no ed25519 or RSA SSH key on GitHub that the credential can "
                f"be sealed to ({why}); nothing was pushed. Add one at "
                "https://github.com/settings/keys (`ssh-keygen -t ed25519`), or, for a key "
                "in an agent or on hardware (1Password, Secretive, a YubiKey), name an age "
                "recipient: --recipient age1... (see the grants README)",
            )
        ]
    )


def run_request(
    git: Git,
    gh: GitHub | None,
    *,
    role: str,
    duration: str,
    reason: str,
    ticket: str | None,
    requester: str,
    today: datetime,
    remote: str = "origin",
    base: str = "main",
    open_pr: bool = True,
    recipient: str | None = None,
    not_before: str | None = None,
    extends: str | None = None,
    emergency: bool = False,
) -> tuple[RequestPlan, int | None]:
    git.fetch(remote, base)
    tip = f"{remote}/{base}"
    policy = load_policy(git.files_at(tip, POLICY_DIR, ".yaml"))
    used = grant_ids_in(git.paths_ever_added(tip, GRANTS_DIR))
    used |= set(git.local_branches("jitops/"))  # requests prepared here but not merged yet
    chain = None
    if extends:
        from jitops.lifecycle.extension import read_chain_offline

        chain = read_chain_offline(git, tip, extends, today)
    plan = plan_request(
        policy,
        not_before=not_before,
        extends=extends,
        emergency=emergency,
        chain=chain,
        role=role,
        requester=requester,
        duration=duration,
        reason=reason,
        ticket=ticket,
        used_ids=used,
        today=today,
        recipient=recipient,
    )
    if gh is not None:
        check_keys(plan, requester, gh.ssh_keys(requester), recipient)
    git.start_branch(plan.branch, tip)
    git.commit({plan.path: plan.text.encode()}, f"Request {role} for {duration}\n\n{reason}\n")
    if not open_pr or gh is None:
        return plan, None
    git.push_branch(remote, plan.branch)
    return plan, gh.create_pull(plan.branch, base, plan.title, plan.body)
