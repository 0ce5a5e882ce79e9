"""`jitops validate` refuses secrets and personal data in free text and never repeats them: not
on the terminal, not in GitHub annotations or the step summary, not in JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core import freetext
from tests.core.test_freetext import CAUGHT

Writer = Callable[..., Path]
WINDOW = 5  # a run of this many characters of a secret in the output counts as an echo


def _grant(reason: str, ticket: str = "INC-1234") -> str:
    return (
        "requester: octocat\nrole: prod-db-readonly\nduration: 2h\n"
        f"reason: {json.dumps('Debug the orders service: ' + reason)}\n"
        f"ticket: {json.dumps(ticket)}\n"
    )


def _echoes(secret: str, output: str, allowed: str) -> list[str]:
    """Runs of ``secret`` found in ``output`` that are not also in ``allowed`` (kind names,
    the file name: what a message may say)."""
    windows = {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}
    prose = set("abcdefghijklmnopqrstuvwxyz ")  # our own words around the values
    return sorted(
        w for w in windows if not prose.issuperset(w) and w in output and w not in allowed
    )


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_no_format_repeats_a_refused_secret(
    access_repo: Path, write_grant: Writer, tmp_path: Path, fmt: str
) -> None:
    secrets = {f"leak-{i:02d}": text for i, (_kind, text) in enumerate(CAUGHT)}
    for name, text in secrets.items():
        write_grant(name, _grant(text))
    write_grant("leak-ticket", _grant("Debug slow queries", ticket="jane.doe@example.com"))
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
    result = CliRunner().invoke(
        cli, ["validate", "--repo", str(access_repo), "--format", fmt], env=env
    )
    assert result.exit_code == 1, result.output
    output = result.output + (summary.read_text() if summary.exists() else "")
    # every grant is refused, at the reason's line, naming the field and the kind
    for i, (kind, _text) in enumerate(CAUGHT):
        path = f"grants/leak-{i:02d}.yaml"
        if fmt == "json":
            assert path in output and f"({kind})" in output
        elif fmt == "github":
            assert f"file={path},line=4" in output and f"({kind})" in output
        else:
            assert f"{path}:4: reason contains {freetext.KINDS[kind]} ({kind})" in output
    assert "ticket contains an e-mail address (email)" in output
    policy = (access_repo / "policies" / "policy.yaml").read_text()  # its words may be quoted
    allowed = " ".join([*freetext.KINDS, *freetext.KINDS.values(), *secrets, "leak-ticket", policy])
    for text in [*secrets.values(), "jane.doe@example.com"]:
        assert _echoes(text, output, allowed) == [], (text, fmt)


def test_an_allowed_kind_passes_validate(access_repo: Path, write_grant: Writer) -> None:
    policy = access_repo / "policies" / "policy.yaml"
    policy.write_text(
        policy.read_text().replace("settings:\n", "settings:\n  free_text:\n    allow: [email]\n")
    )
    write_grant("mail-octocat-1", _grant("customer jane.doe@example.com cannot log in"))
    result = CliRunner().invoke(cli, ["validate", "--repo", str(access_repo)])
    assert "free text" not in result.output, result.output
    assert "1 valid, 0 invalid" in result.output
