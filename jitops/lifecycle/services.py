"""The outside systems a lifecycle run talks to, bundled so tests can point them anywhere."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from jitops.grant import GRANTS_DIR, Grant, GrantStatus, read_grant
from jitops.ledger import Git
from jitops.notify import Event, Notifier
from jitops.policy import POLICY_DIR, Policy, load_policy

if TYPE_CHECKING:
    from jitops.github import GitHub
    from jitops.vault import Vault

log = logging.getLogger("jitops")


@dataclass
class Services:
    """Everything a lifecycle run needs. ``vault`` is connected lazily: a run that only denies
    or only records never logs in to Vault."""

    git: Git
    github: GitHub
    connect_vault: Callable[[Policy], Vault]
    environ: Mapping[str, str]
    remote: str = "origin"
    branch: str = "main"
    repository: str | None = None
    say: Callable[[str], None] = field(default=lambda _msg: None)
    _vault: Vault | None = None

    def vault(self, policy: Policy) -> Vault:
        if self._vault is None:
            self._vault = self.connect_vault(policy)
        return self._vault

    def policy_at(self, ref: str) -> Policy:
        return load_policy(self.git.files_at(ref, POLICY_DIR, ".yaml"))

    def grants_at(self, ref: str) -> dict[str, Grant]:
        """Readable grants at ``ref`` by id (unreadable files are left for `validate`)."""
        files = self.git.files_at(ref, GRANTS_DIR, ".yaml")
        out = {}
        for path, data in files.items():
            grant, _problems = read_grant(data, path)
            if grant is not None:
                out[grant.id] = grant
        return out

    def notifier(self, policy: Policy) -> Notifier:
        # a bad webhook entry is logged and skipped: notifications never block the lifecycle
        return Notifier.from_settings(policy.settings.notify, self.environ, logger=log)

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
