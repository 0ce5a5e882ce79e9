"""Actions workflows: one workflow (its ``state``) and its runs.

GitHub's description: ``GET /repos/{o}/{r}/actions/workflows/{workflow_id}`` takes the id or
the file name (``jitops-sweep.yml``) and answers a ``workflow`` whose ``state`` is one of
``active``, ``deleted``, ``disabled_fork``, ``disabled_inactivity``, ``disabled_manually``;
``GET .../actions/workflows/{workflow_id}/runs`` answers ``{total_count, workflow_runs}``,
newest first, filtered by ``event``, ``status``, ``branch`` and paginated.
"""

from __future__ import annotations

from jitops_sandbox.github.errors import not_found
from jitops_sandbox.github.model import Workflow, WorkflowRun, iso
from jitops_sandbox.github.render_accounts import Json
from jitops_sandbox.github.routes_pulls import R, check_repo
from jitops_sandbox.github.routing import Ctx, Reply, Router

router = Router()
W = R + "/actions/workflows/{workflow_id}"


def _workflow(ctx: Ctx) -> Workflow:
    check_repo(ctx)
    key = ctx.params["workflow_id"]
    for file, workflow in ctx.store.workflows.items():
        if key in (file, str(workflow.id)):
            return workflow
    raise not_found()


def _workflow_json(ctx: Ctx, w: Workflow) -> Json:
    r = ctx.render
    created = iso(ctx.store.clock())
    return {
        "id": w.id,
        "node_id": f"W_{w.id}",
        "name": w.name,
        "path": w.path,
        "state": w.state,
        "created_at": created,
        "updated_at": created,
        "url": f"{r.repo_api}/actions/workflows/{w.id}",
        "html_url": f"{r.repo_web}/blob/main/{w.path}",
        "badge_url": f"{r.repo_web}/workflows/{w.name}/badge.svg",
    }


def _run_json(ctx: Ctx, w: Workflow, run: WorkflowRun, number: int) -> Json:
    r = ctx.render
    url = f"{r.repo_api}/actions/runs/{run.id}"
    repo = r.repo(ctx.user)
    return {
        "id": run.id,
        "node_id": f"WFR_{run.id}",
        "name": w.name,
        "head_branch": "main",
        "head_sha": run.head_sha,
        "path": w.path,
        "display_title": w.name,
        "run_number": number,
        "event": run.event,
        "status": "completed" if run.conclusion else "in_progress",
        "conclusion": run.conclusion,
        "workflow_id": w.id,
        "url": url,
        "html_url": f"{r.repo_web}/actions/runs/{run.id}",
        "pull_requests": [],
        "created_at": iso(run.created_at),
        "updated_at": iso(run.created_at),
        "run_started_at": iso(run.created_at),
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": f"{r.repo_api}/check-suites/{run.id}",
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        "workflow_url": f"{r.repo_api}/actions/workflows/{w.id}",
        "head_commit": None,
        "repository": repo,
        "head_repository": repo,
    }


@router.route("GET", W)
def get_workflow(ctx: Ctx) -> Reply:
    return Reply(200, _workflow_json(ctx, _workflow(ctx)))


@router.route("GET", W + "/runs")
def workflow_runs(ctx: Ctx) -> Reply:
    w = _workflow(ctx)
    event = ctx.q("event")
    mine = [run for run in ctx.store.workflow_runs if run.workflow_id == w.id]
    numbered = [(i + 1, run) for i, run in enumerate(mine)]
    if event:
        numbered = [(n, run) for n, run in numbered if run.event == event]
    numbered.sort(key=lambda item: item[1].created_at, reverse=True)
    try:
        per_page = min(100, int(ctx.q("per_page") or 30))
        page = max(1, int(ctx.q("page") or 1))
    except ValueError:
        per_page, page = 30, 1
    chosen = numbered[(page - 1) * per_page : page * per_page]
    return Reply(
        200,
        {
            "total_count": len(numbered),
            "workflow_runs": [_run_json(ctx, w, run, n) for n, run in chosen],
        },
    )
