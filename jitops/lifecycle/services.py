"""The outside systems a lifecycle run talks to, bundled so tests can point them anywhere."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitops.core.gate import DEFAULT_GIVE_UP_AFTER
from jitops.core.grant import GRANT_SUFFIX, GRANTS_DIR, Grant
from jitops.core.notify_payload import grant_event
from jitops.core.policy import POLICY_DIR, Policy, PolicyError, VaultSettings, load_policy
from jitops.core.tip import Tip, parse_grant_files
from jitops.doors.git import Git, check_signing
from jitops.doors.webhooks import Event, Notifier
from jitops.errors import JitopsError, UsageError

if TYPE_CHECKING:
    from jitops.doors.github import GitHub
    from jitops.doors.vault.client import Vault
    from jitops.doors.vault.model import TokenInfo

log = logging.getLogger("jitops")

#: Runs come every few minutes (schedule, pushes); an hour of re-checks covers a delayed or
#: dropped scheduled run, and costs GitHub requests only for grants issued within it.
RECHECK_WITHIN = timedelta(hours=1)


@dataclass
class Services:
    """The doors a lifecycle run works through (git, GitHub, Vault, webhooks) and where they
    point. What a run reads of main is a :class:`~jitops.core.tip.Tip` (:func:`read_tip`), not
    kept here. ``vault`` is connected lazily: a run that only denies or only records never logs
    in to Vault.

    ``environ`` holds the job's environment (VAULT_TOKEN, GITHUB_TOKEN, webhook secrets): it
    is left out of ``repr()``, as are the doors holding credentials.
    ``give_up_after``: how long a grant whose pull request cannot be determined stays
    ``failed`` (retried by every run) before it is denied with that reason.
    ``recheck_within``: for how long after issuing a run checks with GitHub that the delivery
    comment was posted (else re-issues) and that the status commit belongs to no pull request.
    ``repository_id``: GitHub's id of the access repository (``GITHUB_REPOSITORY_ID`` in
    Actions), written into every grant token and matched before the name: a renamed or
    transferred repository keeps it. ``clock``: the time now, read again where a run's start
    time (``now``) is too old to decide (a token that expired while the run went on).
    """

    git: Git
    github: GitHub = field(repr=False)
    connect_vault: Callable[[Policy], Vault] = field(repr=False)
    environ: Mapping[str, str] = field(repr=False)
    remote: str = "origin"
    branch: str = "main"
    repository: str | None = None
    repository_id: str | None = None
    say: Callable[[str], None] = field(default=lambda _msg: None, repr=False)
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER
    recheck_within: timedelta = RECHECK_WITHIN
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    _vaults: dict[VaultSettings, Vault] = field(default_factory=dict, repr=False)

    @property
    def tip(self) -> str:
        """The remote-tracking ref of the protected branch (what was fetched last), named in
        full: git resolves a short ``origin/main`` to a tag of that name first (gitrevisions(7)),
        and any writer can push tags."""
        return f"refs/remotes/{self.remote}/{self.branch}"

    def is_ours(
        self,
        token: TokenInfo | None,
        grant_id: str,
        *,
        requester: str | None = None,
        role: str | None = None,
    ) -> bool:
        """Whether Vault's record of ``token`` says it is the live token jitops created for
        ``grant_id`` in this repository (by id when both know it, else by name)."""
        return token is not None and token.is_grant(
            grant_id,
            requester=requester,
            role=role,
            repository=self.repository,
            repository_id=self.repository_id,
        )

    def revoke_grant_token(self, policy: Policy, accessor: str, grant_id: str) -> str:
        """:meth:`Vault.revoke_grant_token` for this repository: ``revoked``, ``gone`` or
        ``foreign``."""
        return self.vault(policy).revoke_grant_token(
            accessor, grant_id, repository=self.repository, repository_id=self.repository_id
        )

    def vault(self, policy: Policy) -> Vault:
        """Vault, logged in with ``policy``'s Vault settings on first use (one connection per
        distinct settings: a run that only denies or only records never logs in)."""
        settings = policy.settings.vault
        if settings not in self._vaults:
            self._vaults[settings] = self.connect_vault(policy)
        return self._vaults[settings]

    def notify(self, policy: Policy, event: Event) -> None:
        """Send ``event`` to ``policy``'s webhooks (a bad entry is logged and skipped:
        notifications never block the lifecycle)."""
        self.notifier(policy).send(event)

    def notifier(self, policy: Policy) -> Notifier:
        return Notifier(policy.settings.notify, self.environ, logger=log)

    def event(self, kind: str, grant: Grant, now: datetime, **facts: Any) -> Event:
        """:func:`jitops.core.notify_payload.grant_event` for this repository."""
        server = self.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return grant_event(kind, grant, now, repository=self.repository, server=server, **facts)


def policy_at(git: Git, ref: str) -> Policy:
    """The policy in ``policies/`` at ``ref`` (PolicyError when it does not load)."""
    return load_policy(git.files_at(ref, POLICY_DIR, ".yaml"))


def read_tip(svc: Services) -> Tip:
    """The tip of main, read once for a run: its grant files (parsed), its policy and the last
    good policy (the newest on the first-parent line that loads, when the tip's does not)."""
    git, ref = svc.git, svc.tip
    files = parse_grant_files(git.files_at(ref, GRANTS_DIR, GRANT_SUFFIX))
    try:
        policy = policy_at(git, ref)
    except PolicyError as first:
        last_good: Policy | None = None
        for sha in git.first_parent_touching(ref, POLICY_DIR, 50):
            try:  # the policy as it was before each change, newest first
                last_good = policy_at(git, f"{sha}^1")
                break
            except (PolicyError, JitopsError):
                continue
        return Tip(ref, files, None, first, last_good, None if last_good else first)
    return Tip(ref, files, policy, None, policy)


def tip_policy_or_none(tip: Tip, branch: str) -> Policy | None:
    """The policy at the tip, or None when it does not load (logged, each time it is asked)."""
    if tip.policy is None:
        log.error("the policy on %s is invalid: %s", branch, tip.policy_error)
    return tip.policy


def open_services(
    root: Path,
    *,
    repo_name: str | None,
    api_url: str,
    token: str | None,
    vault_addr: str | None,
    remote: str = "origin",
    branch: str = "main",
    environ: Mapping[str, str],
    say: Callable[[str], None] = lambda _msg: None,
) -> Services:
    """The doors a lifecycle command works through, from its options and the job's
    environment (``JITOPS_BOT_LOGIN``; Vault logs in only when a run needs it)."""
    from jitops.doors.github import GitHub
    from jitops.doors.vault.client import Vault

    if not repo_name:
        raise UsageError("--repo-name OWNER/REPO is required (or GITHUB_REPOSITORY)")
    if not token:
        raise UsageError("a GitHub token is required: --token, JITOPS_GITHUB_TOKEN or GITHUB_TOKEN")
    env = dict(environ)
    check_signing(env)  # a signing key that is set but cannot sign stops the run before it acts

    def connect(policy: Policy) -> Vault:
        if not vault_addr:
            raise UsageError("the Vault address is required: --vault-addr or VAULT_ADDR")
        return Vault.connect(vault_addr, policy.settings.vault, env)

    return Services(
        git=Git(root),
        github=GitHub(repo_name, token, api_url, bot_login=env.get("JITOPS_BOT_LOGIN") or None),
        connect_vault=connect,
        environ=env,
        remote=remote,
        branch=branch,
        repository=repo_name,
        repository_id=env.get("GITHUB_REPOSITORY_ID") or None,
        say=say,
    )
