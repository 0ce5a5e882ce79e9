"""``jitops sandbox vault``: run the Vault stand-in on its own, like ``vault server -dev``.

Prints ``Vault API:   <url>`` (first line), ``Root Token:  <token>`` and the ``export
VAULT_ADDR=...`` hint, then serves until Ctrl-C, SIGTERM or ``--for-seconds``. Registered by
the CLI under the ``sandbox`` group.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
from types import FrameType

import click

from jitops.sandbox.vault import VaultSandbox


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT; use for example 127.0.0.1:8200")
    return host, int(port)


@click.command("vault")
@click.option("--listen", default="127.0.0.1:8200", show_default=True, help="HOST:PORT (0: any).")
@click.option(
    "--root-token",
    help="The root token (like -dev-root-token-id; default: a new random one, printed).",
)
@click.option("--for-seconds", type=float, help="Stop by itself after this many seconds.")
def vault_cmd(listen: str, root_token: str | None, for_seconds: float | None) -> None:
    """Serve a Vault API stand-in on loopback until Ctrl-C (or SIGTERM).

    It behaves like `vault server -dev` for what jitops uses: token auth and roles, ACL
    policies, kv-v2 at secret/, response wrapping, leases, the database engine (PostgreSQL),
    JWT and AppRole auth. Everything lives in memory and is lost when it stops.
    """
    host, port = _listen(listen)
    token = root_token or "hvs." + secrets.token_urlsafe(18)
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            sandbox = VaultSandbox(token, host=host, port=port).start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {listen}: {exc.strerror or exc}; pick another --listen port"
            ) from exc
        try:
            click.echo(f"Vault API:   {sandbox.url}")
            click.echo(f"Root Token:  {sandbox.root_token}")
            click.echo("")
            click.echo("You may need to set the following environment variables:")
            click.echo(f"    $ export VAULT_ADDR='{sandbox.url}'")
            click.echo(f"    $ export VAULT_TOKEN='{sandbox.root_token}'")
            click.echo("serving (in memory, dev mode); press Ctrl-C to stop", err=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait(timeout=for_seconds)
        finally:
            sandbox.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped", err=True)
