"""Branches, branch protection, file contents and git refs, read from the bare repository."""

from __future__ import annotations

import base64
import urllib.parse

from jitops_sandbox.github.errors import APIError, not_found
from jitops_sandbox.github.model import Environment, Protection
from jitops_sandbox.github.render_accounts import Json
from jitops_sandbox.github.routes_pulls import R, check_repo
from jitops_sandbox.github.routing import Ctx, Reply, Router, paginate

router = Router()


def _branch_json(ctx: Ctx, name: str, sha: str) -> Json:
    r = ctx.render
    url = f"{r.repo_api}/branches/{urllib.parse.quote(name, safe='')}"
    return {
        "name": name,
        "commit": {"sha": sha, "url": f"{r.repo_api}/commits/{sha}"},
        "protected": name in ctx.store.protections,
        "protection_url": f"{url}/protection",
        "_links": {"self": url, "html": f"{r.repo_web}/tree/{name}"},
    }


@router.route("GET", R + "/branches")
def list_branches(ctx: Ctx) -> Reply:
    check_repo(ctx)
    git = ctx.store.git
    names = sorted(git.branches())
    return paginate(ctx, [_branch_json(ctx, n, git.branch_sha(n) or "") for n in names])


@router.route("GET", R + "/branches/{branch}")
def get_branch(ctx: Ctx) -> Reply:
    check_repo(ctx)
    name = ctx.params["branch"]
    sha = ctx.store.git.branch_sha(name)
    if sha is None:
        raise APIError(404, "Branch not found")
    out = _branch_json(ctx, name, sha)
    commit = ctx.render.commit(ctx.store.git.commit_info(sha), [])
    del commit["files"], commit["stats"]
    out["commit"] = commit  # branch-with-protection: the whole commit, and its protection
    rule = ctx.store.protections.get(name)
    contexts = list(rule.required_checks) if rule else []
    out["protection"] = {
        "enabled": rule is not None,
        "required_status_checks": {
            "enforcement_level": "non_admins" if contexts else "off",
            "contexts": contexts,
            "checks": [{"context": c, "app_id": None} for c in contexts],
        },
    }
    return Reply(200, out)


def _protection(ctx: Ctx) -> tuple[str, Protection]:
    check_repo(ctx)
    name = ctx.params["branch"]
    if ctx.store.git.branch_sha(name) is None:
        raise APIError(404, "Branch not found")
    rule = ctx.store.protections.get(name)
    if rule is None:
        raise APIError(404, "Branch not protected")
    return f"{ctx.render.repo_api}/branches/{urllib.parse.quote(name, safe='')}/protection", rule


def _checks_json(url: str, rule: Protection) -> Json:
    return {
        "url": f"{url}/required_status_checks",
        "strict": rule.strict,
        "contexts": list(rule.required_checks),
        "checks": [{"context": c, "app_id": None} for c in rule.required_checks],
        "contexts_url": f"{url}/required_status_checks/contexts",
    }


@router.route("GET", R + "/branches/{branch}/protection")
def get_protection(ctx: Ctx) -> Reply:
    url, rule = _protection(ctx)
    out: Json = {
        "url": url,
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": rule.enforce_admins},
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
        "block_creations": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
        "lock_branch": {"enabled": False},
        "allow_fork_syncing": {"enabled": False},
    }
    if rule.required_checks:
        out["required_status_checks"] = _checks_json(url, rule)
    if rule.required_approvals is not None:
        out["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": rule.dismiss_stale_reviews,
            "require_code_owner_reviews": rule.require_code_owner_reviews,
            "required_approving_review_count": rule.required_approvals,
            "require_last_push_approval": rule.require_last_push_approval,
        }
    return Reply(200, out)


@router.route("GET", R + "/branches/{branch}/protection/required_status_checks")
def get_required_checks(ctx: Ctx) -> Reply:
    url, rule = _protection(ctx)
    if not rule.required_checks:
        raise APIError(404, "Required status checks not enabled")
    return Reply(200, _checks_json(url, rule))


def _contents(ctx: Ctx, path: str) -> Reply:
    """A file (base64 content) or a directory listing at ``?ref=`` (default: main)."""
    check_repo(ctx)
    git = ctx.store.git
    ref = ctx.q("ref") or "main"
    sha = git.resolve(ref)
    if sha is None:
        raise APIError(404, f"No commit found for the ref {ref}")
    path = path.strip("/")
    if path:
        found = [e for e in git.git("ls-tree", "-z", sha, "--", path).split("\0") if e]
        if not found:
            raise not_found()
        _, kind, obj, name = _ls_entry(found[0])
        if kind == "blob":
            text = git.git("cat-file", "blob", obj)
            return Reply(200, _content_json(ctx, name, obj, "file", ref, text))
    listing = git.git("ls-tree", "-z", sha, *(["--", f"{path}/"] if path else []))
    items = []
    for line in listing.split("\0"):
        if line:
            _, kind, obj, name = _ls_entry(line)
            items.append(_content_json(ctx, name, obj, "file" if kind == "blob" else "dir", ref))
    return Reply(200, items)


def _ls_entry(line: str) -> tuple[str, str, str, str]:
    meta, name = line.split("\t", 1)
    mode, kind, obj = meta.split()
    return mode, kind, obj, name


def _content_json(
    ctx: Ctx, path: str, sha: str, kind: str, ref: str, text: str | None = None
) -> Json:
    r = ctx.render
    quoted = urllib.parse.quote(path)
    out: Json = {
        "type": kind,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(text.encode()) if text is not None else 0,
        "url": f"{r.repo_api}/contents/{quoted}?ref={urllib.parse.quote(ref)}",
        "html_url": f"{r.repo_web}/{'blob' if kind == 'file' else 'tree'}/{ref}/{quoted}",
        "git_url": f"{r.repo_api}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}",
        "download_url": f"{r.repo_web}/raw/{ref}/{quoted}" if kind == "file" else None,
    }
    out["_links"] = {"self": out["url"], "git": out["git_url"], "html": out["html_url"]}
    if text is not None:
        out["encoding"] = "base64"
        out["content"] = base64.encodebytes(text.encode()).decode()
    return out


@router.route("GET", R + "/contents")
def root_contents(ctx: Ctx) -> Reply:
    return _contents(ctx, "")


@router.route("GET", R + "/contents/{path+}")
def contents(ctx: Ctx) -> Reply:
    return _contents(ctx, ctx.params["path"])


@router.route("GET", R + "/git/ref/{ref+}")  # GitHub's description has no GET .../git/refs/{ref}
def get_ref(ctx: Ctx) -> Reply:
    check_repo(ctx)
    ref = ctx.params["ref"]
    if not ref.startswith("heads/"):
        raise not_found()
    sha = ctx.store.git.branch_sha(ref.removeprefix("heads/"))
    if sha is None:
        raise not_found()
    r = ctx.render
    return Reply(
        200,
        {
            "ref": f"refs/{ref}",
            "node_id": f"REF_{ref}",
            "url": f"{r.repo_api}/git/refs/{ref}",
            "object": {"sha": sha, "type": "commit", "url": f"{r.repo_api}/git/commits/{sha}"},
        },
    )


def _environment_json(ctx: Ctx, env: Environment) -> Json:
    r = ctx.render
    url = f"{r.repo_api}/environments/{urllib.parse.quote(env.name, safe='')}"
    policy = None
    if env.branches is not None or env.protected_branches:
        policy = {
            "protected_branches": env.protected_branches,
            "custom_branch_policies": env.branches is not None and not env.protected_branches,
        }
    return {
        "id": env.id,
        "node_id": f"EN_{env.id}",
        "name": env.name,
        "url": url,
        "html_url": f"{r.repo_web}/deployments/activity_log?environments_filter={env.name}",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
        "protection_rules": (
            [{"id": env.id + 1, "node_id": f"GA_{env.id}", "type": "branch_policy"}]
            if policy
            else []
        ),
        "deployment_branch_policy": policy,
    }


def _environment(ctx: Ctx) -> Environment:
    check_repo(ctx)
    env = ctx.store.environments.get(ctx.params["name"])
    if env is None:
        raise not_found()
    return env


@router.route("GET", R + "/environments")
def list_environments(ctx: Ctx) -> Reply:
    check_repo(ctx)
    envs = [_environment_json(ctx, e) for e in ctx.store.environments.values()]
    return Reply(200, {"total_count": len(envs), "environments": envs})


@router.route("GET", R + "/environments/{name}")
def get_environment(ctx: Ctx) -> Reply:
    return Reply(200, _environment_json(ctx, _environment(ctx)))


@router.route("GET", R + "/environments/{name}/deployment-branch-policies")
def branch_policies(ctx: Ctx) -> Reply:
    env = _environment(ctx)
    names = env.branches if env.branches is not None and not env.protected_branches else []
    policies = [
        {"id": env.id * 1000 + i, "node_id": f"BP_{env.id}_{i}", "name": n, "type": "branch"}
        for i, n in enumerate(names)
    ]
    return Reply(200, {"total_count": len(policies), "branch_policies": policies})


@router.route("GET", R + "/environments/{name}/secrets")
def environment_secrets(ctx: Ctx) -> Reply:
    """The names of an environment's secrets (GitHub never answers their values)."""
    env = _environment(ctx)
    secrets = [
        {"name": n, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}
        for n in sorted(env.secrets)
    ]
    return Reply(200, {"total_count": len(secrets), "secrets": secrets})
