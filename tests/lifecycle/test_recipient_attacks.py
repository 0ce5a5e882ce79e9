"""A grant's ``recipient: age1...`` attacked by a repository writer.

A grant may name an age recipient; its delivery is then sealed to that recipient ONLY. Whoever
can change the recipient after the requester (or the approvers) looked, or make jitops re-seal
a delivery to a recipient read from somewhere a writer controls, gets the credential. Each test
is one attempt, through the GitHub stand-in, real git and a real OpenBao; the attacker's age
identity must never open a delivery."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest
import requests

from jitops.delivery import seal as deliver
from jitops.delivery.comment import extract_sealed
from jitops.delivery.errors import DeliveryError
from jitops.lifecycle.issue import run_issue
from jitops_sandbox.demo.world import DBA, REPO, REQUESTER, World
from tests.lifecycle.test_own_record import results
from tests.lifecycle.test_pr_check import check

pytestmark = pytest.mark.integration

WRITER = "wendy"  # write access to the repository, in no team: may request no role


def _identity(tmp_path: Path, name: str) -> tuple[str, Path]:
    """An age X25519 identity (what `age-keygen` makes): (its recipient, its file)."""
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / f"{name}.age"
    path.write_text(f"{identity}\n")
    return str(identity.to_public()), path


def _grant(role: str, recipient: str | None = None) -> str:
    text = f"requester: {REQUESTER}\nrole: {role}\nduration: 30m\nreason: Slow order queries\n"
    text += "ticket: INC-7\n" if role == "orders-db-readonly" else ""
    return text + (f"recipient: {recipient}\n" if recipient else "")


def _opens(world: World, pr: int, gid: str, identity: Path) -> bool:
    """Whether ``identity`` opens the newest delivery of ``gid`` on ``pr`` (none: False)."""
    armored = extract_sealed(world.gh.comments(pr), gid)
    if armored is None:
        return False
    try:
        deliver.unseal_first(armored, [identity], grant_id=gid)
    except DeliveryError:
        return False
    return True


def test_a_writer_cannot_redirect_a_self_service_grant_by_pushing_a_recipient(
    world: World, tmp_path: Path
) -> None:
    """The requester opens a pull request for a role that needs no approval; a writer who may
    not request that role pushes `recipient: <theirs>` to the branch and merges. Nobody
    reviews a self-service grant, and the gate checks who opened the pull request, not who
    pushed its head: the delivery is sealed to the writer's key."""
    world.gh.add_user(WRITER, write=True)
    _, wendy = _identity(tmp_path, "wendy")
    wendy_recipient = str(pyrage.x25519.Identity.from_str(wendy.read_text().strip()).to_public())
    gid = "stg-octocat-40"
    n = world.gh.open_pr(
        REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": _grant("staging-admin")}
    )
    world.gh.push_to_pr(
        n, {f"grants/{gid}.yaml": _grant("staging-admin", wendy_recipient)}, author=WRITER
    )
    world.gh.merge_pr(n, WRITER)
    # a grant naming a recipient is never self-service: it needed an admin's approval
    outcomes = run_issue(world.services())
    assert results(outcomes) == [(gid, "denied")], outcomes
    assert "@acme/access-admins" in outcomes[0].detail
    assert extract_sealed(world.gh.comments(n), gid) is None
    assert not _opens(world, n, gid, wendy), "the writer's key opens the requester's delivery"


def test_an_admin_approved_recipient_of_a_self_service_role_is_issued_to_it(
    world: World, tmp_path: Path
) -> None:
    """The requester names their own age recipient on a self-service role: an admin reviews
    the key and approves, and the delivery is sealed to it (and opens with it)."""
    mine, own = _identity(tmp_path, "octocat")
    gid = "stg-octocat-42"
    n = world.gh.open_pr(
        REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": _grant("staging-admin", mine)}
    )
    world.gh.review(n, DBA, "APPROVED")  # alice is in @acme/access-admins
    world.gh.merge_pr(n, DBA)
    assert results(run_issue(world.services())) == [(gid, "issued")]
    assert _opens(world, n, gid, own)


def test_a_recipient_pushed_after_the_approval_is_not_issued(world: World, tmp_path: Path) -> None:
    """Approved with the requester's recipient, then a writer pushes their own and merges: the
    approval was of the previous commit, so nothing is issued (or sealed to anyone)."""
    world.gh.add_user(WRITER, write=True)
    mine, own = _identity(tmp_path, "octocat")
    theirs, wendy = _identity(tmp_path, "wendy")
    gid = "db-octocat-41"
    role = "orders-db-readonly"
    n = world.gh.open_pr(REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": _grant(role, mine)})
    world.gh.review(n, DBA, "APPROVED")
    world.gh.push_to_pr(n, {f"grants/{gid}.yaml": _grant(role, theirs)}, author=WRITER)
    world.gh.merge_pr(n, WRITER)
    assert results(run_issue(world.services())) == [(gid, "denied")]
    assert extract_sealed(world.gh.comments(n), gid) is None
    assert not _opens(world, n, gid, wendy) and not _opens(world, n, gid, own)


@pytest.mark.parametrize("method", ["merge", "rebase"])
def test_a_recipient_changed_on_main_after_issue_never_gets_a_delivery(
    world: World, tmp_path: Path, method: str
) -> None:
    """After issue, a writer merges a change of main's file to their recipient (status block
    kept) and deletes the unclaimed delivery so that jitops delivers again: the file is put
    back as jitops' issue commit wrote it, and the new delivery is sealed to the recipient
    that was approved, never to the one on main after issue."""
    world.gh.add_user(WRITER, write=True)
    mine, own = _identity(tmp_path, "octocat")
    theirs, wendy = _identity(tmp_path, "wendy")
    gid = "stg-octocat-42"
    n = world.gh.open_pr(
        REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": _grant("staging-admin", mine)}
    )
    world.gh.review(n, DBA, "APPROVED")  # a named recipient needs an admin's review
    world.gh.merge_pr(n, REQUESTER)
    assert results(run_issue(world.services())) == [(gid, "issued")]
    assert _opens(world, n, gid, own)
    issued_file = world.gh.read_file("main", f"grants/{gid}.yaml") or ""
    assert mine in issued_file

    headers = {"Authorization": f"token {world.gh.token(WRITER)}"}
    (delivery,) = [c for c in world.github(DBA).comments(n) if "BEGIN AGE ENCRYPTED FILE" in c.body]
    url = f"{world.gh.api_url}/repos/{REPO}/issues/comments/{delivery.id}"
    assert requests.delete(url, headers=headers, timeout=30).status_code == 204
    m = world.gh.open_pr(
        WRITER, "switch", "Switch", files={f"grants/{gid}.yaml": issued_file.replace(mine, theirs)}
    )
    world.gh.merge_pr(m, WRITER, method=method)
    for _ in range(2):  # the run that restores, and one more (a re-delivery may come next)
        run_issue(world.services())
    now_on_main = world.gh.read_file("main", f"grants/{gid}.yaml") or ""
    assert f"recipient: {mine}" in now_on_main and theirs not in now_on_main  # re-issued
    assert not _opens(world, n, gid, wendy), "a delivery was sealed to the writer's recipient"
    assert _opens(world, n, gid, own)  # the requester was delivered to again


def test_pr_check_shows_the_recipient_and_refuses_one_that_is_not_plain_bech32(
    world: World, tmp_path: Path
) -> None:
    """Reviewers see the recipient whole, in a code span, with the warning; a recipient that
    could carry markup or a look-alike (upper case, another alphabet) is refused, not shown
    as a recipient."""
    mine, _ = _identity(tmp_path, "octocat")
    gid = "db-octocat-43"
    n = world.gh.open_pr(
        REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": _grant("orders-db-readonly", mine)}
    )
    check(world, n)
    (comment,) = [c for c in world.gh.comments(n) if "jitops:pr-check" in c]
    assert f"`{mine}`" in comment and "sealed ONLY to the age recipient" in comment
    for k, bad in enumerate(
        [
            mine.upper(),
            mine[:-4] + "\u0430bcd",  # a Cyrillic a
            f"{mine} [x](https://evil.example)",
            mine + "\n",
        ]
    ):
        gid = f"db-octocat-5{k}"
        text = _grant("orders-db-readonly") + f"recipient: {bad!r}\n".replace("'", '"')
        n = world.gh.open_pr(REQUESTER, gid, "Access", files={f"grants/{gid}.yaml": text})
        decision = check(world, n)
        assert any("recipient" in p.message for p in decision.problems), decision.problems
        (comment,) = [c for c in world.gh.comments(n) if "jitops:pr-check" in c]
        assert "sealed ONLY" not in comment and "](https://evil" not in comment
