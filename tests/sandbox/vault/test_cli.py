"""``jitops sandbox vault`` on its own: prints the address and root token, serves, stops."""

from __future__ import annotations

import signal
import subprocess
import sys

import hvac
import pytest

pytestmark = pytest.mark.integration

SCRIPT = "from jitops.cli.sandbox_vault import vault_cmd; vault_cmd()"


def test_serves_until_sigterm_with_the_given_root_token() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SCRIPT,
            "--listen",
            "127.0.0.1:0",
            "--root-token",
            "s3cr3t-root",
            "--for-seconds",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("Vault API:   http://127.0.0.1:")
        assert second.strip() == "Root Token:  s3cr3t-root"
        url = first.split()[-1]
        client = hvac.Client(url=url, token="s3cr3t-root", timeout=5)
        assert client.is_authenticated()
        assert client.sys.read_health_status(method="GET")["sealed"] is False
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_random_root_token_and_bad_listen() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--listen", "127.0.0.1:0", "--for-seconds", "0.2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    token = done.stdout.splitlines()[1].split()[-1]
    assert token.startswith("hvs.") and len(token) > 20
    bad = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--listen", "localhost"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
