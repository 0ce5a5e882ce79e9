"""The lifecycle through the stand-ins with real git, PyGithub, hvac and age."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from jitops.core.grant import read_grant
from jitops.core.trailers import parse_entry
from jitops.delivery import seal as deliver
from jitops.delivery.comment import extract_sealed
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import VaultPermissionError
from jitops.lifecycle.issue import run_issue
from jitops.lifecycle.revoke import run_revoke
from jitops.lifecycle.sweep import run_sweep
from jitops_sandbox.demo.world import DBA, REQUESTER, World

STAGING = (
    "requester: octocat\nrole: staging-admin\nduration: 2h\n"
    "reason: Debug the staging deploy pipeline\n"
)
ORDERS = (
    "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
    "reason: Investigate INC-7 slow order queries\nticket: INC-7\n"
)

pytestmark = pytest.mark.integration


def merge_grant(
    world: World, grant_id: str, text: str, *, approve: bool = False
) -> tuple[str, str, int]:
    before = world.main_sha()
    n = world.gh.open_pr(
        REQUESTER, f"req-{grant_id}", f"Access {grant_id}", files={f"grants/{grant_id}.yaml": text}
    )
    if approve:
        world.gh.review(n, DBA, "APPROVED")
    after = world.gh.merge_pr(n, DBA)
    return before, after, n


def main_grant(world: World, grant_id: str):  # type: ignore[no-untyped-def]
    text = world.gh.read_file("main", f"grants/{grant_id}.yaml")
    if text is None:
        return None
    grant, problems = read_grant(text.encode(), f"grants/{grant_id}.yaml")
    assert not problems
    return grant


def last_entry(world: World):  # type: ignore[no-untyped-def]
    msg = subprocess.run(
        ["git", "log", "-1", "--format=%B", "main"],
        cwd=world.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entry, findings = parse_entry(msg)
    assert findings == []
    return entry


def claim(world: World, grant_id: str, pr: int):  # type: ignore[no-untyped-def]
    armored = extract_sealed(world.gh.comments(pr), grant_id)
    assert armored is not None
    payload = deliver.unseal_first(armored, [world.key.private], grant_id=grant_id)
    return Vault(payload.vault_addr).unwrap(payload.wrapping_token)


def test_self_service_grant_is_issued_claimed_and_swept(world: World) -> None:
    before, after, pr = merge_grant(world, "stg-octocat-1", STAGING)
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-1", "issued")]
    grant = main_grant(world, "stg-octocat-1")
    assert grant.status is not None and grant.status.pull_request == pr
    assert grant.status.expires_at - grant.status.issued_at == timedelta(hours=2)
    entry = last_entry(world)
    assert (entry.action, entry.grant, entry.requester, entry.pull_request) == (
        "issue",
        "stg-octocat-1",
        REQUESTER,
        pr,
    )
    # the token really exists in Vault, with the grant's TTL, and is an orphan
    info = world.admin().lookup_accessor(grant.status.token_accessor)
    assert info is not None and info.grant_id == "stg-octocat-1"

    unwrapped = claim(world, "stg-octocat-1", pr)
    assert unwrapped.kind == "secret"
    assert unwrapped.values["username"].reveal() == "admin"
    with pytest.raises(Exception, match="already unwrapped"):
        claim(world, "stg-octocat-1", pr)

    # re-running issues nothing twice: the grant is recorded and its delivery is posted
    again = run_issue(world.services(), before=before, after=after)
    assert again == []
    assert main_grant(world, "stg-octocat-1").status == grant.status

    later = grant.status.expires_at + timedelta(seconds=1)
    dry = run_sweep(world.services(), now=later, dry_run=True)
    assert [(o.grant, o.action) for o in dry] == [("stg-octocat-1", "would expire")]
    assert main_grant(world, "stg-octocat-1") is not None
    swept = run_sweep(world.services(), now=later)
    assert ("stg-octocat-1", "expired") in [(o.grant, o.action) for o in swept]
    assert main_grant(world, "stg-octocat-1") is None
    assert last_entry(world).action == "expire"
    assert world.admin().lookup_accessor(grant.status.token_accessor) is None
    assert any("access expired" in c for c in world.gh.comments(pr))


def test_merge_without_required_approval_is_denied(world: World) -> None:
    before, after, pr = merge_grant(world, "db-octocat-1", ORDERS)  # admin merge, no review
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [(o.grant, o.action) for o in outcomes] == [("db-octocat-1", "denied")]
    assert main_grant(world, "db-octocat-1") is None
    entry = last_entry(world)
    assert entry.action == "deny" and entry.reason and "not approved" in entry.reason
    assert any("access denied" in c for c in world.gh.comments(pr))
    assert extract_sealed(world.gh.comments(pr), "db-octocat-1") is None


def test_approved_grant_and_break_glass_revoke(world: World) -> None:
    before, after, _ = merge_grant(world, "db-octocat-2", ORDERS, approve=True)
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [o.action for o in outcomes] == ["issued"]
    grant = main_grant(world, "db-octocat-2")
    assert grant.status.approved_by == (DBA,)
    out = run_revoke(world.services(), "db-octocat-2", "laptop lost on the train", actor=REQUESTER)
    assert out.action == "revoked"
    assert main_grant(world, "db-octocat-2") is None
    entry = last_entry(world)
    assert entry.action == "revoke" and entry.reason == "laptop lost on the train"
    assert world.admin().lookup_accessor(grant.status.token_accessor) is None


def test_a_revoke_reason_is_shown_inert_on_the_pull_request(world: World) -> None:
    before, after, pr = merge_grant(world, "db-octocat-3", ORDERS, approve=True)
    assert [o.action for o in run_issue(world.services(), before=before, after=after)] == ["issued"]
    reason = "ping @acme/dba `x` [here](https://evil.example) <b>now</b>\nJitops-Grant: y"
    assert run_revoke(world.services(), "db-octocat-3", reason, actor=REQUESTER).action == "revoked"
    (said,) = [c for c in world.gh.comments(pr) if "access revoked" in c]
    # one code span: no mention, link, HTML or second line reaches the reader
    assert "``ping @acme/dba `x` [here](https://evil.example) <b>now</b> Jitops-Grant: y``" in said
    assert "\n" not in said
    assert "`db-octocat-3` (`octocat`, `orders-db-readonly`)" in said


def test_requester_without_usable_ssh_key_gets_no_secret(world: World) -> None:
    world.gh.add_user("mona")
    world.gh.add_team_member("acme", "engineering", "mona")
    text = STAGING.replace("octocat", "mona")
    before = world.main_sha()
    n = world.gh.open_pr("mona", "req-mona", "Access", files={"grants/stg-mona-1.yaml": text})
    after = world.gh.merge_pr(n, DBA)
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [o.action for o in outcomes] == ["denied"]
    assert "no ed25519 or RSA SSH key" in outcomes[0].detail
    assert outcomes[0].detail.startswith("delivery (the requester's SSH keys) failed")
    assert world.grant_tokens() == []  # the key check runs before any token exists
    assert run_issue(world.services()) == []  # denied once, not a create/revoke loop


def test_early_revoke_by_deleting_the_file(world: World) -> None:
    before, after, _pr = merge_grant(world, "stg-octocat-3", STAGING)
    run_issue(world.services(), before=before, after=after)
    grant = main_grant(world, "stg-octocat-3")
    before = world.main_sha()
    n = world.gh.open_pr(REQUESTER, "drop", "Done early", files={"grants/stg-octocat-3.yaml": None})
    after = world.gh.merge_pr(n, DBA)
    outcomes = run_issue(world.services(), before=before, after=after)
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-3", "revoked")]
    assert world.admin().lookup_accessor(grant.status.token_accessor) is None
    assert last_entry(world).action == "revoke"
    again = run_issue(world.services(), before=before, after=after)
    assert again == []  # recorded once; no second revoke commit
    assert run_sweep(world.services()) == []


def test_an_early_revoke_whose_run_was_cancelled_is_recorded_by_the_next_run(world: World) -> None:
    """A pull request deleting an active grant file, squash-merged with a message that forges
    jitops' own trailers, and no issue run for that push: the next run still revokes it."""
    before, after, _pr = merge_grant(world, "stg-octocat-12", STAGING)
    run_issue(world.services(), before=before, after=after)
    grant = main_grant(world, "stg-octocat-12")
    n = world.gh.open_pr(REQUESTER, "drop", "Done", files={"grants/stg-octocat-12.yaml": None})
    forged = "Jitops-Action: expire\nJitops-Grant: stg-octocat-12"
    world.gh.merge_pr(n, DBA, method="squash", commit_message=forged)
    outcomes = run_sweep(world.services())  # no issue run for that push at all
    assert [(o.grant, o.action) for o in outcomes] == [("stg-octocat-12", "revoked")]
    assert world.admin().lookup_accessor(grant.status.token_accessor) is None


def test_sweep_never_lists_vault_an_unrecorded_token_dies_by_its_ttl(world: World) -> None:
    """DESIGN 4, record before deliver: a token whose run died before git recorded it was
    never delivered (its wrapping token died with the run); it ends by its TTL. The sweep does
    not (and the issuer policy cannot) list Vault's tokens to find it."""
    policy = world.policy()
    vault = Vault.connect(world.vault_url, policy.settings.vault, world.environ())
    issued = vault.issue(
        grant_id="ghost-1",
        requester=REQUESTER,
        role=policy.roles["staging-admin"],
        duration=timedelta(seconds=3),
        pull_request=None,
        wrap_ttl=timedelta(minutes=5),
        token_role=policy.settings.vault.token_role,
    )  # as if a run died right after creating the token
    outcomes = run_sweep(world.services(), now=datetime.now(UTC))
    assert "ghost-1" not in [o.grant for o in outcomes]
    with pytest.raises(VaultPermissionError):
        vault.list_keys("auth/token/accessors")
    deadline = time.monotonic() + 10
    while world.admin().lookup_accessor(issued.accessor) is not None:
        assert time.monotonic() < deadline, "the unrecorded token outlived its TTL"
        time.sleep(0.25)


def _claim(world: World, pr: int, grant_id: str, *extra: str, bot_env: str | None = None):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from jitops.cli import cli

    env = {
        **world.environ(),
        "GITHUB_TOKEN": world.gh.token(REQUESTER),
        "JITOPS_BOT_LOGIN": bot_env,  # None: unset
    }
    args = ["claim", grant_id, "--pr", str(pr), "--identity", str(world.key.private)]
    args += ["--format", "json", "--repo", str(world.checkout), *extra]
    return CliRunner().invoke(cli, args, env=env)


def test_claim_ignores_look_alike_deliveries_from_others(world: World) -> None:
    before, after, pr = merge_grant(world, "stg-octocat-7", STAGING)
    run_issue(world.services(), before=before, after=after)
    real = next(c for c in world.gh.comments(pr) if "BEGIN AGE" in c)
    world.gh.comment(pr, "mallory", real.replace("a", "b"))  # a forged, later delivery
    result = _claim(world, pr, "stg-octocat-7", bot_env="jitops-bot")
    assert result.exit_code == 0, result.output
    assert '"username": "admin"' in result.output


def test_claim_trusts_the_bot_named_by_the_policy(world: World) -> None:
    """No --bot and no JITOPS_BOT_LOGIN: settings.bot of the checkout's policy names the bot,
    so the command printed in the delivery comment works as written."""
    before, after, pr = merge_grant(world, "stg-octocat-8", STAGING)
    run_issue(world.services(), before=before, after=after)
    result = _claim(world, pr, "stg-octocat-8")
    assert result.exit_code == 0, result.output
    assert '"username": "admin"' in result.output


def test_claim_from_another_bot_says_who_posted_and_unwraps_nothing(world: World) -> None:
    before, after, pr = merge_grant(world, "stg-octocat-9", STAGING)
    run_issue(world.services(), before=before, after=after)
    result = _claim(world, pr, "stg-octocat-9", "--bot", "other-app[bot]")
    assert result.exit_code == 1
    assert "no delivery for stg-octocat-9 by other-app[bot]" in result.output
    assert "posted by jitops-bot" in result.output and "--bot LOGIN" in result.output
    assert "Traceback" not in result.output
    actions = _claim(world, pr, "stg-octocat-9", "--bot", "github-actions[bot]")
    assert actions.exit_code == 1
    assert "github-actions[bot] cannot be trusted as the delivery identity" in actions.output
    assert "runs the author's code" in actions.output and "GitHub App" in actions.output
    # nothing was unwrapped: the right bot can still claim it once
    assert _claim(world, pr, "stg-octocat-9", "--bot", "jitops-bot").exit_code == 0


def test_revoke_records_who_asked_in_a_trailer(world: World) -> None:
    from click.testing import CliRunner

    from jitops.cli import cli

    before, after, _ = merge_grant(world, "stg-octocat-11", STAGING)
    run_issue(world.services(), before=before, after=after)
    env = {**world.environ(), "GITHUB_TOKEN": world.gh.token("jitops-bot"), "GITHUB_ACTOR": DBA}
    args = ["revoke", "stg-octocat-11", "--reason", "laptop lost on the train"]
    result = CliRunner().invoke(cli, [*args, "--repo", str(world.checkout)], env=env)
    assert result.exit_code == 0, result.output
    actor = subprocess.run(
        ["git", "log", "-1", "--format=%(trailers:key=Jitops-Actor,valueonly)", "main"],
        cwd=world.gh.repo_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert actor == DBA
    assert last_entry(world).action == "revoke"  # the other trailers still parse

    with pytest.raises(Exception, match="is not a GitHub login"):
        run_revoke(world.services(), "stg-octocat-11", "again, forged", actor="x\nJitops-Grant: y")


def test_the_issue_command_needs_no_pushed_range_and_exits_1_while_a_grant_is_failed(
    world: World,
) -> None:
    from click.testing import CliRunner

    from jitops.cli import cli

    world.gh.commit_files("main", {"grants/stg-octocat-13.yaml": STAGING}, author=DBA)  # no PR
    merge_grant(world, "stg-octocat-14", STAGING)
    env = {**world.environ(), "GITHUB_TOKEN": world.gh.token("jitops-bot"), "GITHUB_EVENT_PATH": ""}
    base = ["issue", "--repo", str(world.checkout), "--format", "text"]
    result = CliRunner().invoke(cli, base, env=env)
    assert result.exit_code == 1, result.output  # one grant is failed: the job shows it
    assert "stg-octocat-14 (#1): issued" in result.output
    assert "stg-octocat-13: failed" in result.output and "waiting since" in result.output
    assert "Traceback" not in result.output
    bad = CliRunner().invoke(cli, [*base, "--give-up-after", "soon"], env=env)
    assert bad.exit_code == 2 and "is not a duration" in bad.output
    denied = CliRunner().invoke(cli, [*base, "--give-up-after", "0s"], env=env)
    assert "stg-octocat-13: denied" in denied.output


def test_an_empty_signing_key_fails_the_run_before_it_issues_or_pushes(world: World) -> None:
    """GitHub expands a secret the job's environment does not have to an empty string; the
    issue run says so and exits 1 with main and Vault untouched, instead of an unsigned
    ledger."""
    from click.testing import CliRunner

    from jitops.cli import cli

    before, after, _ = merge_grant(world, "stg-octocat-12", STAGING)
    env = {
        **world.environ(),
        "GITHUB_TOKEN": world.gh.token("jitops-bot"),
        "JITOPS_SIGNING_KEY": "",
    }
    args = ["issue", "--before", before, "--after", after, "--repo", str(world.checkout)]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert "JITOPS_SIGNING_KEY is set but empty" in result.output
    assert world.main_sha() == after  # nothing pushed
    assert world.grant_tokens() == []  # nothing issued
    grant = main_grant(world, "stg-octocat-12")
    assert grant is not None and grant.status is None
