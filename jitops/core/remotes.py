"""Which GitHub repository a git remote URL names, and the API that serves it (pure).

``jitops request`` and ``jitops claim`` run on a requester's laptop, in a clone of the access
repository: when neither ``--repo-name`` nor ``GITHUB_REPOSITORY`` is given, the remote says
which repository it is. Understood, as ``git clone`` accepts them for GitHub:

- ``https://HOST/OWNER/REPO(.git)`` (with or without ``user@`` or a port);
- ``ssh://git@HOST(:PORT)/OWNER/REPO(.git)``;
- scp-like ``git@HOST:OWNER/REPO(.git)``.

The API of github.com is ``https://api.github.com``; a GitHub Enterprise Server host serves it
at ``https://HOST/api/v3`` (GitHub's REST API docs, "About the REST API": "the REST API for
GitHub Enterprise Server is at http(s)://HOSTNAME/api/v3"). GHE.com (``*.ghe.com``) serves it
at ``https://api.SUBDOMAIN.ghe.com``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"  # a GitHub login (owner)
_REPO = r"[A-Za-z0-9._-]{1,100}"
_HOST = r"[A-Za-z0-9.-]+"
_FORMS = (
    re.compile(
        rf"https?://(?:[^@/]+@)?(?P<host>{_HOST})(?::\d+)?/(?P<owner>{_NAME})/(?P<repo>{_REPO}?)/?"
    ),
    re.compile(
        rf"ssh://(?:[^@/]+@)?(?P<host>{_HOST})(?::\d+)?/(?P<owner>{_NAME})/(?P<repo>{_REPO}?)/?"
    ),
    re.compile(
        rf"(?:[^@/:]+@)?(?P<host>{_HOST}\.{_HOST}):/?(?P<owner>{_NAME})/(?P<repo>{_REPO}?)/?"
    ),
)


@dataclass(frozen=True)
class GitHubRemote:
    host: str  # lower case, e.g. github.com or ghe.example.com
    full_name: str  # OWNER/REPO

    @property
    def api_url(self) -> str:
        if self.host == "github.com":
            return "https://api.github.com"
        if self.host.endswith(".ghe.com"):
            return f"https://api.{self.host}"
        return f"https://{self.host}/api/v3"


def parse_remote(url: str) -> GitHubRemote | None:
    """The repository a remote URL names; None for anything else (a path, a bundle...)."""
    text = url.strip()
    for form in _FORMS:
        match = form.fullmatch(text)
        if match is None:
            continue
        repo = match.group("repo").removesuffix(".git")
        if not repo or repo in (".", ".."):
            return None
        return GitHubRemote(match.group("host").lower(), f"{match.group('owner')}/{repo}")
    return None
