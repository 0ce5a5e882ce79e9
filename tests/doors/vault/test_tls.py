"""A Vault behind a private CA: VAULT_CACERT reaches the TLS check.

A real OpenBao serves TLS with a certificate of its own CA (``server -dev -dev-tls``, which
writes the CA to ``vault-ca.pem`` in ``-dev-tls-cert-dir``). The generated workflows write an
environment secret's PEM to a file and set VAULT_CACERT, the variable of Vault's own CLI; hvac
reads it too, but not when it is given a session of its own, as jitops does, so the door must
apply it itself.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from jitops.core.policy import VaultSettings
from jitops.doors.retry import RetryPolicy
from jitops.doors.vault.client import Vault
from jitops.doors.vault.model import VaultConfigError, VaultUnavailableError

pytestmark = pytest.mark.integration
TOKEN = "tls-test-root"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from jitops_sandbox.openbao import find_binary

    certs = tmp_path_factory.mktemp("tls")
    port = _port()
    log = (certs / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(find_binary()),
            "server",
            "-dev",
            "-dev-tls",
            f"-dev-tls-cert-dir={certs}",
            f"-dev-root-token-id={TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    ca = certs / "vault-ca.pem"
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (
                    ca.is_file()
                    and requests.get(f"{url}/v1/sys/health", verify=str(ca), timeout=2).ok
                ):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the TLS OpenBao did not start: " + (certs / "server.log").read_text())
            time.sleep(0.2)
        yield url, ca
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _connect(url: str, env: dict[str, str]) -> Vault:
    return Vault.connect(
        url,
        VaultSettings(),
        {"VAULT_TOKEN": TOKEN, **env},
        retry=RetryPolicy(attempts=1, deadline=5),
    )


def test_vault_cacert_makes_a_private_ca_trusted(tls_vault: tuple[str, Path]) -> None:
    url, ca = tls_vault
    vault = _connect(url, {"VAULT_CACERT": str(ca)})
    try:
        assert vault.read("auth/token/lookup-self") is not None
    finally:
        vault.close()


def test_without_the_ca_the_certificate_is_refused(tls_vault: tuple[str, Path]) -> None:
    url, _ = tls_vault
    vault = _connect(url, {})
    try:
        with pytest.raises(VaultUnavailableError):
            vault.read("auth/token/lookup-self")
    finally:
        vault.close()


def test_a_missing_ca_file_is_a_clear_error(tls_vault: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = tls_vault
    with pytest.raises(VaultConfigError, match="VAULT_CACERT"):
        _connect(url, {"VAULT_CACERT": str(tmp_path / "nope.pem")})
