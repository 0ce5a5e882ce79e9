"""`jitops claim`: open a sealed delivery on the requester's laptop and unwrap it once.

The delivery is the age-armored block in the pull request comment, sealed to the SSH keys on
the requester's GitHub account. Opening it gives a single-use Vault wrapping token; unwrapping
it gives the credential. A second unwrap fails loudly: someone else got there first.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from jitops.core.duration import format_duration
from jitops.core.grant import format_time, grant_path, read_grant
from jitops.core.inert import one_line
from jitops.core.policy import ACTIONS_BOT
from jitops.delivery.comment import extract_sealed
from jitops.delivery.seal import default_identities, unseal_first
from jitops.doors.github import GitHub
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import Unwrapped
from jitops.errors import JitopsError, UsageError
from jitops.lifecycle.validate import read_policy


class ClaimError(JitopsError):
    """The delivery could not be found or opened."""


ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
BOT_HELP = (
    "set settings.bot in policies/ (admins) or pass --bot LOGIN to the login of the GitHub App "
    "jitops posts as, e.g. my-jitops[bot]: create a GitHub App with Issues and Pull requests "
    "write, install it on the access repository, and let the issue workflow mint its token "
    "with actions/create-github-app-token (see the README's set-up section)"
)


def delivery_bot(explicit: str | None, root: Path | None) -> str:
    """The only login whose deliveries ``claim`` trusts: ``--bot``, else ``settings.bot`` of
    the checkout's policy. Required, and never ``github-actions[bot]``: a pull request's
    workflow runs the author's code and comments as that same identity, so anyone who can open
    a pull request could post a look-alike delivery."""
    bot = (explicit or "").strip()
    if not bot and root is not None:
        try:
            bot = read_policy(root, None).settings.bot or ""
        except JitopsError:
            bot = ""
    if not bot:
        raise ClaimError(f"claim needs to know which account posts deliveries: {BOT_HELP}")
    if bot.lower() == ACTIONS_BOT:
        raise ClaimError(
            f"{ACTIONS_BOT} cannot be trusted as the delivery identity: every pull request "
            "workflow runs the author's code and comments as it, so a delivery from it may be "
            f"a forgery; {BOT_HELP}"
        )
    return bot


def unwrap_address(delivered: str, explicit: str | None, root: Path | None) -> str:
    """Where to unwrap: ``--vault-addr`` (or ``VAULT_ADDR``) when given, else the address the
    delivery names -- which must be ``settings.vault.addr`` when the policy pins one. Anyone
    who can edit a comment in the repository could replace the sealed block with one sealed
    to the requester's public key that names their own server (GitHub's GraphQL schema,
    ``CommentCannotEditReason.INSUFFICIENT_ACCESS``: "You must be the author or have write
    access to this repository to edit this comment"); pinning the address makes ``claim``
    refuse it instead of unwrapping there."""
    if explicit:
        return explicit
    pinned = None
    if root is not None:
        try:
            pinned = read_policy(root, None).settings.vault.addr
        except JitopsError:
            pinned = None
    if pinned and _norm(pinned) != _norm(delivered):
        raise ClaimError(
            f"the delivery names Vault at {one_line(delivered, 200)}, but the policy pins "
            f"settings.vault.addr {pinned}: the delivery comment may have been edited; do not "
            "use it, and ask an admin to revoke the grant and check the comment's history"
        )
    return pinned or delivered


def _norm(addr: str) -> str:
    return addr.strip().rstrip("/").lower()


def find_delivery(
    *,
    grant_id: str,
    repo: Path,
    comments_of: Callable[[int], Sequence[tuple[str, str]]],
    bot: str,
    pull_request: int | None = None,
) -> str:
    """The armored delivery for ``grant_id`` from its pull request's comments, given as
    ``(author, body)`` oldest first. Only comments by ``bot`` count: anyone can post a
    look-alike."""
    if pull_request is None:
        path = repo / grant_path(grant_id)
        if not path.is_file():
            raise ClaimError(
                f"{grant_path(grant_id)} is not in this checkout; run `git pull` (jitops "
                "commits the grant's status when it issues access) or pass --pr NUMBER"
            )
        grant, _ = read_grant(path.read_bytes(), grant_path(grant_id))
        if grant is None or grant.status is None or grant.status.pull_request is None:
            raise ClaimError(
                f"grant {grant_id} has not been issued yet (no status block); wait for the "
                "issue job after the merge, `git pull`, or pass --pr NUMBER"
            )
        pull_request = grant.status.pull_request
    comments = comments_of(pull_request)
    armored = extract_sealed(
        (body for author, body in comments if author.lower() == bot.lower()), grant_id
    )
    if armored is None:
        others = sorted({a for a, body in comments if extract_sealed([body], grant_id) is not None})
        hint = (
            f"; a delivery was posted by {', '.join(others)}: if that is your jitops bot, "
            "run again with --bot LOGIN (admins: set settings.bot in policies/)"
            if others
            else "; the issue job may still be running — try again in a minute"
        )
        raise ClaimError(
            f"no delivery for {grant_id} by {bot} in the comments of pull request "
            f"#{pull_request}{hint}"
        )
    return armored


def render(grant_id: str, claimed: Unwrapped, fmt: str, now: datetime) -> str:
    """The credential for the requester's terminal — the one place it is revealed."""
    expires_at = now + timedelta(seconds=claimed.lease_duration) if claimed.lease_duration else None
    expires = format_time(expires_at) if expires_at else None
    if fmt == "json":
        return json.dumps(
            {
                "grant": grant_id,
                "kind": claimed.kind,
                "expires_at": expires,
                "lease_id": claimed.lease_id,
                "credentials": {k: v.reveal() for k, v in claimed.values.items()},
            },
            indent=2,
        )
    if fmt == "env":
        return _env_lines(grant_id, claimed, expires)
    width = max((len(k) for k in claimed.values), default=0)
    out = [f"grant {grant_id}: {claimed.kind} claimed (this delivery is now used up)"]
    out += [f"  {k.ljust(width)}  {v.reveal()}" for k, v in claimed.values.items()]
    if expires:
        left = format_duration(timedelta(seconds=claimed.lease_duration))
        out.append(f"  expires at {expires} (in {left}); Vault ends it by itself then")
    return "\n".join(out)


def _env_lines(grant_id: str, claimed: Unwrapped, expires: str | None) -> str:
    """``export NAME='value'`` lines that are safe to ``eval``: every name (``JITOPS_`` + the
    key upper-cased, ``-`` and ``.`` as ``_``) must match ``[A-Z_][A-Z0-9_]*`` (a delivery
    naming anything else is refused, nothing is printed) and
    every value is shell-quoted. A bare token prints exactly one ``VAULT_TOKEN`` (the token;
    the accessor is not a usable token)."""
    pairs: list[tuple[str, str]] = []
    if claimed.kind == "token":
        token = claimed.values.get("token")
        if token is None:
            raise ClaimError(f"the delivery of {grant_id} holds no token; ask an admin")
        pairs.append(("VAULT_TOKEN", token.reveal()))
    else:
        for key, value in claimed.values.items():
            name = "JITOPS_" + key.upper().replace("-", "_").replace(".", "_")
            if ENV_NAME.fullmatch(name) is None:
                raise ClaimError(
                    f"the delivery of {grant_id} has a field whose name is not a safe shell "
                    "variable name; nothing was printed for eval: use --format json or text "
                    "to see it, and tell an admin (the secret's keys should be plain words)"
                )
            pairs.append((name, value.reveal()))
    if expires:
        pairs.append(("JITOPS_EXPIRES_AT", expires))
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in pairs)


def run_claim(
    grant_id: str,
    *,
    repo: Path,
    armored: str | None,
    github: GitHub | None,
    bot: str | None,
    pull_request: int | None,
    identities: Sequence[Path],
    home: Path,
    vault_addr: str | None,
    say: Callable[[str], None] = lambda _msg: None,
) -> Unwrapped:
    """Find the delivery (``armored`` when the requester saved it, else the trusted bot's
    comment on the grant's pull request), open it with the requester's SSH key and unwrap it
    once in Vault."""
    if armored is None:
        if github is None:
            raise UsageError(
                "to fetch the delivery from the pull request give --repo-name and --token "
                "(or GITHUB_REPOSITORY and GITHUB_TOKEN), or save it and use --from FILE"
            )
        gh = github
        armored = find_delivery(
            grant_id=grant_id,
            repo=repo,
            comments_of=lambda n: [(c.author, c.body) for c in gh.comments(n)],
            bot=delivery_bot(bot, repo),
            pull_request=pull_request,
        )
    keys = list(identities) or default_identities(home)
    payload = unseal_first(armored, keys, grant_id=grant_id)
    addr = unwrap_address(payload.vault_addr, vault_addr, repo)
    say(f"unwrapping at {addr}")
    vault = Vault(addr, namespace=payload.vault_namespace)
    try:
        return vault.unwrap(payload.wrapping_token)
    finally:
        vault.close()
