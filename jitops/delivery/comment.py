"""Every pull request comment jitops writes after the merge: the one that carries a sealed
delivery (and finding it again), and those that tell how a grant ended.

The comment says who gets what until when, lists the SSH keys it was sealed to, holds the
armored age block in a code fence and explains both ways to claim it: ``jitops claim`` and the
plain ``age`` + ``vault`` route. A hidden marker line ties it to its grant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jitops.core.agekeys import is_age_recipient
from jitops.core.duration import format_duration
from jitops.core.grant import Grant, valid_role
from jitops.core.inert import code_span
from jitops.core.trailers import valid_login
from jitops.delivery.armor import CorruptDeliveryError, normalize_armor

DELIVERY_MARKER = "<!-- jitops:delivery grant={grant_id} -->"
_MARKER_RE = re.compile(r"<!--\s*jitops:delivery\s+grant=(?P<grant>[^\s>]+)\s*-->")
#: The hidden line of a delivery jitops shrank once Vault said its wrapping token was gone.
SPENT_MARKER = "<!-- jitops:delivery-spent grant={grant_id} state={state} seen={seen} -->"
_SPENT_RE = re.compile(
    r"<!-- jitops:delivery-spent grant=(?P<grant>[a-z0-9][a-z0-9._-]{0,63}) "
    r"state=(?P<state>claimed|claimed-or-expired) "
    r"seen=(?P<seen>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) -->"
)
_GRANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def render_delivery_comment(
    *,
    grant_id: str,
    requester: str,
    role: str,
    expires_at: datetime,
    armored: str,
    wrap_ttl_seconds: int,
    key_fingerprints: list[str],
    static_secret: str | None = None,
) -> str:
    """Markdown for the delivery comment. Holds nothing secret: the block is sealed.
    ``static_secret``: the path of a role's ``static: true`` secret, which the grant's end
    does not end (the comment says so instead of "Vault ends the access")."""
    if not _GRANT_ID_RE.match(grant_id):
        raise ValueError(f"not a grant id: {grant_id!r}")
    if not valid_login(requester) or not valid_role(role):  # both are @-mentioned / shown bold
        raise ValueError("the requester or role is not a valid GitHub login or role name")
    block = normalize_armor(armored).rstrip("\n")
    until = _rfc3339(expires_at)
    window = format_duration(timedelta(seconds=wrap_ttl_seconds), days="always", sep=" ")
    keys = "\n".join(f"- `{fp}`" for fp in key_fingerprints) or "- (not recorded)"
    if key_fingerprints and all(is_age_recipient(k) for k in key_fingerprints):
        # the grant names an age recipient: sealed to it ONLY (see jitops.core.agekeys)
        sealed_to = (
            "to the age recipient the grant file names (`recipient:`, approved with the grant; "
            "not to the SSH keys on the GitHub account)"
        )
        identity, key_hint = "AGE-IDENTITY-FILE", "--identity YOUR-AGE-IDENTITY-FILE"
    else:
        sealed_to = (
            f"to the SSH keys on\n@{requester}'s GitHub account at issue time (compare with "
            "`ssh-keygen -lf ~/.ssh/id_ed25519.pub`)"
        )
        identity = "~/.ssh/id_ed25519"
        key_hint = "add --identity KEY if not ~/.ssh/id_ed25519 or ~/.ssh/id_rsa"
    ends = "Vault ends the access by itself then."
    if static_secret is not None:
        ends = (
            f"Vault ends the grant token then, but **not** the static secret "
            f"`{static_secret}`: revoking the grant does not end it; rotate it after the grant "
            "ends."
        )
    return f"""{DELIVERY_MARKER.format(grant_id=grant_id)}
### 🔐 jitops: access issued — `{grant_id}`

@{requester} has **{role}** until **{until}**; {ends}

The credential is sealed below with [age](https://age-encryption.org) {sealed_to}:
{keys}

It is inside a single-use Vault wrapping token: it can be claimed **once**, within **{window}**
of issue. Nothing in this comment is usable without one of those private keys.

**Claim with jitops** (in a checkout of this repository, on any branch):

```sh
jitops claim {grant_id}   # {key_hint}
```

**Claim without jitops**, with the `age` and `vault` CLIs:

1. Save the block below, including the BEGIN and END lines, as `delivery.age`
   (run `cat > delivery.age`, paste, then press Ctrl-D).
2. `age -d -i {identity} delivery.age` prints
   `{{"grant": "{grant_id}", "vault_addr": "...", "wrapping_token": "..."}}`.
3. `VAULT_ADDR=<vault_addr> vault unwrap <wrapping_token>` with those two values prints the
   credential.

```
{block}
```

If the claim says the wrapping token is invalid or already used and you did not claim it
yourself, someone else may have: tell your security team and run (or ask an admin to run)
`jitops revoke {grant_id} --reason "delivery claimed by someone else"`.
If the {window} window passed
before you claimed, nobody got the credential: ask an admin to revoke the grant and request
access again.
"""


def extract_sealed(comment_bodies: Iterable[str], grant_id: str) -> str | None:
    """The armored block of the latest delivery for ``grant_id`` (comments oldest first).

    Only blocks that follow a delivery marker for that grant count; text around them, edits
    and damaged blocks are tolerated (a damaged block is skipped). Pass only comments written
    by the issuing bot: anyone who can comment could post a block with a marker.
    """
    found: str | None = None
    for body in comment_bodies:
        if not isinstance(body, str):
            continue
        markers = list(_MARKER_RE.finditer(body))
        for index, marker in enumerate(markers):
            if marker.group("grant") != grant_id:
                continue
            stop = markers[index + 1].start() if index + 1 < len(markers) else len(body)
            try:
                found = normalize_armor(body[marker.end() : stop])
            except CorruptDeliveryError:
                continue
    return found


@dataclass(frozen=True)
class SpentNote:
    """A delivery comment jitops shrank: ``state`` is ``claimed`` (Vault said its wrapping
    token was gone before its wrap TTL ran out) or ``claimed-or-expired`` (after: Vault cannot
    say which); ``seen`` is when Vault said so."""

    state: str
    seen: str

    def sentence(self, grant_id: str) -> str:
        if self.state == "claimed":
            return (
                f"the delivery of {grant_id} was claimed (its single-use wrapping token was "
                f"used, or revoked in Vault) by {self.seen}"
            )
        return (
            f"the delivery of {grant_id} was claimed or expired by {self.seen} (once its wrap "
            "TTL has run out, Vault cannot say which)"
        )


def spent_delivery_comment(grant_id: str, note: SpentNote, issued_marker: str) -> str:
    """The delivery comment once its wrapping token is gone: one line that says so, no
    ciphertext. The hidden markers stay: the delivery marker (``claim`` finds the comment and
    explains), the spent marker, and ``issued_marker`` (it names the grant token the delivery
    was for)."""
    if not _GRANT_ID_RE.match(grant_id):
        raise ValueError(f"not a grant id: {grant_id!r}")
    if (
        _SPENT_RE.fullmatch(
            SPENT_MARKER.format(grant_id=grant_id, state=note.state, seen=note.seen)
        )
        is None
    ):
        raise ValueError("not a spent delivery note")
    text = note.sentence(f"`{grant_id}`")
    return (
        f"{DELIVERY_MARKER.format(grant_id=grant_id)}\n"
        f"{SPENT_MARKER.format(grant_id=grant_id, state=note.state, seen=note.seen)}\n"
        f"🔓 jitops: {text}; its sealed block was removed. If you did not claim it, have the "
        f"grant revoked (`jitops revoke {grant_id}`, or ask an admin) and request access again.\n"
        f"{issued_marker}\n"
    )


def find_spent(body: str, grant_id: str) -> SpentNote | None:
    """The spent note of ``grant_id`` in one comment body (None: none). Pass only comments
    written by the issuing bot; a writer can still edit those (jitops never reads this note
    back to decide anything: ``claim`` only repeats it)."""
    for m in _SPENT_RE.finditer(body if isinstance(body, str) else ""):
        if m.group("grant") == grant_id:
            return SpentNote(m.group("state"), m.group("seen"))
    return None


def holds_sealed(body: str, grant_id: str) -> bool:
    """Whether one comment body still holds a sealed delivery block for ``grant_id``."""
    return extract_sealed([body], grant_id) is not None


def spent_note(state: str, seen: datetime) -> SpentNote:
    return SpentNote(state, _rfc3339(seen))


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the comments that tell a pull request how its grant ended (everything a requester wrote is
# -- rendered inert: code spans, never markdown or a mention) ---------------------------------
def _who(grant: Grant) -> str:
    return f"{code_span(grant.id)} ({code_span(grant.requester)}, {code_span(grant.role)})"


def deny_comment(grant: Grant, reason: str) -> str:
    """The deny comment."""
    return (
        f"**jitops: access denied** for {_who(grant)}.\n\n{code_span(reason, limit=500)}\n\n"
        "The grant file is removed from main; no access was issued. "
        "Open a new pull request with a new grant id to ask again."
    )


def deny_together_comment(grants: list[Grant], reason: str) -> str:
    """One deny comment for every grant file of a pull request denied as a whole."""
    shown = ", ".join(code_span(g.id) for g in grants[:100])
    more = f" and {len(grants) - 100} more" if len(grants) > 100 else ""
    return (
        f"**jitops: access denied** for the {len(grants)} grants of this pull request: "
        f"{shown}{more}.\n\n{code_span(reason, limit=500)}\n\n"
        "The grant files are removed from main; no access was issued. Open one pull request "
        "per grant, each with a new grant id, to ask again."
    )


def expired_comment(grant: Grant, note: str) -> str:
    """The sweep's comment on a grant whose time is over (``note``: what became of its token)."""
    return f"**jitops: access expired** — {_who(grant)}. {note}"


def revoked_comment(grant: Grant, reason: str, note: str) -> str:
    """The comment on a grant ended before its time (`jitops revoke`, an early revoke)."""
    return f"**jitops: access revoked** — {_who(grant)}: {code_span(reason, limit=500)}. {note}"


def ended_comment(grant: Grant, why: str, note: str) -> str:
    """The comment on a grant jitops' record ended (its file changed on main, or its token ended
    outside jitops)."""
    return f"**jitops: access ended** — {_who(grant)}: {code_span(why, limit=500)}. {note}"


def restore_refused_comment(grant: Grant, why: str, until: str) -> str:
    """The comment on a pull request that deleted a grant file it may not end: the file is back
    and the access stays until ``until``."""
    return (
        f"**jitops: early revoke refused** — {_who(grant)}: "
        f"{code_span(why, limit=500)}.\n\njitops put the file back as it recorded it; the "
        f"access stays until {code_span(until)}. To end it sooner, "
        f"{code_span(grant.requester)} deletes it, a pull request deleting it gets the "
        "approval named above before it is merged, or one of the admins runs the manual "
        "revoke."
    )


def time_and_risk_lines(notes: Iterable[str], break_glass: str | None) -> str:
    """The delivery comment's lines about risk tiers, an extension and break-glass (``notes``:
    the gate's; ``break_glass``: who must ratify by when), empty when there is none."""
    lines = [f"- {code_span(n, limit=300)}" for n in notes]
    if break_glass is not None:
        lines.append(f"- **break-glass**: {break_glass}.")
    return ("\n\n" + "\n".join(lines)) if lines else ""


def ratified_comment(grant: Grant, how: str) -> str:
    """The comment on an emergency grant whose ratification rules held in its window."""
    return f"**jitops: emergency access ratified** — {_who(grant)}: {code_span(how)}."


def unratified_comment(grant: Grant, reason: str, note: str) -> str:
    """The comment on an emergency grant whose ratification window passed without it."""
    return (
        f"**jitops: emergency access NEVER RATIFIED** — {_who(grant)}: "
        f"{code_span(reason, limit=500)}. {note} This stays an audit finding until an admin "
        "closes it with a reason (`jitops audit close`)."
    )
