"""What this jitops is: its version and the commit it was built from.

The build (setup.py) writes ``jitops/_build.py`` into the wheel and the sdist with the version
(from git tags, through setuptools-scm) and the full commit of the checkout it built. A build
without a checkout or a ``git archive`` of one records no commit, and neither does an editable
install or a run from the source tree: :attr:`Build.commit` is then "" and :func:`describe`
says so. `jitops init` pins the jitops Action to :attr:`Build.commit`: the workflows of an
access repository run the very code the admin's jitops was built from.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata

#: where the jitops Action (and this repository) lives: what `jitops init` pins by default
HOME = "jitops/jitops"


@dataclass(frozen=True)
class Build:
    version: str
    commit: str  # full 40-hex commit, or "" when the build could not know it
    stamped: bool  # False: an editable install or the source tree, never built


def build() -> Build:
    try:
        stamp = importlib.import_module("jitops._build")
    except ImportError:
        try:
            version = metadata.version("jitops")
        except metadata.PackageNotFoundError:
            version = "0+unknown"
        return Build(version, "", stamped=False)
    return Build(str(stamp.VERSION), str(stamp.COMMIT), stamped=True)


def describe() -> str:
    """The line `jitops --version` prints."""
    b = build()
    if b.commit:
        return f"jitops {b.version} (commit {b.commit})"
    if b.stamped:
        return f"jitops {b.version} (built without a git checkout: commit unknown)"
    return f"jitops {b.version} (not built: an editable install or the source tree; commit unknown)"
