"""Privacy by default: after a full lifecycle run, no secret is anywhere but the claim output.

Scans every git object, every PR comment, every captured stdout/stderr and log line, the step
summaries, the webhook payloads and OpenBao's own file audit log (declared in the server's
``-config`` file) for the issued credential, the grant token and the wrapping tokens. OpenBao
HMACs secret values in its audit log; jitops must never put one where it is not HMAC'd (token
metadata, display names, paths).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.delivery import seal as deliver
from jitops.delivery.comment import extract_sealed
from jitops_sandbox.demo.world import DBA, REQUESTER, World

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
    from jitops.core.grant import format_time, parse_time

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
    for where, text in haystacks.items():
        for secret in secrets_found:
            assert secret not in text, f"a secret leaked into {where}"
