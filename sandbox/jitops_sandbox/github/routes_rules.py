"""Rulesets: the active rules of a branch, the repository's rulesets and one ruleset.

GitHub's description: ``GET /repos/{o}/{r}/rules/branches/{branch}`` "returns all active
rules that apply to the specified branch ... Rules in rulesets with evaluate or disabled
enforcement statuses are not returned" (read access suffices; the branch need not exist);
``GET /repos/{o}/{r}/rulesets/{id}``: "the bypass_actors property is only returned if the
user making the API request has write access to the ruleset" (here: a user with ``write``).
"""

from __future__ import annotations

from jitops_sandbox.github.errors import not_found
from jitops_sandbox.github.model import iso
from jitops_sandbox.github.render_accounts import Json
from jitops_sandbox.github.routes_pulls import R, check_repo
from jitops_sandbox.github.routing import Ctx, Reply, Router, paginate
from jitops_sandbox.github.rulesets import Ruleset, active_rulesets, can_bypass

router = Router()


def _ruleset_json(ctx: Ctx, ruleset: Ruleset, *, full: bool) -> Json:
    s = ctx.store
    url = f"{ctx.render.repo_api}/rulesets/{ruleset.id}"
    out: Json = {
        "id": ruleset.id,
        "name": ruleset.name,
        "target": "branch",
        "source_type": "Repository",
        "source": f"{s.owner}/{s.name}",
        "enforcement": ruleset.enforcement,
        "node_id": f"RRS_{ruleset.id}",
        "_links": {
            "self": {"href": url},
            "html": {"href": f"{ctx.render.repo_web}/rules/{ruleset.id}"},
        },
        "created_at": iso(ruleset.created_at or s.clock()),
        "updated_at": iso(ruleset.created_at or s.clock()),
    }
    if full:
        out["current_user_can_bypass"] = "always" if can_bypass(s, ruleset, ctx.user) else "never"
        out["conditions"] = {
            "ref_name": {"include": list(ruleset.include), "exclude": list(ruleset.exclude)}
        }
        out["rules"] = [dict(rule) for rule in ruleset.rules]
        if ctx.user.write:
            out["bypass_actors"] = [dict(actor) for actor in ruleset.bypass_actors]
    return out


@router.route("GET", R + "/rules/branches/{branch+}")
def branch_rules(ctx: Ctx) -> Reply:
    check_repo(ctx)
    s = ctx.store
    out = []
    for ruleset in active_rulesets(s, ctx.params["branch"]):
        for rule in ruleset.rules:
            out.append(
                {
                    **rule,
                    "ruleset_source_type": "Repository",
                    "ruleset_source": f"{s.owner}/{s.name}",
                    "ruleset_id": ruleset.id,
                }
            )
    return paginate(ctx, out)


@router.route("GET", R + "/rulesets")
def list_rulesets(ctx: Ctx) -> Reply:
    check_repo(ctx)
    found = sorted(ctx.store.rulesets.values(), key=lambda r: r.id)
    return paginate(ctx, [_ruleset_json(ctx, r, full=False) for r in found])


@router.route("GET", R + "/rulesets/{ruleset_id}")
def get_ruleset(ctx: Ctx) -> Reply:
    check_repo(ctx)
    ruleset = ctx.store.rulesets.get(ctx.int_param("ruleset_id"))
    if ruleset is None:
        raise not_found()
    return Reply(200, _ruleset_json(ctx, ruleset, full=True))
