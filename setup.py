"""Build hook: stamps the commit jitops is built from into the package (``jitops/_build.py``).

Everything else about the build is in pyproject.toml; the version comes from git tags through
setuptools-scm. This file adds one generated module to the wheel and the sdist:

    VERSION = "0.2.0"
    COMMIT = "<the full 40-hex commit>"   # "" when the build had no way to know it

The commit is read, in this order, from: the module itself when building from an sdist (the
sdist was made from a checkout and carries it), ``git rev-parse HEAD`` when the source folder
is the top of a git work tree, and ``.git_archival.txt`` when the source is an archive of the
repository made by ``git archive`` (GitHub's tarballs, which is how an Action's files reach a
runner; the file's ``$Format:%H$`` is filled in by git's export-subst). A build without any of
them records "" and says so: `jitops --version` reports it and `jitops init` asks for
``--action-ref``. An editable install writes nothing: its code is the working tree, whatever
commit that is later.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
STAMP = Path("jitops") / "_build.py"
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def _from_git() -> str:
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        if Path(top).resolve() != HERE:
            return ""  # a folder inside some other repository: not our history
        head = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head if FULL_SHA.match(head) else ""


def _from_archive() -> str:
    archival = HERE / ".git_archival.txt"
    if not archival.is_file():
        return ""
    for line in archival.read_text("utf-8").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "node" and FULL_SHA.match(value.strip()):
            return value.strip()
    return ""  # not filled in: the file was copied, not exported by git archive


def commit() -> str:
    return _from_git() or _from_archive()


def stamp_text(version: str, sha: str) -> str:
    how = "the commit it was built from" if sha else "built without a git checkout or archive"
    return (
        '"""Written by the build (setup.py): the version and the commit of this jitops."""\n\n'
        f"# {how}\n"
        f"VERSION = {version!r}\n"
        f"COMMIT = {sha!r}\n"
    )


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / STAMP
        source = HERE / STAMP
        if source.is_file():
            # building from an sdist: it carries the stamp of the checkout it was made from
            text = source.read_text("utf-8")
        else:
            text = stamp_text(self.distribution.get_version(), commit())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / STAMP
        if target.exists():
            target.unlink()  # a hard link into the source tree: never write through it
        if (HERE / STAMP).is_file():
            text = (HERE / STAMP).read_text("utf-8")
        else:
            text = stamp_text(self.distribution.get_version(), commit())
        target.write_text(text, "utf-8")


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
