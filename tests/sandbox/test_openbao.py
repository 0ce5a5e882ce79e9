"""The real OpenBao server the demo and the tests start, and `jitops sandbox vault`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from jitops_sandbox.openbao import OpenBaoError, OpenBaoServer, find_binary
from tests.fixtures.vault_backend import OidcIssuer

pytestmark = pytest.mark.integration


def test_a_dev_server_on_loopback_with_a_random_root_token_leaves_nothing_behind() -> None:
    with OpenBaoServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.product == "OpenBao" and server.version == "2.7.2"
        assert server.root_token not in repr(server)
        root = server._root
        assert root is not None and root.stat().st_mode & 0o077 == 0  # private directory
        me = requests.get(
            f"{server.url}/v1/auth/token/lookup-self",
            headers={"X-Vault-Token": server.root_token},
            timeout=5,
        )
        assert me.status_code == 200 and me.json()["data"]["policies"] == ["root"]
        other = OpenBaoServer()
        assert other.root_token != server.root_token
    assert not root.exists()


def test_an_unknown_binary_is_a_clear_error() -> None:
    with pytest.raises(OpenBaoError, match="--vault-binary or JITOPS_VAULT_BINARY"):
        find_binary("/nonexistent/vault")


def test_sandbox_vault_starts_openbao_and_sets_it_up_for_a_repository(
    access_repo: Path, oidc: OidcIssuer, tmp_path: Path
) -> None:
    pem = tmp_path / "issuer.pem"
    pem.write_text(oidc.public_pem)
    done = subprocess.run(
        [
            sys.executable, "-m", "jitops", "sandbox", "vault", "--repo", str(access_repo),
            "--repo-name", "acme/access", "--repository-id", "1", "--repository-owner-id", "2",
            "--jwt-validation-pubkey", str(pem), "--for-seconds", "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("Vault API:   http://127.0.0.1:")
    assert "Server:      OpenBao 2.7.2" in done.stdout
    assert "6 write(s) made" in done.stderr
    assert "stopped" in done.stderr


def test_a_three_node_raft_cluster_survives_the_death_of_its_active_node() -> None:
    """The cluster mode: three nodes on integrated storage, one active; jitops' Vault door
    talks to a standby (writes are forwarded, reads are served there and only eventually
    consistent: the door reads its own writes); the active node is killed, a new one is
    elected, and the standby still answers; stop leaves nothing behind."""
    from jitops.doors.vault.client import Vault
    from jitops.errors import Secret
    from jitops_sandbox.openbao import OpenBaoCluster

    with OpenBaoCluster(size=3) as cluster:
        root = cluster._root
        assert root is not None and root.stat().st_mode & 0o077 == 0
        servers = requests.get(
            f"{cluster.url(0)}/v1/sys/storage/raft/configuration",
            headers={"X-Vault-Token": cluster.root_token},
            timeout=5,
        ).json()["data"]["config"]["servers"]
        assert sorted((s["node_id"], s["voter"]) for s in servers) == [
            ("node-0", True), ("node-1", True), ("node-2", True),
        ]  # fmt: skip
        active = cluster.active()
        assert active is not None
        standby = next(i for i in range(3) if i != active)
        vault = Vault(cluster.url(standby), Secret(cluster.root_token))
        try:
            for _ in range(3):  # read-your-writes on a standby (without it: not found)
                made = vault.write("auth/token/create", {"ttl": "10m", "meta": {"n": "1"}})
                assert made is not None
                assert vault.lookup_accessor(made["auth"]["accessor"]) is not None
            cluster.kill(active)
            leader = cluster.wait_for_leader(other_than=active, timeout=60)
            assert leader != active and cluster.nodes[leader].running
            made = vault.write("auth/token/create", {"ttl": "10m"})  # forwarded or redirected
            assert made is not None
            assert vault.lookup_accessor(made["auth"]["accessor"]) is not None
        finally:
            vault.close()
    assert not root.exists()
