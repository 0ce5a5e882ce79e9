"""`jitops demo` and `jitops sandbox` come from the jitops-sandbox distribution; without it they
say how to install it instead of failing with a traceback."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from jitops.cli import cli


@pytest.mark.parametrize("args", [["demo"], ["sandbox", "github", "--for-seconds", "1"]])
def test_without_the_sandbox_distribution_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("jitops_sandbox")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "jitops_sandbox", None)  # as if not installed
    result = CliRunner().invoke(cli, args, standalone_mode=False)
    assert result.return_value == 1, result.output
    assert "jitops-sandbox distribution is not installed" in result.output
    assert "pip install -e ./sandbox" in result.output
    assert "Traceback" not in result.output


def test_with_the_sandbox_distribution_the_commands_are_there() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0
    assert "github" in result.output and "vault" in result.output
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--vault-binary" in result.output
