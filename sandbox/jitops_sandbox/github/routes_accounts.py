"""Users, SSH keys, organisations, teams and team memberships."""

from __future__ import annotations

from jitops_sandbox.github.errors import not_found
from jitops_sandbox.github.model import Team
from jitops_sandbox.github.routing import Ctx, Reply, Router, paginate

router = Router()


@router.route("GET", "/user")
def me(ctx: Ctx) -> Reply:
    return Reply(200, ctx.render.user_full(ctx.user, private=True))


@router.route("GET", "/user/keys")
def my_keys(ctx: Ctx) -> Reply:
    return paginate(ctx, [ctx.render.key(k) for k in ctx.user.keys])


@router.route("GET", "/users/{login}")
def user(ctx: Ctx) -> Reply:
    login = ctx.params["login"]
    org = ctx.store.orgs.get(login.lower())
    if org is not None:  # GitHub answers an organisation's login with an account too
        return Reply(200, ctx.render.user_full(org))
    return Reply(200, ctx.render.user_full(ctx.store.user(login)))


@router.route("GET", "/users/{login}/keys")
def keys(ctx: Ctx) -> Reply:
    found = ctx.store.user(ctx.params["login"])
    return paginate(ctx, [ctx.render.key_simple(k) for k in found.keys])


@router.route("GET", "/orgs/{org}")
def org(ctx: Ctx) -> Reply:
    return Reply(200, ctx.render.org(ctx.store.org(ctx.params["org"])))


@router.route("GET", "/orgs/{org}/teams")
def teams(ctx: Ctx) -> Reply:
    the_org = ctx.store.org(ctx.params["org"])
    found = sorted(
        (t for t in ctx.store.teams.values() if t.org == the_org.login), key=lambda t: t.slug
    )
    return paginate(ctx, [ctx.render.team(t) for t in found])


# Every team route exists in three spellings: by slug under the org, by the ids the team's
# own ``url`` uses (/organizations/{org_id}/team/{team_id}) and the legacy /teams/{team_id}.
_TEAM_PREFIXES = (
    "/orgs/{org}/teams/{slug}",
    "/organizations/{org_id}/team/{team_id}",
    "/teams/{team_id}",
)


def _team(ctx: Ctx) -> Team:
    p = ctx.params
    if "slug" in p:
        return ctx.store.team(p["org"], p["slug"])
    try:
        org_id = int(p["org_id"]) if "org_id" in p else None
        team_id = int(p["team_id"])
    except ValueError as exc:
        raise not_found() from exc
    return ctx.store.team_by_id(org_id, team_id)


def get_team(ctx: Ctx) -> Reply:
    return Reply(200, ctx.render.team(_team(ctx)))


def team_members(ctx: Ctx) -> Reply:
    team = _team(ctx)
    role = ctx.q("role", "all")
    members = sorted(
        (
            login
            for login, r, _ in ctx.store.effective_members(team).values()
            if role == "all" or r == role
        ),
        key=str.lower,
    )
    return paginate(ctx, [ctx.render.user(login) for login in members])


def team_membership(ctx: Ctx) -> Reply:
    team = _team(ctx)
    found = ctx.render.membership(team, ctx.params["login"])
    if found is None:
        raise not_found()
    return Reply(200, found)


def team_member(ctx: Ctx) -> Reply:
    """The legacy 'check team member' endpoint: 204 member, 404 not."""
    team = _team(ctx)
    if ctx.params["login"].lower() not in ctx.store.effective_members(team):
        raise not_found()  # pending invitations are not members
    return Reply(204)


for _prefix in _TEAM_PREFIXES:
    router.route("GET", _prefix)(get_team)
    router.route("GET", _prefix + "/members")(team_members)
    router.route("GET", _prefix + "/memberships/{login}")(team_membership)
    if not _prefix.startswith("/orgs/"):  # GitHub has the legacy check by team id only
        router.route("GET", _prefix + "/members/{login}")(team_member)
