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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jitops.core.duration import format_duration
from jitops.core.grant import Grant, format_time, grant_path, read_grant
from jitops.core.inert import one_line
from jitops.core.policy import ACTIONS_BOT, POLICY_DIR, Policy, load_policy
from jitops.delivery.comment import SpentNote, extract_sealed, find_spent, holds_sealed
from jitops.delivery.seal import Ask, default_identities, unseal_first
from jitops.doors.github import GitHub
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import GRANT_META, Unwrapped, VaultError, WrapLookup
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


def delivery_bot(explicit: str | None, root: Path | None, policy: Policy | None = None) -> str:
    """The only login whose deliveries ``claim`` trusts: ``--bot``, else ``settings.bot`` of
    the checkout's policy. Required, and never ``github-actions[bot]``: a pull request's
    workflow runs the author's code and comments as that same identity, so anyone who can open
    a pull request could post a look-alike delivery."""
    bot = (explicit or "").strip()
    if not bot and policy is not None:
        bot = policy.settings.bot or ""
    elif not bot and root is not None:
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


def unwrap_address(
    delivered: str, explicit: str | None, root: Path | None, policy: Policy | None = None
) -> str:
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
    if policy is not None:
        pinned = policy.settings.vault.addr
    elif root is not None:
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
    grant: Grant,
    comments_of: Callable[[int], Sequence[tuple[str, str]]],
    bot: str,
    pull_request: int | None = None,
) -> str:
    """The armored delivery for ``grant_id`` from its pull request's comments, given as
    ``(author, body)`` oldest first. Only comments by ``bot`` count: anyone can post a
    look-alike. ``grant`` is the issued grant (its status names the pull request)."""
    if pull_request is None:
        assert grant.status is not None
        if grant.status.pull_request is None:
            raise ClaimError(f"grant {grant_id} records no pull request; pass --pr NUMBER")
        pull_request = grant.status.pull_request
    comments = comments_of(pull_request)
    mine = [body for author, body in comments if author.lower() == bot.lower()]
    armored = extract_sealed(mine, grant_id)
    spent = _spent_after_sealed(mine, grant_id)
    if spent is not None:
        raise ClaimError(
            f"{spent.sentence(grant_id)}, says the delivery comment on pull request "
            f"#{pull_request}; its sealed block was removed. A delivery opens once: if you "
            "claimed it, your credential is what that claim printed. If it was not you, have "
            f'the grant revoked (`jitops revoke {grant_id} --reason "delivery claimed by '
            'someone else"`, or ask an admin) and request access again.'
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


def _spent_after_sealed(bodies: Sequence[str], grant_id: str) -> SpentNote | None:
    """The spent note of the bot's newest delivery comment of ``grant_id`` when that comment
    was shrunk (None when a sealed block is newer, or none was shrunk)."""
    newest: SpentNote | None = None
    for body in bodies:  # oldest first
        note = find_spent(body, grant_id)
        if note is not None:
            newest = note
        elif holds_sealed(body, grant_id):
            newest = None
    return newest


def issued_grant(grant_id: str, repo: Path) -> Grant:
    """The grant as this checkout of main records it, with jitops' status block: which role
    (so which Vault path jitops wrapped) and when it was issued."""
    path = repo / grant_path(grant_id)
    if not path.is_file():
        raise ClaimError(
            f"{grant_path(grant_id)} is not in this checkout; run `git pull` in a checkout of "
            "the access repository (jitops commits the grant's status when it issues access) "
            "and claim from there (--repo PATH)"
        )
    grant, _ = read_grant(path.read_bytes(), grant_path(grant_id))
    if grant is None or grant.status is None:
        raise ClaimError(
            f"grant {grant_id} has not been issued yet (no status block); wait for the "
            "issue job after the merge and `git pull`"
        )
    return grant


def issued_grant_on_github(grant_id: str, github: GitHub, branch: str) -> tuple[Grant, Policy]:
    """The grant and the policy as ``branch`` (main) holds them on GitHub, read through the
    contents API -- whatever the local checkout is on (``jitops request`` leaves the requester
    on the request branch, whose copy of the grant has no status block).

    As trustworthy as a pulled checkout of main: the status block on main is written by
    jitops' own commit, and the policy is main's; both feed the wrapping-token checks."""
    path = grant_path(grant_id)
    # the branch's commit first: a contents read by name could resolve a tag that a writer
    # named like the branch (git prefers tags to branches for an ambiguous short name)
    head = github.branch_head(branch)
    if head is None:
        raise ClaimError(f"{github.repo_full_name} has no branch {branch}; check --branch")
    data = github.file_at(path, head)
    if data is None:
        raise ClaimError(
            f"{path} is not on {branch} of {github.repo_full_name}: the pull request is not "
            "merged yet, the grant has already ended (expired, revoked or denied: see `git log "
            f"-- {path}`), or the id is mistyped; claim after the merge and the issue job"
        )
    grant, _ = read_grant(data, path)
    if grant is None or grant.status is None:
        raise ClaimError(
            f"grant {grant_id} has not been issued yet (no status block on {branch}); wait "
            "for the issue job after the merge, then claim again"
        )
    try:
        policy = load_policy(github.files_at(POLICY_DIR, head, ".yaml"))
    except JitopsError as exc:
        raise ClaimError(
            f"cannot read the policy on {branch} of {github.repo_full_name} ({exc}); ask an admin"
        ) from exc
    return grant, policy


#: how far Vault's clock and the issue job's may disagree (the status block's ``issued_at`` is
#: read on the job's runner just before the token is created; Vault stamps the wrapping token)
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class ExpectedDelivery:
    """What a genuine delivery of one grant looks like to Vault's ``sys/wrapping/lookup``:
    the answer of ``creation_path`` (the role's ``vault.secret`` read, or the grant token's
    creation through the token role), wrapped soon after ``issued_at``."""

    grant_id: str
    creation_path: str
    issued_at: datetime
    wrap_ttl: timedelta
    namespace: str | None = None

    @classmethod
    def of(cls, grant: Grant, policy: Policy) -> ExpectedDelivery:
        role = policy.roles.get(grant.role)
        if role is None or grant.status is None:
            raise ClaimError(
                f"the policy in this checkout has no role {one_line(grant.role, 80)} for grant "
                f"{grant.id}; `git pull`, or ask an admin"
            )
        vs = policy.settings.vault
        path = (
            str(role.vault_secret).strip("/")
            if role.vault_secret
            else f"auth/token/create/{vs.token_role}"
        )
        return cls(grant.id, path, grant.status.issued_at, policy.settings.wrap_ttl, vs.namespace)


def check_wrapping(expected: ExpectedDelivery, looked: WrapLookup, now: datetime) -> None:
    """Refuse a wrapping token Vault did not make for this grant (pure; nothing is spent).

    A writer can edit the bot's comment and seal any wrapping token to the requester's public
    SSH key; Vault's own record of the token says which request made it, and when."""
    if looked.creation_path.strip("/") != expected.creation_path:
        raise ClaimError(
            f"the delivery of {expected.grant_id} was not made by jitops: Vault says its "
            f"wrapping token wraps the answer of {one_line(looked.creation_path, 120)!r}, not "
            f"{expected.creation_path!r} (what jitops wraps for this grant's role). Nothing was "
            "unwrapped. The delivery comment may have been edited: do not use it, and ask an "
            "admin to revoke the grant (`jitops revoke ID --reason ...`) and check the "
            "comment's edit history"
        )
    created = looked.creation_time
    earliest = expected.issued_at - CLOCK_SKEW
    latest = expected.issued_at + expected.wrap_ttl + CLOCK_SKEW
    if created is None or not earliest <= created <= latest:
        when = format_time(created) if created else "an unknown time"
        raise ClaimError(
            f"the delivery of {expected.grant_id} was not made by jitops for this issue: Vault "
            f"made its wrapping token at {when}, but jitops issued the grant at "
            f"{format_time(expected.issued_at)}. Nothing was unwrapped. The delivery comment "
            "may have been edited (or is from an earlier issue): do not use it, and ask an "
            "admin to revoke the grant and check the comment's edit history"
        )
    if created + timedelta(seconds=looked.creation_ttl) <= now:
        raise ClaimError(
            f"the delivery of {expected.grant_id} expired before it was claimed; ask again "
            "(open a new grant pull request or ask an admin to re-issue it)"
        )


def check_token(grant_id: str, meta_grant: str | None) -> None:
    """The claimed token must be the one jitops created for ``grant_id`` (its metadata)."""
    if meta_grant != grant_id:
        said = one_line(meta_grant, 80) if meta_grant else "no grant"
        raise ClaimError(
            f"the delivery holds the token of {said}, not the token of {grant_id}: the "
            "delivery comment may have been edited (another grant's delivery sealed to you). "
            "It is not shown; ask an admin to revoke both grants and check the comment's edit "
            "history"
        )


def delivery_namespace(delivered: str | None, pinned: str | None) -> str | None:
    """The namespace to unwrap in: the delivery's, which must be ``settings.vault.namespace``
    when the policy pins one."""
    have, want = _ns(delivered), _ns(pinned)
    if want is not None and have != want:
        raise ClaimError(
            f"the delivery names Vault namespace {one_line(have or '(root)', 120)!r}, but the "
            f"policy pins settings.vault.namespace {want!r}: the delivery comment may have "
            "been edited; do not use it, and ask an admin to revoke the grant and check the "
            "comment's history"
        )
    return have


def _ns(value: str | None) -> str | None:
    return (value or "").strip().strip("/") or None


def render(grant_id: str, claimed: Unwrapped, fmt: str, now: datetime) -> str:
    """The credential for the requester's terminal — the one place it is revealed."""
    expires_at = now + timedelta(seconds=claimed.lease_duration) if claimed.lease_duration else None
    expires = format_time(expires_at) if expires_at else None
    static = is_static(claimed)
    if static:
        expires = None  # a read without a lease: nothing in Vault ends it
    if fmt == "json":
        return json.dumps(
            {
                "grant": grant_id,
                "kind": claimed.kind,
                "expires_at": expires,
                "lease_id": claimed.lease_id,
                "static": static,
                **({"note": STATIC_NOTE} if static else {}),
                "credentials": {k: v.reveal() for k, v in claimed.values.items()},
            },
            indent=2,
        )
    if fmt == "env":
        return _env_lines(grant_id, claimed, expires)
    width = max((len(k) for k in claimed.values), default=0)
    out = [f"grant {grant_id}: {claimed.kind} claimed (this delivery is now used up)"]
    out += [f"  {k.ljust(width)}  {v.reveal()}" for k, v in claimed.values.items()]
    if static:
        out.append(f"  {STATIC_NOTE}")
    elif expires:
        left = format_duration(timedelta(seconds=claimed.lease_duration))
        out.append(f"  expires at {expires} (in {left}); Vault ends it by itself then")
    return "\n".join(out)


#: what claim says of a secret Vault returned without a lease (KV, a static role)
STATIC_NOTE = (
    "static secret (no lease): the grant's end or `jitops revoke` does not end it; it must be "
    "rotated after the grant ends"
)


def is_static(claimed: Unwrapped) -> bool:
    """A secret whose answer has no lease outlives the grant token (a token is its own
    lease: it is revoked with the grant)."""
    return claimed.kind == "secret" and not claimed.lease_id


def _env_lines(grant_id: str, claimed: Unwrapped, expires: str | None) -> str:
    """For callers that cannot show a note: every field must be exportable (:func:`show`
    gives the rest to the terminal instead)."""
    lines, refused = env_exports(grant_id, claimed, expires)
    if refused:
        raise ClaimError(
            f"the delivery of {grant_id} has a field whose name is not a safe shell variable "
            "name; use --format json or text to see it"
        )
    return lines


def env_exports(
    grant_id: str, claimed: Unwrapped, expires: str | None
) -> tuple[str, dict[str, str]]:
    """``export NAME='value'`` lines that are safe to ``eval``, and the fields left out.

    Every name (``JITOPS_`` + the key upper-cased, ``-`` and ``.`` as ``_``) must match
    ``[A-Z_][A-Z0-9_]*`` and every value is shell-quoted. A field whose name does not fit is
    not exported: it is returned (key -> value) for :func:`refused_note`, so the credential,
    already unwrapped and used up, is never lost. A bare token prints exactly one
    ``VAULT_TOKEN`` (the token; the accessor is not a usable token)."""
    pairs: list[tuple[str, str]] = []
    refused: dict[str, str] = {}
    if claimed.kind == "token":
        token = claimed.values.get("token")
        if token is None:
            raise ClaimError(f"the delivery of {grant_id} holds no token; ask an admin")
        pairs.append(("VAULT_TOKEN", token.reveal()))
    else:
        for key, value in claimed.values.items():
            name = "JITOPS_" + key.upper().replace("-", "_").replace(".", "_")
            if ENV_NAME.fullmatch(name) is None:
                refused[key] = value.reveal()
                continue
            pairs.append((name, value.reveal()))
    if expires:
        pairs.append(("JITOPS_EXPIRES_AT", expires))
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in pairs), refused


def refused_note(grant_id: str, refused: dict[str, str]) -> str:
    """For the terminal (stderr, never the eval'd output): the fields ``--format env`` cannot
    export, as one JSON object (names and values escaped, so nothing in them acts on the
    terminal or a shell)."""
    return (
        f"jitops: {len(refused)} field(s) of {grant_id} have names that are not safe shell "
        "variable names and were NOT exported; the delivery is used up, so here they are "
        "(JSON; tell an admin, the secret's keys should be plain words):\n"
        + json.dumps(refused, ensure_ascii=True, sort_keys=True)
    )


def show(grant_id: str, claimed: Unwrapped, fmt: str, now: datetime) -> tuple[str, str | None]:
    """What ``claim`` prints: (stdout, stderr note or None)."""
    if fmt != "env":
        return render(grant_id, claimed, fmt, now), None
    expires_at = now + timedelta(seconds=claimed.lease_duration) if claimed.lease_duration else None
    static = is_static(claimed)
    lines, refused = env_exports(
        grant_id, claimed, format_time(expires_at) if expires_at and not static else None
    )
    notes = [f"jitops: {grant_id}: {STATIC_NOTE}"] if static else []
    if refused:
        notes.append(refused_note(grant_id, refused))
    return lines, "\n".join(notes) or None


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
    ask: Ask | None = None,
    branch: str = "main",
) -> Unwrapped:
    """Find the delivery (``armored`` when the requester saved it, else the trusted bot's
    comment on the grant's pull request), open it with the requester's key (``ask`` answers
    a passphrase) and unwrap it once in Vault.

    With ``github``, the grant's status and the policy are read from ``branch`` on GitHub
    (not from the checkout, which may be a request branch or behind); without, from the
    checkout (``--from FILE`` with no token)."""
    if github is not None:
        grant, policy = issued_grant_on_github(grant_id, github, branch)
    else:
        grant, policy = issued_grant(grant_id, repo), _checkout_policy(repo)
    expected = ExpectedDelivery.of(grant, policy)
    if armored is None:
        if github is None:
            raise UsageError(
                "to fetch the delivery from the pull request give --repo-name and --token "
                "(or GITHUB_REPOSITORY and GITHUB_TOKEN, or sign in with `gh auth login`), or "
                "save it and use --from FILE"
            )
        gh = github
        armored = find_delivery(
            grant_id=grant_id,
            grant=grant,
            comments_of=lambda n: [(c.author, c.body) for c in gh.comments(n)],
            bot=delivery_bot(bot, repo, policy),
            pull_request=pull_request,
        )
    keys = list(identities) or default_identities(home)
    payload = unseal_first(armored, keys, grant_id=grant_id, ask=ask)
    namespace = delivery_namespace(payload.vault_namespace, expected.namespace)
    addr = unwrap_address(payload.vault_addr, vault_addr, repo, policy)
    say(f"unwrapping at {addr}")
    vault = Vault(addr, namespace=namespace)
    try:
        looked = vault.wrapping_lookup(payload.wrapping_token, grant_id=grant_id)
        check_wrapping(expected, looked, datetime.now(UTC))
        claimed = vault.unwrap(payload.wrapping_token, grant_id=grant_id)
        if claimed.kind == "token":
            check_token(grant_id, _token_grant(vault, claimed))
        return claimed
    finally:
        vault.close()


def _checkout_policy(repo: Path) -> Policy:
    try:
        return read_policy(repo, None)
    except JitopsError as exc:
        raise ClaimError(
            f"cannot read the policy in this checkout ({exc}); claim from an up-to-date "
            "checkout of the access repository (`git pull`, --repo PATH)"
        ) from exc


def _token_grant(vault: Vault, claimed: Unwrapped) -> str | None:
    """The grant id Vault records on a claimed token (``lookup-self``). When Vault does not
    answer it (a token made before grant tokens had their self policy gets 403; or Vault
    fails now, after the single-use unwrap) the metadata of the wrapped answer counts: only
    the token role's creation path, checked before unwrapping, can have produced it, and a
    credential already unwrapped must not be lost to a failed second look."""
    own = vault.with_token(claimed.values["token"])
    try:
        return own.lookup_self().grant_id
    except VaultError:
        return claimed.meta.get(GRANT_META) or None
    finally:
        own.close()
