"""The outside systems a lifecycle run talks to, bundled so tests can point them anywhere."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from jitops.core.gate import DEFAULT_GIVE_UP_AFTER, read_grant_safely
from jitops.core.grant import GRANT_SUFFIX, GRANTS_DIR, Grant, GrantStatus
from jitops.core.policy import POLICY_DIR, Policy, PolicyError, load_policy
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
    """Everything a lifecycle run needs. ``vault`` is connected lazily: a run that only denies
    or only records never logs in to Vault.

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
    _vault: Vault | None = field(default=None, repr=False)

    @property
    def tip(self) -> str:
        """The remote-tracking ref of the protected branch (what was fetched last)."""
        return f"{self.remote}/{self.branch}"

    def grant_files_at(self, ref: str) -> dict[str, bytes]:
        """Every ``grants/*.yaml`` file at ``ref``, readable or not."""
        return self.git.files_at(ref, GRANTS_DIR, GRANT_SUFFIX)

    def policy_or_none(self) -> Policy | None:
        """The policy at the tip, or None when it does not load (logged)."""
        try:
            return self.policy_at(self.tip)
        except PolicyError as exc:
            log.error("the policy on %s is invalid: %s", self.branch, exc)
            return None

    def last_good_policy(self) -> Policy:
        """The policy at the tip, or the newest one on the first-parent line that loads: an
        invalid policy on main must not stop expiries (they need only Vault's settings)."""
        try:
            return self.policy_at(self.tip)
        except PolicyError as first:
            shas = self.git.first_parent_touching(self.tip, POLICY_DIR, 50)
            for sha in shas:  # the policy as it was before each change, newest first
                try:
                    return self.policy_at(f"{sha}^1")
                except (PolicyError, JitopsError):
                    continue
            raise first

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
        if self._vault is None:
            self._vault = self.connect_vault(policy)
        return self._vault

    def policy_at(self, ref: str) -> Policy:
        return load_policy(self.git.files_at(ref, POLICY_DIR, ".yaml"))

    def grants_at(self, ref: str) -> dict[str, Grant]:
        """Readable grants at ``ref`` by id (unreadable files are left for `validate`)."""
        files = self.git.files_at(ref, GRANTS_DIR, GRANT_SUFFIX)
        out = {}
        for path, data in files.items():
            grant, _problems = read_grant_safely(data, path)
            if grant is not None:
                out[grant.id] = grant
        return out

    def notifier(self, policy: Policy) -> Notifier:
        # a bad webhook entry is logged and skipped: notifications never block the lifecycle
        return Notifier(policy.settings.notify, self.environ, logger=log)

    def notify(self, policy: Policy, event: Event) -> None:
        self.notifier(policy).send(event)

    def event(
        self,
        kind: str,
        grant: Grant,
        now: datetime,
        *,
        pull_request: int | None = None,
        status: GrantStatus | None = None,
        reason: str | None = None,
    ) -> Event:
        """A notification about ``grant`` (no secret: only what git shows too)."""
        status = status or grant.status
        if pull_request is None and status is not None:
            pull_request = status.pull_request
        server = self.environ.get("GITHUB_SERVER_URL", "https://github.com")
        url = (
            f"{server}/{self.repository}/pull/{pull_request}"
            if self.repository and pull_request
            else None
        )
        return Event(
            kind=kind,
            grant_id=grant.id,
            requester=grant.requester,
            role=grant.role,
            pull_request=pull_request,
            approved_by=status.approved_by if status else (),
            expires_at=status.expires_at if status else None,
            reason=reason,
            at=now,
            repository=self.repository,
            url=url,
        )


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
