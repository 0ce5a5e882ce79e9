"""Privacy by default: after a full lifecycle run, no secret is anywhere but the claim output.

Scans every git object, every PR comment, every captured stdout/stderr and log line, the step
summaries, the webhook payloads and OpenBao's own file audit log (declared in the server's
``-config`` file) for the issued credential, the grant token and the wrapping tokens. OpenBao
HMACs secret values in its audit log; jitops must never put one where it is not HMAC'd (token
metadata, display names, paths).
"""

from __future__ import annotations

import logging
import secrets
import string
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner, Result

from jitops.cli import cli
from jitops.core.grant import format_time, parse_time
from jitops.delivery import seal as deliver
from jitops.delivery.comment import extract_sealed
from jitops.errors import EXIT_REJECTED
from jitops_sandbox.demo.world import DBA, REQUESTER, World
from tests.fixtures.sshkeys import make_key

pytestmark = pytest.mark.integration

GRANTS = {
    "stg-octocat-9": "requester: octocat\nrole: staging-admin\nduration: 1h\n"
    "reason: Debug the staging deploy pipeline\n",
    "op-octocat-9": "requester: octocat\nrole: vault-operator\nduration: 1h\n"
    "reason: Rotate the staging certificates\n",
}


@pytest.fixture
def pworld(tmp_path: Path, hooks: tuple[str, list[bytes]]) -> Iterator[World]:
    with World.create(
        tmp_path, use_postgres=False, webhook_url=hooks[0], audit_log=tmp_path / "audit.log"
    ) as w:
        yield w


def test_no_secret_leaks_anywhere(
    pworld: World, hooks: tuple[str, list[bytes]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w = pworld
    summary = tmp_path / "summary.md"
    env = {
        **w.environ(),
        "GITHUB_TOKEN": w.gh.token("jitops-bot"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    runner = CliRunner()
    outputs: list[str] = []

    def jitops(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--repo", str(w.checkout)], env=env)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
        return result.output

    prs = {}
    for grant_id, text in GRANTS.items():
        before = w.main_sha()
        n = w.gh.open_pr(
            REQUESTER, f"req-{grant_id}", grant_id, files={f"grants/{grant_id}.yaml": text}
        )
        after = w.gh.merge_pr(n, DBA)
        prs[grant_id] = n
        jitops("issue", "--before", before, "--after", after)

    secrets_found: list[str] = []
    for grant_id, n in prs.items():
        armored = extract_sealed(w.gh.comments(n), grant_id)
        assert armored is not None
        payload = deliver.unseal_first(armored, [w.key.private], grant_id=grant_id)
        secrets_found.append(payload.wrapping_token.reveal())
        from jitops.doors.vault.client import Vault

        unwrapped = Vault(payload.vault_addr, namespace=payload.vault_namespace).unwrap(
            payload.wrapping_token
        )
        secrets_found += [
            v.reveal() for k, v in unwrapped.values.items() if k not in ("username", "accessor")
        ]  # the accessor can revoke, not read: it is in git on purpose
    later = (w.gh.read_file("main", "grants/stg-octocat-9.yaml") or "").split("expires_at: ")[1]

    now = format_time(parse_time(later.split()[0]) + timedelta(minutes=1))
    jitops("sweep", "--now", now)
    assert len(secrets_found) >= 4  # two wrapping tokens, a password, a grant token
    assert all(len(s) >= 8 for s in secrets_found)

    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=w.gh.repo_path,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8", "replace")
    comments = "\n".join(c for n in prs.values() for c in w.gh.comments(n))
    # both deliveries were claimed: the sweep shrank their comments to a note, no ciphertext
    assert "AGE ENCRYPTED FILE" not in comments
    assert comments.count("was claimed (its single-use wrapping token was used") == len(prs)
    haystacks = {
        "git objects": objects,
        "PR comments": comments,
        "command output": "\n".join(outputs),
        "logs": caplog.text,
        "step summary": summary.read_text() if summary.exists() else "",
        "webhooks": b"\n".join(hooks[1]).decode("utf-8", "replace"),
    }
    audit = (tmp_path / "audit.log").read_text(encoding="utf-8")
    haystacks["OpenBao audit log"] = audit
    assert hooks[1], "the webhook received nothing: the scan would prove nothing"
    assert w.root_token not in repr(w) and w.issuer_token not in repr(w)
    assert w.oidc is not None and w.oidc.request_token not in repr(w)
    # the audit log saw the whole lifecycle (so its scan proves something), values HMAC'd
    for path in ("auth/jitops-jwt/login", "auth/token/create/jitops-grant", "sys/wrapping/unwrap"):
        assert f'"path":"{path}"' in audit, path
    assert "auth/token/revoke-accessor" in audit
    assert "hmac-sha256:" in audit
    assert "jitops issue" in haystacks["step summary"]
    assert_nowhere(haystacks, secrets_found)


def assert_nowhere(haystacks: Mapping[str, str], secrets: Iterable[str]) -> None:
    """The scan: no secret in any haystack (each named, so a failure says where it leaked)."""
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"


def _luhn_card() -> str:
    """A random 16-digit number that passes the Luhn check (as a real card number would)."""
    while True:
        digits = "4" + "".join(secrets.choice("0123456789") for _ in range(15))
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            return digits


def test_no_secret_leaks_from_the_reports_the_lint_or_claim(
    pworld: World, hooks: tuple[str, list[bytes]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The outputs beyond issue and sweep: the audit report (html, the job summary, jsonl,
    ocsf), the usage report over the real OpenBao audit log, `policy diff`, `pr check`'s
    comment with its what-if, the free-text lint's messages, and claim (a static secret, a
    field --format env refuses, a passphrase-protected SSH key, an age identity)."""
    caplog.set_level(logging.DEBUG)
    w = pworld
    summary = tmp_path / "summary.md"
    env = {
        **w.environ(),
        "GITHUB_TOKEN": w.gh.token("jitops-bot"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    runner = CliRunner()
    outputs: dict[str, str] = {}

    def jitops(*args: str, repo: Path = w.checkout, codes: tuple[int, ...] = (0,)) -> str:
        result = runner.invoke(cli, [*args, "--repo", str(repo)], env=env)
        assert result.exit_code in codes, result.output
        outputs[" ".join(args)] = result.output
        return result.output

    # what only the requester may see: the credentials (one field has a name no shell takes),
    # the key's passphrase, the age identity
    orders_pw, odd_value, staging_pw = (secrets.token_urlsafe(16) for _ in range(3))
    w.admin().write(
        "secret/data/orders/readonly",
        {"data": {"username": "orders_ro", "password": orders_pw, "api key!": odd_value}},
    )
    w.admin().write(
        "secret/data/staging/admin", {"data": {"username": "admin", "password": staging_pw}}
    )
    passphrase = "pp-" + secrets.token_urlsafe(12)
    (tmp_path / "keys").mkdir()
    locked = make_key(tmp_path / "keys", "id_ed25519", passphrase=passphrase)
    w.gh.add_ssh_key(REQUESTER, locked.public_line)
    pw_file = tmp_path / "pass"
    pw_file.write_text(passphrase + "\n")
    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "age-identity.txt"
    identity_file.write_text(f"{identity}\n")
    grants = {
        "db-octocat-9": "requester: octocat\nrole: orders-db-readonly\nduration: 30m\n"
        f"reason: Slow order queries\nticket: INC-7\nrecipient: {identity.to_public()}\n",
        "stg-octocat-9": "requester: octocat\nrole: staging-admin\nduration: 1h\n"
        "reason: Debug the staging deploy pipeline\n",
    }
    found: list[str] = [orders_pw, odd_value, staging_pw, passphrase, str(identity)]
    for grant_id, text in grants.items():
        before = w.main_sha()
        n = w.gh.open_pr(
            REQUESTER, f"req-{grant_id}", grant_id, files={f"grants/{grant_id}.yaml": text}
        )
        w.gh.review(n, DBA, "APPROVED")
        after = w.gh.merge_pr(n, DBA)
        jitops("issue", "--before", before, "--after", after)
        armored = extract_sealed(w.gh.comments(n), grant_id)
        assert armored is not None
        keys = [identity_file] if "recipient" in text else [w.key.private]
        payload = deliver.unseal_first(armored, keys, grant_id=grant_id)
        found.append(payload.wrapping_token.reveal())

    # claim: an age identity and --format env (one field refused), a passphrase and a static
    # secret; what it prints is the one place the credential shows, nothing else may
    def claim(grant_id: str, *args: str) -> Result:
        return runner.invoke(
            cli,
            ["claim", grant_id, *args, "--repo", str(w.checkout)],
            env={**env, "VAULT_TOKEN": None},
        )

    claims = {
        "age, env": claim("db-octocat-9", "--identity", str(identity_file), "--format", "env"),
        "passphrase, text": claim(
            "stg-octocat-9", "--identity", str(locked.private), "--passphrase-file", str(pw_file)
        ),
    }
    assert claims["age, env"].exit_code == EXIT_REJECTED, claims["age, env"].output
    assert f"export JITOPS_PASSWORD={orders_pw}" in claims["age, env"].stdout
    assert odd_value not in claims["age, env"].stdout  # never eval'd: on the terminal only
    assert odd_value in claims["age, env"].stderr
    assert claims["passphrase, text"].exit_code == 0, claims["passphrase, text"].output
    assert staging_pw in claims["passphrase, text"].stdout
    assert "static secret (no lease)" in claims["passphrase, text"].stdout
    shown = {orders_pw, odd_value, staging_pw}
    assert_nowhere({f"claim ({k})": r.output for k, r in claims.items()}, [*set(found) - shown])

    # the free-text lint: a reason carrying a GitHub token and a card number
    token = "ghp_" + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(36)
    )
    card = _luhn_card()
    grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    leaky = (
        "requester: octocat\nrole: staging-admin\nduration: 1h\n"
        f"reason: Debug with {token} and card {grouped}\n"
    )
    lint_pr = w.gh.open_pr(
        REQUESTER, "req-stg-octocat-10", "leaky", files={"grants/stg-octocat-10.yaml": leaky}
    )
    laptop = w.gh.clone(tmp_path / "laptop")
    (laptop / "grants" / "stg-octocat-10.yaml").write_text(leaky)
    for fmt in ("text", "json", "github"):
        said = jitops("validate", "--format", fmt, repo=laptop, codes=(1,))
        assert "GitHub token" in said and "payment card number" in said, said
        said = jitops("pr", "check", "--pr", str(lint_pr), "--format", fmt, codes=(1,))
        assert "GitHub token" in said, said
    lint_secrets = [token, card, grouped]

    # a policy change: `policy diff` and `pr check`'s what-if
    stricter = w.policy_text().replace("max_duration: 8h", "max_duration: 30m")
    (laptop / "grants" / "stg-octocat-10.yaml").unlink()
    (laptop / "policies" / "policy.yaml").write_text(stricter)
    for fmt in ("text", "json", "github"):
        said = jitops("policy", "diff", "--format", fmt, repo=laptop, codes=(0, 1))
        assert "stg-octocat-9" in said, said
    policy_pr = w.gh.open_pr(DBA, "stricter", "Stricter", files={"policies/policy.yaml": stricter})
    jitops("pr", "check", "--pr", str(policy_pr), "--format", "github", codes=(0, 1))
    what_if = "\n".join(w.gh.comments(policy_pr))
    assert "What-if" in what_if and "stg-octocat-9" in what_if, what_if

    later = (w.gh.read_file("main", "grants/stg-octocat-9.yaml") or "").split("expires_at: ")[1]
    now = format_time(parse_time(later.split()[0]) + timedelta(minutes=1))
    jitops("sweep", "--now", now)

    # the audit's reports, over the ledger and the real OpenBao audit log
    log = str(tmp_path / "audit.log")
    job_summary = tmp_path / "audit-summary.md"
    for fmt in ("html", "jsonl", "ocsf"):
        assert "stg-octocat-9" in jitops("audit", "--format", fmt)
    assert "db-octocat-9" in jitops("audit", "--format", "html", "--vault-audit-log", log)
    jitops("audit", "--summary", str(job_summary))
    assert "`staging-admin` | 1" in job_summary.read_text()
    for fmt in ("text", "json", "csv", "html"):
        said = jitops("audit", "usage", "--vault-audit-log", log, "--format", fmt)
        assert "db-octocat-9" in said, said

    haystacks = {
        "git objects": subprocess.run(
            ["git", "cat-file", "--batch-all-objects", "--batch"],
            cwd=w.gh.repo_path,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8", "replace"),
        "PR comments": "\n".join(c for n in range(1, policy_pr + 1) for c in w.gh.comments(n)),
        "logs": caplog.text,
        "step summary": summary.read_text() if summary.exists() else "",
        "webhooks": b"\n".join(hooks[1]).decode("utf-8", "replace"),
        "OpenBao audit log": (tmp_path / "audit.log").read_text(encoding="utf-8"),
        "audit --summary": job_summary.read_text(),
        **{f"jitops {k}": v for k, v in outputs.items()},
    }
    assert "payment card number" in haystacks["step summary"]
    assert_nowhere(haystacks, found)
    # the requester wrote these into their own branch's commit: everywhere else, never
    assert_nowhere({k: v for k, v in haystacks.items() if k != "git objects"}, lint_secrets)
