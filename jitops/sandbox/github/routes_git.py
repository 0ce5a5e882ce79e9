"""Branches, branch protection, file contents and git refs, read from the bare repository."""

from __future__ import annotations

import base64
import urllib.parse

from jitops.sandbox.github.errors import APIError, not_found
from jitops.sandbox.github.model import Protection
from jitops.sandbox.github.render_accounts import Json
from jitops.sandbox.github.routes_pulls import R, check_repo
from jitops.sandbox.github.routing import Ctx, Reply, Router, paginate

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
    return Reply(200, _branch_json(ctx, name, sha))


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


@router.route("GET", R + "/git/ref/{ref+}")
@router.route("GET", R + "/git/refs/{ref+}")
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
