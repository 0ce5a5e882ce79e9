"""What every part of the git door shares: the error, the timeout, the environment."""

from __future__ import annotations

import os

from jitops.errors import JitopsError

GIT_TIMEOUT = 120


class GitError(JitopsError):
    """A git command failed."""


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    env.pop("JITOPS_SIGNING_KEY", None)  # key material reaches git only as a 0600 file
    return env
