"""Repository settings tests configure: environments, merge methods, classic branch
protection and rulesets (mixed into :class:`GitHubSandbox`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from jitops_sandbox.github.model import (
    MERGE_METHODS,
    Environment,
    Protection,
    Workflow,
    WorkflowRun,
)
from jitops_sandbox.github.rulesets import Ruleset
from jitops_sandbox.github.store import Store


class Settings:
    """Mixed into :class:`GitHubSandbox`, which provides ``store``."""

    store: Store

    def add_environment(
        self,
        name: str,
        *,
        branches: Iterable[str] | None = None,
        protected_branches: bool = False,
        secrets: Iterable[str] = (),
    ) -> None:
        """A deployment environment; ``branches`` (e.g. ``["main"]``) are its custom branch
        policies, None lets every branch deploy; ``protected_branches`` limits it to those;
        ``secrets`` the names of its secrets (values are never readable on GitHub)."""
        with self.store.lock:
            self.store.environments[name] = Environment(
                self.store.new_id(),
                name,
                list(branches) if branches is not None else None,
                protected_branches,
                list(secrets),
            )

    def set_workflow(self, file: str, *, state: str = "active", name: str | None = None) -> int:
        """Register ``.github/workflows/<file>`` (GitHub knows every workflow file of the
        default branch) with ``state``; returns its id."""
        with self.store.lock:
            found = self.store.workflows.get(file)
            if found is None:
                found = Workflow(self.store.new_id(), f".github/workflows/{file}", name or file)
                self.store.workflows[file] = found
            found.state = state
            return found.id

    def add_workflow_run(
        self,
        file: str,
        *,
        event: str = "schedule",
        created_at: datetime | None = None,
        conclusion: str | None = "success",
    ) -> None:
        """A run of workflow ``file`` (registered if new), started at ``created_at``."""
        workflow_id = self.set_workflow(file, state=self._state(file))
        with self.store.lock:
            self.store.workflow_runs.append(
                WorkflowRun(
                    self.store.new_id(),
                    workflow_id,
                    event,
                    created_at or self.store.clock(),
                    self.store.git.branch_sha("main") or "0" * 40,
                    conclusion,
                )
            )

    def _state(self, file: str) -> str:
        found = self.store.workflows.get(file)
        return found.state if found is not None else "active"

    def allow_merge_methods(
        self, *, merge: bool = True, squash: bool = True, rebase: bool = True
    ) -> None:
        """The repository's "Allow merge commits / squash merging / rebase merging"."""
        with self.store.lock:
            self.store.merge_methods.update(merge=merge, squash=squash, rebase=rebase)

    def protect_branch(
        self,
        branch: str = "main",
        *,
        required_checks: Iterable[str] = (),
        strict: bool = False,
        required_approvals: int | None = None,
        dismiss_stale_reviews: bool = False,
        require_code_owner_reviews: bool = False,
        require_last_push_approval: bool = False,
        enforce_admins: bool = False,
    ) -> None:
        """Protect ``branch``: readable at ``branches/{b}/protection``, enforced on API merges;
        with ``dismiss_stale_reviews`` a new head commit dismisses earlier approvals."""
        with self.store.lock:
            self.store.protections[branch] = Protection(
                list(required_checks),
                strict,
                required_approvals,
                dismiss_stale_reviews,
                require_code_owner_reviews,
                require_last_push_approval,
                enforce_admins,
            )

    def add_ruleset(
        self,
        name: str = "protect main",
        *,
        branches: Iterable[str] = ("~DEFAULT_BRANCH",),
        exclude: Iterable[str] = (),
        enforcement: str = "active",
        required_approvals: int | None = None,
        dismiss_stale_reviews_on_push: bool = False,
        require_code_owner_review: bool = False,
        require_last_push_approval: bool = False,
        allowed_merge_methods: Iterable[str] | None = None,
        required_checks: Iterable[tuple[str, int | None] | str] = (),
        strict_checks: bool = False,
        merge_queue: bool = False,
        bypass_apps: Iterable[int] = (),
        bypass_teams: Iterable[str] = (),
        bypass_admins: bool = False,
        rules: Iterable[Mapping[str, Any]] = (),
    ) -> int:
        """A branch ruleset (see :mod:`jitops_sandbox.github.rulesets` for what is enforced);
        returns its id. ``required_approvals`` (not None) adds a ``pull_request`` rule,
        ``required_checks`` a ``required_status_checks`` rule (``(context, integration_id)``
        pins the GitHub App that must set it), ``bypass_apps`` are App ids (users added with
        ``app_id=``), ``bypass_teams`` slugs of the repository's organisation; ``rules``
        adds raw GitHub rule objects."""
        built: list[dict[str, Any]] = []
        if required_approvals is not None:
            params: dict[str, Any] = {
                "required_approving_review_count": required_approvals,
                "dismiss_stale_reviews_on_push": dismiss_stale_reviews_on_push,
                "require_code_owner_review": require_code_owner_review,
                "require_last_push_approval": require_last_push_approval,
                "required_review_thread_resolution": False,
                "allowed_merge_methods": list(allowed_merge_methods or MERGE_METHODS),
            }
            built.append({"type": "pull_request", "parameters": params})
        checks = [(c, None) if isinstance(c, str) else c for c in required_checks]
        if checks:
            configs: list[dict[str, Any]] = []
            for context, app in checks:
                config: dict[str, Any] = {"context": context}
                if app is not None:
                    config["integration_id"] = app
                configs.append(config)
            built.append(
                {
                    "type": "required_status_checks",
                    "parameters": {
                        "required_status_checks": configs,
                        "strict_required_status_checks_policy": strict_checks,
                        "do_not_enforce_on_create": False,
                    },
                }
            )
        if merge_queue:
            built.append(
                {
                    "type": "merge_queue",
                    "parameters": {
                        "check_response_timeout_minutes": 60,
                        "grouping_strategy": "ALLGREEN",
                        "max_entries_to_build": 5,
                        "max_entries_to_merge": 5,
                        "merge_method": "MERGE",
                        "min_entries_to_merge": 1,
                        "min_entries_to_merge_wait_minutes": 5,
                    },
                }
            )
        built += [dict(rule) for rule in rules]
        with self.store.lock:
            actors: list[dict[str, Any]] = [
                {"actor_id": app, "actor_type": "Integration", "bypass_mode": "always"}
                for app in bypass_apps
            ]
            for slug in bypass_teams:
                team = self.store.team(self.store.owner, slug)
                actors.append({"actor_id": team.id, "actor_type": "Team", "bypass_mode": "always"})
            if bypass_admins:
                actors.append(
                    {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}
                )
            ruleset = Ruleset(
                id=self.store.new_id(),
                name=name,
                rules=built,
                include=[
                    b if b.startswith(("~", "refs/")) else f"refs/heads/{b}" for b in branches
                ],
                exclude=[b if b.startswith(("~", "refs/")) else f"refs/heads/{b}" for b in exclude],
                enforcement=enforcement,
                bypass_actors=actors,
                created_at=self.store.clock(),
            )
            self.store.rulesets[ruleset.id] = ruleset
            return ruleset.id
