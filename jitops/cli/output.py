"""Writing a command's result to ``--output FILE``: whole or not at all, with a clear error."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from jitops.errors import JitopsError


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, so a failed write never
    leaves a truncated report; missing parent directories are created."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise JitopsError(
            f"{path}: cannot write it ({reason}); choose a file you can write"
        ) from None
