"""The git door: the only package that runs ``git``.

Git is jitops' ledger. ``git`` holds the commands of one repository (file contents at a ref,
the ids a directory ever held, commits, landing on a remote); ``log`` streams history for the
audit as :class:`~jitops.core.commits.LogCommit` values. Each call runs one git process; reads
of many objects go through one ``git cat-file --batch``. Callers import from this package.
"""

from jitops.doors.git._base import GIT_TIMEOUT, GitError
from jitops.doors.git.log import BlobStream
from jitops.doors.git.repo import (
    BOT_EMAIL,
    BOT_NAME,
    SIGNING_KEY_ENV,
    Git,
    PushRefused,
    PushRejected,
    TreeEntry,
    check_signing,
    find_root,
    signing,
)

__all__ = [
    "BOT_EMAIL",
    "BOT_NAME",
    "GIT_TIMEOUT",
    "SIGNING_KEY_ENV",
    "BlobStream",
    "Git",
    "GitError",
    "PushRefused",
    "PushRejected",
    "TreeEntry",
    "check_signing",
    "find_root",
    "signing",
]
