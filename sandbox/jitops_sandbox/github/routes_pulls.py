"""Pull requests: list, get, create, update, merge, files, reviews, review requests."""

from __future__ import annotations

from typing import Any

from jitops_sandbox.github.errors import APIError, not_found, validation_failed
from jitops_sandbox.github.model import Pull
from jitops_sandbox.github.routing import Ctx, Reply, Router, paginate

router = Router()

R = "/repos/{owner}/{repo}"
P = R + "/pulls/{number}"

_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def check_repo(ctx: Ctx) -> None:
    s = ctx.store
    if (ctx.params["owner"].lower(), ctx.params["repo"].lower()) != (
        s.owner.lower(),
        s.name.lower(),
    ):
        raise not_found()


def pull_of(ctx: Ctx) -> Pull:
    check_repo(ctx)
    return ctx.store.pull(ctx.int_param("number"))


@router.route("GET", R)
def get_repo(ctx: Ctx) -> Reply:
    check_repo(ctx)
    return Reply(200, ctx.render.repo(ctx.user))


@router.route("GET", R + "/pulls")
def list_pulls(ctx: Ctx) -> Reply:
    check_repo(ctx)
    state = ctx.q("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed({"resource": "Search", "field": "state", "code": "invalid"})
    head = ctx.q("head")
    if head and ":" in head:
        head = head.split(":", 1)[1]
    base = ctx.q("base")
    pulls = [
        p
        for p in ctx.store.pulls.values()
        if (state == "all" or p.state == state)
        and (head is None or p.head_ref == head)
        and (base is None or p.base_ref == base)
    ]
    key = "updated_at" if ctx.q("sort") in ("updated", "popularity", "long-running") else "created"
    pulls.sort(
        key=lambda p: (p.updated_at if key == "updated_at" else p.created_at, p.number),
        reverse=ctx.q("direction", "desc") == "desc",
    )
    return paginate(ctx, [ctx.render.pull_simple(p) for p in pulls])


@router.route("POST", R + "/pulls")
def create_pull(ctx: Ctx) -> Reply:
    check_repo(ctx)
    data = ctx.json_object()
    missing = [k for k in ("head", "base") if not isinstance(data.get(k), str)]
    if missing:
        raise validation_failed(
            *({"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing)
        )
    pull = ctx.store.open_pull(
        ctx.user.login,
        data["head"],
        data["base"],
        str(data.get("title") or ""),
        str(data.get("body") or ""),
        bool(data.get("draft", False)),
    )
    body = ctx.render.pull(pull)
    return Reply(201, body, {"Location": body["url"]})


@router.route("GET", P)
def get_pull(ctx: Ctx) -> Reply:
    return Reply(200, ctx.render.pull(pull_of(ctx)))


@router.route("PATCH", P)
def update_pull(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    if ctx.user.login.lower() != pull.author.lower():
        ctx.require_write()
    data = ctx.json_object()
    with ctx.store.lock:
        if "title" in data:
            pull.title = str(data["title"])
        if "body" in data:
            pull.body = str(data["body"] or "")
        if data.get("state") in ("open", "closed"):
            ctx.store.close_pull(pull, data["state"])
        pull.updated_at = ctx.store.clock()
    return Reply(200, ctx.render.pull(pull))


@router.route("GET", P + "/merge")
def is_merged(ctx: Ctx) -> Reply:
    if pull_of(ctx).merged:
        return Reply(204)
    raise not_found()


@router.route("PUT", P + "/merge")
def merge(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    ctx.require_write()
    data = ctx.json_object()

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise validation_failed({"resource": "PullRequest", "field": key, "code": "invalid"})
        return value

    merged = ctx.store.merge_pull(
        pull.number,
        ctx.user.login,
        method=text("merge_method") or "merge",
        commit_title=text("commit_title") or None,
        commit_message=text("commit_message"),
        sha=text("sha"),
    )
    return Reply(
        200, {"sha": merged, "merged": True, "message": "Pull Request successfully merged"}
    )


@router.route("GET", P + "/files")
def files(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    s = ctx.store
    with s.lock:
        head = s.head_sha(pull)
        base = s.git.merge_base(s.base_sha(pull), head)
        entries = s.git.diff(base, head)[:3000]
    return paginate(ctx, [ctx.render.diff_entry(e, head) for e in entries])


@router.route("GET", P + "/commits")
def commits(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    s = ctx.store
    with s.lock:
        head = s.head_sha(pull)
        base = s.git.merge_base(s.base_sha(pull), head) or head
        shas = list(reversed(s.git.commits_between(base, head)))
        out = [ctx.render.commit(s.git.commit_info(sha), []) for sha in shas]
    for item in out:
        del item["files"], item["stats"]
    return paginate(ctx, out)


@router.route("GET", P + "/reviews")
def list_reviews(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    reviews = sorted(
        (r for r in ctx.store.reviews.values() if r.number == pull.number), key=lambda r: r.id
    )
    return paginate(ctx, [ctx.render.review(r) for r in reviews])


@router.route("GET", P + "/reviews/{review_id}")
def get_review(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    review = ctx.store.reviews.get(ctx.int_param("review_id"))
    if review is None or review.number != pull.number:
        raise not_found()
    return Reply(200, ctx.render.review(review))


@router.route("POST", P + "/reviews")
def create_review(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    data = ctx.json_object()
    event = data.get("event")
    state = "PENDING" if not event else _EVENTS.get(str(event))
    if state is None:
        # GitHub's description of this 422 (validation-error-simple) has errors as strings
        raise APIError(
            422,
            "Unprocessable Entity",
            errors=["Variable $event of type PullRequestReviewEvent was provided invalid value"],
        )
    body = str(data.get("body") or "")
    if state in ("CHANGES_REQUESTED", "COMMENTED") and not body:
        raise APIError(
            422, "Unprocessable Entity", errors=[f"Review body is required for {event} events"]
        )
    review = ctx.store.add_review(pull.number, ctx.user.login, state, body, data.get("commit_id"))
    return Reply(200, ctx.render.review(review))


@router.route("PUT", P + "/reviews/{review_id}/dismissals")
def dismiss_review(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    ctx.require_write()
    if not ctx.json_object().get("message"):
        raise validation_failed(
            {"resource": "PullRequestReview", "field": "message", "code": "missing_field"}
        )
    review = ctx.store.dismiss_review(pull.number, ctx.int_param("review_id"))
    return Reply(200, ctx.render.review(review))


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise validation_failed({"resource": "PullRequest", "field": key, "code": "invalid"})
    return list(value)


@router.route("GET", P + "/requested_reviewers")
def get_requested(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    r = ctx.render
    return Reply(
        200,
        {
            "users": [r.user(u) for u in pull.requested_reviewers],
            "teams": [r.team(ctx.store.team(ctx.store.owner, t)) for t in pull.requested_teams],
        },
    )


@router.route("POST", P + "/requested_reviewers")
def request_reviewers(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    ctx.require_write()
    data = ctx.json_object()
    ctx.store.request_reviewers(pull, _names(data, "reviewers"), _names(data, "team_reviewers"))
    return Reply(201, ctx.render.pull_simple(pull))


@router.route("DELETE", P + "/requested_reviewers")
def remove_requested(ctx: Ctx) -> Reply:
    pull = pull_of(ctx)
    ctx.require_write()
    data = ctx.json_object()
    users = {u.lower() for u in _names(data, "reviewers")}
    teams = {t.lower() for t in _names(data, "team_reviewers")}
    with ctx.store.lock:
        pull.requested_reviewers = [u for u in pull.requested_reviewers if u.lower() not in users]
        pull.requested_teams = [t for t in pull.requested_teams if t.lower() not in teams]
    return Reply(200, ctx.render.pull_simple(pull))
