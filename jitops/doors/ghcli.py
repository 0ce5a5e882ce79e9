"""The GitHub CLI door: a token from ``gh auth token``, for commands run on a laptop.

``jitops request`` and ``jitops claim`` need a GitHub token; most people who use GitHub from a
terminal have signed in with ``gh auth login``, and ``gh auth token --hostname HOST`` prints
the token it keeps (GitHub CLI manual, ``gh auth token``: "Print the authentication token gh
uses for a hostname and account"). Only when the environment has no token; the token is never
logged or shown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

GH_TIMEOUT = 15


def gh_token(host: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The token ``gh`` keeps for ``host`` (github.com or a GHES host); None when ``gh`` is
    not installed, not signed in there, or does not answer in time."""
    env = dict(os.environ if environ is None else environ)
    exe = shutil.which("gh", path=env.get("PATH"))
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "auth", "token", "--hostname", host],
            capture_output=True,
            timeout=GH_TIMEOUT,
            env={**env, "GH_PROMPT_DISABLED": "1", "NO_COLOR": "1"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    token = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not token or any(c.isspace() for c in token):
        return None
    return token
