"""A delivery comment is only a request: ``claim`` trusts a wrapping token only when Vault says
jitops made it for this grant (issue 19, finding 3).

A writer can edit the bot's delivery comment. With Vault's ``default`` policy every past
grantee's token could call ``sys/wrapping/wrap``, so a writer sealed chosen values to the
victim's SSH key (public on GitHub) at the very Vault the policy pins, and ``claim`` printed them
as the victim's credential. Each case here was a working attack (GitHub stand-in, real
OpenBao, real git) before the fix."""

from __future__ import annotations

import subprocess

import pytest
import requests
from click.testing import CliRunner, Result

from jitops.cli import cli
from jitops.delivery import seal as deliver
from jitops.delivery.comment import extract_sealed
from jitops.doors.vault.client import Vault
from jitops.errors import Secret
from jitops.lifecycle.issue import run_issue
from jitops_sandbox.demo.world import DBA, REQUESTER, World, make_ssh_key

pytestmark = pytest.mark.integration

STAGING = "requester: {who}\nrole: staging-admin\nduration: 1h\nreason: Debug the deploy\n"
OPERATOR = "requester: {who}\nrole: vault-operator\nduration: 1h\nreason: Rotate the keys\n"
CHOSEN = "chosen-by-mallory-7f3a"


def writer(world: World) -> None:
    """mallory has write access, as every engineer in many organisations does."""
    with world.gh.store.lock:
        world.gh.store.user("mallory").write = True


def vault(world: World, token: Secret | None) -> Vault:
    return Vault(world.vault_url, token, namespace=world.namespace)


def pin_vault(world: World) -> None:
    """The policy pins Vault's address and namespace, as docs/setup.md advises."""
    text = world.policy_text()
    pins = f"  vault:\n    addr: {world.vault_url}\n"
    if world.namespace:
        pins += f"    namespace: {world.namespace}\n"
    world.gh.commit_files(
        "main",
        {"policies/policy.yaml": text.replace("settings:\n", "settings:\n" + pins, 1)},
        author=DBA,
        message="Pin Vault",
    )
    pull(world)


def pull(world: World) -> None:
    subprocess.run(["git", "pull", "-q"], cwd=world.checkout, check=True, timeout=60)


def issue(world: World, who: str, grant_id: str, text: str) -> int:
    n = world.gh.open_pr(who, f"req-{grant_id}", "Access", files={f"grants/{grant_id}.yaml": text})
    world.gh.merge_pr(n, DBA)
    outcomes = run_issue(world.services())
    assert (grant_id, "issued") in [(o.grant, o.action) for o in outcomes]
    pull(world)
    return n


def mallory_token(world: World) -> Secret:
    """mallory (an engineer with write access) claims her own past grant: a Vault token."""
    key = make_ssh_key(world.workdir / "mallory", "id_ed25519")
    world.gh.add_ssh_key("mallory", key.public_line)
    pr = issue(world, "mallory", "ops-mallory-1", OPERATOR.format(who="mallory"))
    armored = extract_sealed(world.gh.comments(pr), "ops-mallory-1")
    assert armored is not None
    payload = deliver.unseal_first(armored, [key.private], grant_id="ops-mallory-1")
    return vault(world, None).unwrap(payload.wrapping_token).values["token"]


def wrap(world: World, token: Secret, body: dict[str, str]) -> requests.Response:
    """``sys/wrapping/wrap`` as the `vault` CLI calls it."""
    headers = {"X-Vault-Token": token.reveal(), "X-Vault-Wrap-TTL": "600s"}
    if world.namespace:
        headers["X-Vault-Namespace"] = world.namespace
    return requests.post(
        f"{world.vault_url}/v1/sys/wrapping/wrap", json=body, headers=headers, timeout=10
    )


def replace_delivery(world: World, pr: int, grant_id: str, wrapping_token: str) -> None:
    """mallory edits the bot's comment: a block sealed to the victim's public SSH key."""
    forged = deliver.seal(
        deliver.payload_for(
            grant_id=grant_id,
            vault_addr=world.vault_url,
            wrapping_token=wrapping_token,
            namespace=world.namespace,
        ),
        [world.key.public_line],
    )
    api = world.github("mallory")
    bot = next(c for c in api.comments(pr) if c.author == "jitops-bot" and "BEGIN AGE" in c.body)
    real = extract_sealed([bot.body], grant_id)
    assert real is not None
    body = bot.body.replace(real.strip(), forged.strip())
    answer = requests.patch(
        f"{world.gh.api_url}/repos/acme/access/issues/comments/{bot.id}",
        json={"body": body},
        headers={"Authorization": f"token {world.gh.token('mallory')}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def claim(world: World, pr: int, grant_id: str) -> Result:
    env = {**world.environ(), "GITHUB_TOKEN": world.gh.token(REQUESTER)}
    args = ["claim", grant_id, "--pr", str(pr), "--identity", str(world.key.private)]
    args += ["--format", "json", "--repo", str(world.checkout)]
    return CliRunner().invoke(cli, args, env=env)


def test_a_grant_token_cannot_wrap_chosen_values(world: World) -> None:
    """Grant tokens carry no ``default`` policy: no ``sys/wrapping/wrap``; the role's own
    read, and the wrapped read jitops does at issue, still work."""
    writer(world)
    pin_vault(world)
    token = mallory_token(world)
    refused = wrap(world, token, {"username": "admin", "password": CHOSEN})
    assert refused.status_code == 403, refused.text
    own = vault(world, token)
    read = own.read("secret/data/staging/admin")
    assert read is not None and read["data"]["username"] == "admin"
    # a staging grant (the wrapped read with the grant token) is still issued and claimed
    pr = issue(world, REQUESTER, "stg-octocat-1", STAGING.format(who=REQUESTER))
    done = claim(world, pr, "stg-octocat-1")
    assert done.exit_code == 0, done.output
    assert '"username": "admin"' in done.stdout


def test_claim_refuses_a_delivery_that_jitops_did_not_wrap(world: World) -> None:
    """Any Vault login with the ``default`` policy (here a colleague's own) can still wrap
    chosen values; ``claim`` asks Vault where the wrapping token came from and refuses."""
    writer(world)
    pin_vault(world)
    pr = issue(world, REQUESTER, "stg-octocat-2", STAGING.format(who=REQUESTER))
    made = world.admin().write("auth/token/create", {"policies": ["default"], "ttl": "10m"})
    assert made is not None
    colleague = Secret(made["auth"]["client_token"])
    forged = wrap(world, colleague, {"username": "admin", "password": CHOSEN})
    assert forged.status_code == 200, forged.text
    replace_delivery(world, pr, "stg-octocat-2", forged.json()["wrap_info"]["token"])
    done = claim(world, pr, "stg-octocat-2")
    assert done.exit_code != 0
    assert CHOSEN not in done.output
    assert "was not made by jitops" in done.output and "sys/wrapping/wrap" in done.output
    # nothing was unwrapped: the forged token is still there, unspent
    left = vault(world, None).unwrap(Secret(forged.json()["wrap_info"]["token"]))
    assert left.values["password"].reveal() == CHOSEN


def test_claim_refuses_another_grants_token_delivery(world: World) -> None:
    """A real jitops delivery of another grant (same token role, later issue) re-sealed to the
    victim: the path and time fit, but the token's own metadata names the other grant."""
    writer(world)
    pin_vault(world)
    pr = issue(world, REQUESTER, "ops-octocat-3", OPERATOR.format(who=REQUESTER))
    key = make_ssh_key(world.workdir / "mallory", "id_ed25519")
    world.gh.add_ssh_key("mallory", key.public_line)
    theirs = issue(world, "mallory", "ops-mallory-3", OPERATOR.format(who="mallory"))
    armored = extract_sealed(world.gh.comments(theirs), "ops-mallory-3")
    assert armored is not None
    payload = deliver.unseal_first(armored, [key.private], grant_id="ops-mallory-3")
    replace_delivery(world, pr, "ops-octocat-3", payload.wrapping_token.reveal())
    done = claim(world, pr, "ops-octocat-3")
    assert done.exit_code != 0
    assert "ops-mallory-3" in done.output and "not the token of ops-octocat-3" in done.output
    assert "VAULT_TOKEN" not in done.stdout and '"token"' not in done.stdout


def test_claim_reads_main_not_a_tag_a_writer_named_main(world: World) -> None:
    """A writer pushes a tag named `main` whose tree carries a grant file with a status block of
    their choosing (another issue time, so a forged delivery would pass the creation-time
    check) and a policy pinning their own Vault address. The stand-in resolves a contents
    read of `main` as git does (a tag before a branch of the same name); claim must read the
    branch's commit, whatever a ref named like it says."""
    from jitops.core.grant import read_grant
    from jitops.lifecycle.claim import issued_grant_on_github

    writer(world)
    issue(world, REQUESTER, "stg-octocat-t1", STAGING.format(who=REQUESTER))
    path = "grants/stg-octocat-t1.yaml"
    real = world.gh.read_file("main", path)
    assert real is not None and "issued_at:" in real
    forged_status = real.replace("issued_at: ", "issued_at: 2020-01-01T00:00:00Z\n  was: ", 1)
    clone = world.workdir / "mallory-clone"
    world.gh.clone(clone)
    (clone / path).write_text(forged_status)
    git = ["git", "-c", "user.name=mallory", "-c", "user.email=m@example.com"]
    subprocess.run([*git, "commit", "-qam", "mine"], cwd=clone, check=True)
    subprocess.run(["git", "push", "-q", "origin", "HEAD:refs/tags/main"], cwd=clone, check=True)
    # the attack's precondition: a read of "main" by name gets the tag's file
    assert world.github().file_at(path, "main") == forged_status.encode()
    grant, _policy = issued_grant_on_github("stg-octocat-t1", world.github(REQUESTER), "main")
    recorded, _ = read_grant(real.encode(), path)
    assert recorded is not None and grant.status == recorded.status
