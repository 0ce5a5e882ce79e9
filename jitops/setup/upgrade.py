"""`jitops init --upgrade`: render the managed files again from ``.jitops/init.yaml``.

:func:`read_record` turns the record into the recorded :class:`~jitops.setup.init.InitOptions`
and the digests of the files as init last rendered them. :func:`plan_upgrade` renders the
managed files (workflows, pre-commit hook, editor schemas) with the options, which keep every
recorded choice unless the command line changes one. :func:`compare_upgrade` decides per file:
missing -> create; equal to the new rendering -> unchanged; still what init rendered last time
-> overwrite; anything else was changed by hand -> a conflict, and nothing is written unless
forced. The policy, its tests, CODEOWNERS, grants/README.md and .gitignore are the admins' own
and are never touched by an upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jitops.core import schema as schemas
from jitops.core import yamlsafe
from jitops.setup.init import (
    RECORD,
    Change,
    FileAction,
    InitError,
    InitOptions,
    digest,
    managed_files,
    render_record,
)

#: a record is a few dozen lines
RECORD_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Record:
    options: InitOptions  # the recorded choices (admins unknown: an upgrade does not need them)
    rendered: Mapping[str, str]  # path -> "sha256:<hex>" as init last wrote it


def parse_record(data: bytes, source: str = RECORD) -> Record:
    """The record's choices; an InitError naming every problem when it is not valid."""
    try:
        doc = yamlsafe.load(data, source, max_bytes=RECORD_MAX_BYTES)
    except yamlsafe.YamlError as exc:
        raise InitError(f"{exc}; fix it, or run `jitops init` again with your options") from exc
    problems = schemas.check(doc, "init")
    if problems:
        raise InitError(
            "; ".join(str(p) for p in problems)
            + ": fix the record (see `jitops schema init`), or run `jitops init` again"
        )
    raw: dict[str, Any] = doc.data
    vault = raw["vault"]
    options = InitOptions(
        admins=("@admins",),
        app_slug=raw["app_slug"],
        action_repo=raw["action"]["repository"],
        action_ref=raw["action"]["ref"],
        runs_on=tuple(raw["runs_on"]),
        environment=raw["environment"],
        vault_namespace=vault.get("namespace", ""),
        vault_ca_cert_secret=vault.get("ca_cert_secret", ""),
        jwt_mount=vault["jwt_mount"],
    )
    return Record(options, dict(raw["rendered"]))


def read_record(root: Path) -> Record | None:
    """The record of the access repository at ``root`` (None when there is none)."""
    path = root / RECORD
    if not path.is_file():
        return None
    return parse_record(path.read_bytes())


def plan_upgrade(options: InitOptions) -> dict[str, str]:
    """The managed files rendered with ``options``, and the record of that rendering."""
    files = managed_files(options)
    files[RECORD] = render_record(options, {p: digest(t) for p, t in files.items()})
    return files


def compare_upgrade(
    root: Path, files: Mapping[str, str], rendered: Mapping[str, str], *, force: bool
) -> list[FileAction]:
    """What upgrading would do to each file (``rendered``: the record's digests)."""
    out = []
    for path, text in sorted(files.items()):
        target = root / path
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise InitError(f"{path}: exists and is not a regular file; move it away")
        if not target.exists():
            change = Change.CREATE
        else:
            current = target.read_text("utf-8", errors="replace")
            if current == text:
                change = Change.SAME
            elif path == RECORD or rendered.get(path) == digest(current) or force:
                change = Change.OVERWRITE
            else:
                change = Change.CONFLICT
        out.append(FileAction(path, change))
    return out


def apply_upgrade(
    root: Path,
    files: Mapping[str, str],
    rendered: Mapping[str, str],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> list[FileAction]:
    """Write the new rendering; refuses (writing nothing) when a file was changed by hand."""
    actions = compare_upgrade(root, files, rendered, force=force)
    conflicts = [a.path for a in actions if a.change is Change.CONFLICT]
    if conflicts and not dry_run:
        raise InitError(
            f"{', '.join(conflicts)}: changed by hand since `jitops init` rendered it; nothing "
            "was written. Keep your change and pin the new commit by hand, or re-run with "
            "--force to replace the file with the new rendering (then apply your change "
            "again); --dry-run lists what an upgrade would do"
        )
    if dry_run:
        return actions
    for action in actions:
        if action.change in (Change.CREATE, Change.OVERWRITE):
            target = root / action.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[action.path], "utf-8")
    return actions
