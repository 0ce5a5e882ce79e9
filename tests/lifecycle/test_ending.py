"""How the end of a grant is told (land, then comment and notify, then report), with in-memory
doors: no git, no server."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from jitops.core.commits import PlannedCommit
from jitops.core.grant import Grant, read_grant
from jitops.core.policy import Policy
from jitops.delivery.comment import (
    deny_comment,
    deny_together_comment,
    ended_comment,
    expired_comment,
    restore_refused_comment,
    revoked_comment,
)
from jitops.errors import JitopsError
from jitops.lifecycle.ending import Ending, absent, tell, token_note
from jitops.lifecycle.outcome import Action, Outcome
from jitops.lifecycle.services import Services

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PATH = "grants/db-one.yaml"


@dataclass
class FakeGit:
    """The git door's landing, in memory: ``main`` holds the files; a landing applies what the
    build returns (or, with ``first``, another run got there first and nothing lands)."""

    main: dict[str, bytes] = field(default_factory=dict)
    first: bool = False
    landed: list[PlannedCommit] = field(default_factory=list)

    def show(self, ref: str, path: str) -> bytes | None:
        return self.main.get(path)

    def land(
        self, remote: str, branch: str, build: Callable[[FakeGit], Sequence[PlannedCommit]]
    ) -> list[str]:
        planned = [] if self.first else list(build(self))
        self.landed += planned
        return [f"{n:040x}" for n, _ in enumerate(planned, 1)]


@dataclass
class FakeGitHub:
    fails: bool = False
    comments: list[tuple[int, str]] = field(default_factory=list)

    def comment(self, number: int, body: str) -> None:
        if self.fails:
            raise JitopsError("GitHub is down")
        self.comments.append((number, body))


class FakeServices:
    def __init__(self, git: FakeGit, github: FakeGitHub) -> None:
        self.git, self.github = git, github
        self.remote, self.branch = "origin", "main"
        self.notified: list[tuple[Policy, Any]] = []

    def notify(self, policy: Policy, event: Any) -> None:
        self.notified.append((policy, event))


def services(main: dict[str, bytes] | None = None, **kw: Any) -> FakeServices:
    return FakeServices(FakeGit(dict(main or {}), first=kw.pop("first", False)), FakeGitHub(**kw))


def grant(requester: str = "octocat", reason: str = "Investigate INC-7 slowness") -> Grant:
    data = f"requester: {requester}\nrole: staging\nduration: 1h\nreason: {reason}\n".encode()
    g, problems = read_grant(data, PATH)
    assert g is not None, problems
    return g


POLICY = cast(Policy, object())


def ending(**kw: Any) -> Ending:
    base: dict[str, Any] = {
        "outcome": Outcome("db-one", Action.DENIED, "rule 2 failed", 7),
        "commit": PlannedCommit({PATH: None}, "jitops: deny db-one\n"),
        "path": PATH,
        "skipped": "removed meanwhile",
        "comment": "denied",
        "comment_on": 7,
        "event": "an event",
        "policy": lambda: POLICY,
    }
    return Ending(**{**base, **kw})


def told(svc: FakeServices, endings: list[Ending]) -> list[Outcome]:
    return tell(cast(Services, svc), endings)


def test_an_ending_lands_then_comments_then_notifies_and_reports() -> None:
    svc = services({PATH: b"x"})
    assert told(svc, [ending()]) == [Outcome("db-one", Action.DENIED, "rule 2 failed", 7)]
    assert len(svc.git.landed) == 1
    assert svc.github.comments == [(7, "denied")]
    assert svc.notified == [(POLICY, "an event")]


def test_when_another_run_removed_the_file_first_it_is_skipped_and_nobody_is_told() -> None:
    svc = services({})  # the file is gone: the deny does not apply any more
    (out,) = told(svc, [ending()])
    assert out == Outcome("db-one", Action.SKIPPED, "removed meanwhile", 7)
    assert svc.git.landed == [] and svc.github.comments == [] and svc.notified == []


def test_an_end_vault_already_made_is_told_whatever_the_push_found() -> None:
    svc = services({}, first=True)
    expired = Outcome("db-one", Action.EXPIRED, "jitops revoked its Vault token.")
    (out,) = told(svc, [ending(outcome=expired, skipped=None, comment="expired")])
    assert out is expired
    assert svc.github.comments == [(7, "expired")]


def test_a_comment_github_refuses_never_loses_the_outcome_or_the_notification() -> None:
    svc = services({PATH: b"x"}, fails=True)
    (out,) = told(svc, [ending()])
    assert out.action is Action.DENIED and svc.notified


def test_a_group_lands_in_one_push_and_only_the_commits_that_still_apply() -> None:
    other = "grants/db-two.yaml"
    svc = services({PATH: b"x"})
    two = ending(outcome=Outcome("db-two", Action.DENIED, "same", 7), path=other, comment=None)
    outs = told(svc, [ending(), two])
    assert [o.action for o in outs] == [Action.DENIED, Action.DENIED]  # the pull request's, told
    assert len(svc.git.landed) == 1  # db-two was already gone: not removed twice
    assert svc.github.comments == [(7, "denied")]  # one comment for the group


def test_a_file_is_put_back_only_while_main_does_not_hold_it() -> None:
    back = ending(applies=absent, event=None, comment=None)
    assert absent(None) and not absent(b"x")
    svc = services({PATH: b"x"})
    (out,) = told(svc, [back])
    assert out.action is Action.SKIPPED and svc.git.landed == []


def test_nobody_is_notified_without_a_policy_and_the_policy_is_asked_after_the_comment() -> None:
    asked: list[int] = []
    svc = services({PATH: b"x"})

    def policy() -> None:
        asked.append(len(svc.github.comments))

    told(svc, [ending(policy=policy)])
    assert asked == [1] and svc.notified == []


def test_token_notes_say_what_became_of_the_token() -> None:
    assert token_note("revoked") == "jitops revoked its Vault token."
    assert token_note("gone") == "Vault had already ended its token."
    assert "its file names" in token_note("foreign")
    assert "its record names" in token_note("foreign", named_by="record")


def test_every_end_comment_renders_what_a_requester_wrote_inertly() -> None:
    g = grant(reason="Investigate `@acme/admins` <b>now</b> please")
    hostile = "cc @acme/admins [click](https://evil.example) `"
    for body in (
        deny_comment(g, hostile),
        deny_together_comment([g, g], hostile),
        revoked_comment(g, hostile, "note"),
        ended_comment(g, hostile, "note"),
        restore_refused_comment(g, hostile, "2026-12-01T13:00:00Z"),
        expired_comment(g, "jitops revoked its Vault token."),
    ):
        assert "`db-one`" in body
        outside_code = re.sub(r"(`+)(.+?)\1", "", body, flags=re.DOTALL)
        assert "@acme" not in outside_code and "](" not in outside_code, body


def test_nothing_to_tell_lands_nothing() -> None:
    svc = services({PATH: b"x"}, first=False)
    assert told(svc, []) == [] and svc.git.landed == []


def test_the_expired_comment_says_what_became_of_the_token() -> None:
    body = expired_comment(grant(), "Vault had already ended its token.")
    assert body.startswith("**jitops: access expired** — `db-one` (`octocat`, `staging`).")
    assert body.endswith("Vault had already ended its token.")


def test_a_refused_early_revoke_says_until_when_the_access_stays_and_who_may_end_it() -> None:
    body = restore_refused_comment(grant(), "needs an approval", "2026-12-01T13:00:00Z")
    assert "the access stays until `2026-12-01T13:00:00Z`" in body
    assert "`octocat` deletes it" in body and "admins runs the manual revoke" in body


def test_one_deny_comment_for_a_big_pull_request_names_the_first_hundred() -> None:
    body = deny_together_comment([grant()] * 130, "gate rule 3 failed")
    assert "for the 130 grants of this pull request" in body and "and 30 more" in body
    assert body.count("`db-one`") == 100


def test_a_file_put_back_lands_while_main_lacks_it_and_tells_the_pull_request() -> None:
    back = Outcome("db-one", Action.RESTORED, "put back, access stays", 7)
    svc = services({})
    (out,) = told(svc, [ending(outcome=back, applies=absent, event=None, comment="refused")])
    assert out is back and len(svc.git.landed) == 1
    assert svc.github.comments == [(7, "refused")] and svc.notified == []


def test_the_ended_comment_quotes_why_and_says_what_became_of_the_token() -> None:
    body = ended_comment(grant(), "its Vault token ended outside jitops", token_note("gone"))
    assert body.startswith("**jitops: access ended** — `db-one` (`octocat`, `staging`): ")
    assert "`its Vault token ended outside jitops`" in body
    assert body.endswith("Vault had already ended its token.")
