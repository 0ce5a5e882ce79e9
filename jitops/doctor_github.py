"""`jitops doctor`, GitHub part: the repository is protected the way jitops' trust model needs.

Pure: takes what was read (files of the checkout, the branch protection as plain data, the
shipped workflow templates) and returns findings that each say how to fix them.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from jitops.doctor import Finding

REQUIRED_CHECKS = ("jitops/validate", "jitops/approval")
CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


def shipped_workflows() -> dict[str, str]:
    folder = resources.files("jitops") / "templates" / "workflows"
    return {p.name: p.read_text("utf-8") for p in folder.iterdir() if p.name.endswith(".yml")}


def _owned(codeowners: str, path: str) -> bool:
    """Whether some CODEOWNERS line with an owner covers ``path`` (the common pattern forms)."""
    for line in codeowners.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        pattern = parts[0].lstrip("/")
        if pattern in ("*", "**"):
            return True
        if pattern.endswith("/"):
            if path.startswith(pattern):
                return True
        elif "*" in pattern:
            if fnmatch.fnmatch(path, pattern):
                return True
        elif path == pattern or path.startswith(pattern + "/"):
            return True
    return False


def github_findings(
    root: Path,
    protection: Mapping[str, Any] | None,
    shipped: Mapping[str, str],
    branch: str = "main",
) -> list[Finding]:
    out: list[Finding] = []
    for name, text in sorted(shipped.items()):
        local = root / ".github" / "workflows" / name
        if not local.is_file():
            out.append(
                Finding(
                    f"workflow {name}",
                    False,
                    f".github/workflows/{name} is missing",
                    "copy it from the jitops package: jitops ships it (see docs/setup.md)",
                )
            )
            continue
        have = local.read_text("utf-8")
        if have == text:
            out.append(Finding(f"workflow {name}", True, f"{name} is the shipped workflow"))
        else:
            diff = list(
                difflib.unified_diff(
                    text.splitlines(), have.splitlines(), "shipped", "here", n=0, lineterm=""
                )
            )
            changed = [d for d in diff[2:] if d.startswith(("+", "-"))][:6]
            out.append(
                Finding(
                    f"workflow {name}",
                    False,
                    f"{name} differs from the shipped workflow: " + " | ".join(changed),
                    "review the differences; restore the shipped file unless you mean them",
                )
            )
    codeowners = next(
        ((root / p).read_text("utf-8") for p in CODEOWNERS_PLACES if (root / p).is_file()), ""
    )
    for path in ("policies/policy.yaml", ".github/workflows/jitops-issue.yml"):
        ok = _owned(codeowners, path)
        out.append(
            Finding(
                f"CODEOWNERS {path.split('/')[0]}/",
                ok,
                f"{path.split('/')[0]}/ {'has' if ok else 'has no'} code owner",
                ""
                if ok
                else f"add '/{path.split('/')[0]}/ @org/access-admins' to .github/CODEOWNERS",
            )
        )
    if protection is None:
        out.append(
            Finding(
                f"protection of {branch}",
                False,
                f"{branch} is not protected",
                f"protect {branch}: require a pull request, the statuses "
                f"{', '.join(REQUIRED_CHECKS)}, code-owner review and dismissal of stale "
                "approvals (docs/setup.md)",
            )
        )
        return out
    contexts = set(protection.get("contexts") or ())
    missing = [c for c in REQUIRED_CHECKS if c not in contexts]
    out.append(
        Finding(
            "required statuses",
            not missing,
            "jitops/validate and jitops/approval are required"
            if not missing
            else f"{branch} does not require {', '.join(missing)}",
            ""
            if not missing
            else f"add {', '.join(missing)} to the required status checks of {branch}",
        )
    )
    stale = bool(protection.get("dismiss_stale_reviews"))
    out.append(
        Finding(
            "stale approvals",
            stale,
            "stale approvals are dismissed on push" if stale else "approvals survive new pushes",
            "" if stale else f"turn on 'Dismiss stale pull request approvals' for {branch}",
        )
    )
    owners = bool(protection.get("require_code_owner_reviews"))
    out.append(
        Finding(
            "code-owner review",
            owners,
            "code-owner review is required" if owners else "code-owner review is not required",
            "" if owners else f"turn on 'Require review from Code Owners' for {branch}",
        )
    )
    return out
