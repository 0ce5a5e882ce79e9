"""``jitops validate`` and ``jitops policy test``: every grant in an access repository, judged
against its policy, and the policy judged by its own test cases.

In pull-request mode (``base`` given) the policy is read from the base commit, never from the
working tree, so a change can never loosen the policy that judges it; grants that the base
does not have are requests: they must not carry a status block and their ids must never have
been used before in the base's history.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jitops.core import checks, yamlsafe
from jitops.core.grant import GRANTS_DIR, Grant, grant_id_of, grant_ids_in, read_grant
from jitops.core.policy import POLICY_DIR, Policy, PolicyError, load_policy
from jitops.core.policytest import TestReport, run_cases
from jitops.doors.git import Git
from jitops.errors import Problem, UsageError


@dataclass(frozen=True)
class GrantResult:
    path: str
    grant: Grant | None
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class Report:
    policy_ref: str  # "working tree" or the git ref the policy came from
    policy_problems: tuple[Problem, ...] = ()
    results: tuple[GrantResult, ...] = ()
    notices: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.policy_problems and all(r.valid for r in self.results)

    @property
    def problems(self) -> list[Problem]:
        return [*self.policy_problems, *(p for r in self.results for p in r.problems)]


def read_policy(root: Path, base: str | None) -> Policy:
    """The policy of the working tree, or of the commit ``base`` (pull-request mode)."""
    if base is None:
        pdir = root / POLICY_DIR
        files = {
            f"{POLICY_DIR}/{p.name}": p.read_bytes()
            for p in sorted(pdir.glob("*.yaml"))
            if p.is_file() and not p.is_symlink()
        }
    else:
        files = Git(root).files_at(base, POLICY_DIR, ".yaml")
    return load_policy(files)


def _grant_files(root: Path, only: Sequence[str] | None) -> tuple[list[str], list[Problem]]:
    """Repo-relative paths of the grant files to judge, and problems with the directory."""
    gdir = root / GRANTS_DIR
    problems: list[Problem] = []
    if only:
        paths = []
        for raw in only:
            full = Path(raw) if Path(raw).is_absolute() else Path.cwd() / raw
            try:
                rel = full.resolve(strict=False).relative_to(root.resolve()).as_posix()
            except ValueError:
                rel = str(raw)
            if os.path.islink(full):
                rel = full.parent.resolve().relative_to(root.resolve()).as_posix() + "/" + full.name
            if not (rel.startswith(GRANTS_DIR + "/") and rel.count("/") == 1):
                raise UsageError(
                    f"{raw}: not a grant file; grants are .yaml files directly in {GRANTS_DIR}/"
                )
            paths.append(rel)
        return paths, problems
    if not gdir.is_dir():
        return [], problems
    paths = []
    for entry in sorted(os.scandir(gdir), key=lambda e: e.name):
        rel = f"{GRANTS_DIR}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if any(p.suffix in (".yaml", ".yml") for p in Path(entry.path).rglob("*")):
                problems.append(
                    Problem(
                        rel,
                        0,
                        "grant files live directly in grants/, not in "
                        "sub-directories; move the file up",
                    )
                )
            continue
        if entry.name.endswith(".yml"):
            problems.append(
                Problem(rel, 0, f"grant files end in .yaml; rename it to {entry.name[:-4]}.yaml")
            )
        elif entry.name.endswith(".yaml"):
            paths.append(rel)
    return paths, problems


def validate_repo(
    root: Path, *, base: str | None = None, files: Sequence[str] | None = None
) -> Report:
    """Judge the grants of the access repository at ``root``."""
    git = Git(root)
    in_git = git.is_repo()
    notices: list[str] = []
    if base is not None:
        if not in_git:
            raise UsageError(f"--base {base}: {root} is not a git repository")
        if git.rev_parse(base) is None:
            raise UsageError(f"--base {base}: no such commit; fetch it first (git fetch)")
    try:
        policy = read_policy(root, base)
    except PolicyError as exc:
        return Report(base or "working tree", tuple(exc.problems))

    ref = base or ("HEAD" if in_git and git.rev_parse("HEAD") else None)
    existing: set[str] = set()
    used_ids: set[str] | None = None
    if ref is not None:
        existing = {e.path for e in git.ls_tree(ref, GRANTS_DIR)}
        used_ids = grant_ids_in(git.paths_ever_added(ref, GRANTS_DIR))
    else:
        notices.append(
            "not a git repository with commits: grant ids were not checked against history"
        )

    paths, dir_problems = _grant_files(root, files)
    results = [GrantResult(p.path, None, (p,)) for p in dir_problems]
    for path in paths:
        results.append(_judge(root, path, policy, existing, used_ids, ref is not None))
    return Report(base or "working tree", (), tuple(results), tuple(notices))


def _judge(
    root: Path,
    path: str,
    policy: Policy,
    existing: set[str],
    used_ids: set[str] | None,
    have_history: bool,
) -> GrantResult:
    full = root / path
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return GrantResult(path, None, (Problem(path, 0, "file does not exist"),))
    if stat.S_ISLNK(st.st_mode):
        return GrantResult(
            path,
            None,
            (
                Problem(
                    path,
                    0,
                    "grant files must be regular files, not symbolic links; "
                    "replace the link with the file itself",
                ),
            ),
        )
    if not stat.S_ISREG(st.st_mode):
        return GrantResult(path, None, (Problem(path, 0, "not a regular file"),))
    if st.st_size > yamlsafe.GRANT_MAX_BYTES:  # never read a huge file into memory
        problem = yamlsafe.size_problem(path, st.st_size, yamlsafe.GRANT_MAX_BYTES)
        return GrantResult(path, None, (problem,))
    grant, problems = read_grant(full.read_bytes(), path)
    if grant is None:
        return GrantResult(path, None, tuple(problems))
    is_new = path not in existing if have_history else grant.status is None
    ctx = checks.GrantContext(
        is_new=is_new,
        used_ids=used_ids if is_new else None,
    )
    # -- time and risk: a new request's not_before/emergency judged now (extends by the gate)
    judged = policy
    if is_new:
        from datetime import UTC, datetime

        from jitops.core.judge import judge

        judgement = judge(grant, policy, at=datetime.now(UTC), teams=None)
        judged, problems = judgement.policy, problems + list(judgement.problems)
    found = problems + checks.check_grant(grant, judged, ctx)
    found.sort(key=lambda p: p.line)
    return GrantResult(path, grant, tuple(found))


def run_policy_tests(root: Path, policies_dir: Path | None, files: Sequence[Path]) -> TestReport:
    """Run ``files`` (default: ``tests/*.yaml`` beside the policy) against the policy of
    ``root`` (or the ``*.yaml`` policy files of ``policies_dir``)."""
    if policies_dir is None:
        policy = read_policy(root, None)
        tests_dir = root / POLICY_DIR / "tests"
    else:
        policy = load_policy(
            {
                f"{POLICY_DIR}/{p.name}": p.read_bytes()
                for p in sorted(policies_dir.glob("*.yaml"))
                if p.is_file() and not p.is_symlink()
            }
        )
        tests_dir = policies_dir / "tests"
    paths = list(files) or sorted(tests_dir.glob("*.yaml"))
    cases = {}
    for path in paths:
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            rel = str(path)
        cases[rel] = path.read_bytes()
    return run_cases(policy, cases)


__all__ = [
    "GrantResult",
    "Report",
    "grant_id_of",
    "read_policy",
    "run_policy_tests",
    "validate_repo",
]
