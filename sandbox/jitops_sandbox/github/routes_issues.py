"""Issues (every PR is one), issue comments, labels, commits and commit statuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jitops_sandbox.github.errors import APIError, validation_failed
from jitops_sandbox.github.routes_pulls import R, check_repo
from jitops_sandbox.github.routing import Ctx, Reply, Router, paginate

router = Router()

I = R + "/issues/{number}"  # noqa: E741


def _number(ctx: Ctx) -> int:
    check_repo(ctx)
    number = ctx.int_param("number")
    ctx.store.pull(number)
    return number


@router.route("GET", I)
def get_issue(ctx: Ctx) -> Reply:
    return Reply(200, ctx.render.issue(ctx.store.pull(_number(ctx))))


# -- comments ---------------------------------------------------------------------------------


@router.route("GET", I + "/comments")
def list_comments(ctx: Ctx) -> Reply:
    number = _number(ctx)
    since = ctx.q("since")
    comments = sorted(
        (c for c in ctx.store.comments.values() if c.number == number), key=lambda c: c.id
    )
    if since:
        try:
            cut = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError as exc:
            raise validation_failed(
                {"resource": "Issue", "field": "since", "code": "invalid"}
            ) from exc
        comments = [c for c in comments if c.updated_at >= cut]
    return paginate(ctx, [ctx.render.comment(c) for c in comments])


@router.route("POST", I + "/comments")
def create_comment(ctx: Ctx) -> Reply:
    number = _number(ctx)
    body = ctx.json_object().get("body")
    if not isinstance(body, str):
        raise validation_failed(
            {"resource": "IssueComment", "code": "missing_field", "field": "body"}
        )
    comment = ctx.store.add_comment(number, ctx.user.login, body)
    out = ctx.render.comment(comment)
    return Reply(201, out, {"Location": out["url"]})


def _comment_id(ctx: Ctx) -> int:
    check_repo(ctx)
    return ctx.int_param("comment_id")


@router.route("GET", R + "/issues/comments/{comment_id}")
def get_comment(ctx: Ctx) -> Reply:
    return Reply(200, ctx.render.comment(ctx.store.comment(_comment_id(ctx))))


@router.route("PATCH", R + "/issues/comments/{comment_id}")
def edit_comment(ctx: Ctx) -> Reply:
    comment = ctx.store.comment(_comment_id(ctx))
    if comment.author.lower() != ctx.user.login.lower():
        ctx.require_write()
    body = ctx.json_object().get("body")
    if not isinstance(body, str) or not body:
        raise validation_failed(
            {"resource": "IssueComment", "code": "missing_field", "field": "body"}
        )
    with ctx.store.lock:
        comment.body = body
        comment.updated_at = ctx.store.clock()
    return Reply(200, ctx.render.comment(comment))


@router.route("DELETE", R + "/issues/comments/{comment_id}")
def delete_comment(ctx: Ctx) -> Reply:
    comment = ctx.store.comment(_comment_id(ctx))
    if comment.author.lower() != ctx.user.login.lower():
        ctx.require_write()
    with ctx.store.lock:
        ctx.store.comments.pop(comment.id, None)
    return Reply(204)


# -- labels -----------------------------------------------------------------------------------


def _label_names(data: Any) -> list[str]:
    if isinstance(data, dict):
        data = data.get("labels", [])
    if not isinstance(data, list):
        raise validation_failed({"resource": "Label", "field": "labels", "code": "invalid"})
    names = []
    for item in data:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise validation_failed({"resource": "Label", "field": "name", "code": "invalid"})
        names.append(name)
    return names


def _labels_reply(ctx: Ctx, number: int, status: int = 200) -> Reply:
    pull = ctx.store.pull(number)
    return Reply(status, [ctx.render.label(ctx.store.label(n)) for n in pull.labels])


@router.route("GET", I + "/labels")
def list_labels(ctx: Ctx) -> Reply:
    pull = ctx.store.pull(_number(ctx))
    return paginate(ctx, [ctx.render.label(ctx.store.label(n)) for n in pull.labels])


@router.route("POST", I + "/labels")
def add_labels(ctx: Ctx) -> Reply:
    number = _number(ctx)
    ctx.require_write()
    ctx.store.add_labels(ctx.store.pull(number), _label_names(ctx.json()))
    return _labels_reply(ctx, number)


@router.route("PUT", I + "/labels")
def set_labels(ctx: Ctx) -> Reply:
    number = _number(ctx)
    ctx.require_write()
    names = _label_names(ctx.json())
    with ctx.store.lock:
        pull = ctx.store.pull(number)
        pull.labels = []
        ctx.store.add_labels(pull, names)
    return _labels_reply(ctx, number)


@router.route("DELETE", I + "/labels")
def clear_labels(ctx: Ctx) -> Reply:
    number = _number(ctx)
    ctx.require_write()
    ctx.store.pull(number).labels = []
    return Reply(204)


@router.route("DELETE", I + "/labels/{name}")
def remove_label(ctx: Ctx) -> Reply:
    number = _number(ctx)
    ctx.require_write()
    ctx.store.remove_label(ctx.store.pull(number), ctx.params["name"])
    return _labels_reply(ctx, number)


@router.route("GET", R + "/labels")
def repo_labels(ctx: Ctx) -> Reply:
    check_repo(ctx)
    labels = sorted(ctx.store.labels.values(), key=lambda lb: lb.name.lower())
    return paginate(ctx, [ctx.render.label(lb) for lb in labels])


@router.route("GET", R + "/labels/{name}")
def repo_label(ctx: Ctx) -> Reply:
    check_repo(ctx)
    return Reply(200, ctx.render.label(ctx.store.label(ctx.params["name"])))


# -- commits and statuses ---------------------------------------------------------------------


def _sha(ctx: Ctx) -> str:
    check_repo(ctx)
    ref = ctx.params["sha"]
    full = ctx.store.git.resolve(ref)
    if full is None:
        raise APIError(422, f"No commit found for SHA: {ref}")
    return full


@router.route("GET", R + "/commits/{sha}")
def get_commit(ctx: Ctx) -> Reply:
    sha = _sha(ctx)
    git = ctx.store.git
    info = git.commit_info(sha)
    files = git.diff(info.parents[0] if info.parents else None, sha)
    return Reply(200, ctx.render.commit(info, files))


@router.route("GET", R + "/commits/{sha}/pulls")
def commit_pulls(ctx: Ctx) -> Reply:
    sha = _sha(ctx)
    return paginate(ctx, [ctx.render.pull_simple(p) for p in ctx.store.pulls_for_commit(sha)])


@router.route("POST", R + "/statuses/{sha}")
def create_status(ctx: Ctx) -> Reply:
    check_repo(ctx)
    ctx.require_write()
    data = ctx.json_object()
    status = ctx.store.add_status(
        ctx.params["sha"],
        str(data.get("state", "")),
        ctx.user.login,
        context=str(data.get("context") or "default"),
        description=data.get("description"),
        target_url=data.get("target_url"),
    )
    out = ctx.render.status(status)
    return Reply(201, out, {"Location": out["url"]})


@router.route("GET", R + "/statuses/{sha}")
@router.route("GET", R + "/commits/{sha}/statuses")
def list_statuses(ctx: Ctx) -> Reply:
    sha = _sha(ctx)
    found = [s for s in reversed(ctx.store.statuses) if s.sha == sha]
    return paginate(ctx, [ctx.render.status(s) for s in found])


@router.route("GET", R + "/commits/{sha}/status")
def combined_status(ctx: Ctx) -> Reply:
    sha = _sha(ctx)
    latest: dict[str, Any] = {}
    for status in reversed(ctx.store.statuses):
        if status.sha == sha and status.context not in latest:
            latest[status.context] = status
    states = {s.state for s in latest.values()}
    if states & {"error", "failure"}:
        state = "failure"
    elif not states or "pending" in states:
        state = "pending"
    else:
        state = "success"
    r = ctx.render
    return Reply(
        200,
        {
            "state": state,
            "statuses": [r.status(s) for s in latest.values()],
            "sha": sha,
            "total_count": len(latest),
            "repository": r.repo(),
            "commit_url": f"{r.repo_api}/commits/{sha}",
            "url": f"{r.repo_api}/commits/{sha}/status",
        },
    )
