"""`jitops validate` as users run it: click's runner and a real subprocess on a real git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from jitops.cli import cli
from tests.conftest import GOOD_GRANT, ROOT, commit_all, git

Writer = Callable[..., Path]


def run(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--repo", str(repo), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_repository_own_grants_validate_clean() -> None:
    code, out = run(ROOT)
    assert code == 0, out
    assert "0 invalid" in out


def test_valid_grant_exit_0_with_team_warning(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1")
    code, out = run(access_repo)
    assert code == 0
    assert "grants/db-octocat-1.yaml:1: warning: requester octocat may request" in out
    assert "1 valid, 0 invalid, 1 warning" in out


def test_invalid_grant_exit_1_one_line_per_problem(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1", GOOD_GRANT.replace("2h", "5h").replace("INC-1234\n", "nope\n"))
    code, out = run(access_repo)
    assert code == 1
    assert (
        "grants/db-octocat-1.yaml:3: duration 5h exceeds the 4h maximum of role "
        "prod-db-readonly; ask for 4h or less"
    ) in out.splitlines()
    assert any(
        line.startswith("grants/db-octocat-1.yaml:5: ticket 'nope'") for line in out.splitlines()
    )


def test_bad_inputs_each_get_path_line_and_no_traceback(
    access_repo: Path, write_grant: Writer
) -> None:
    cases = {
        "malformed": "requester: [octocat\n",
        "toplist": "- a\n",
        "scalar": "hello\n",
        "wrongtype": GOOD_GRANT.replace("requester: octocat", "requester: 42"),
        "unknown": GOOD_GRANT + "extra: 1\n",
        "missing": "requester: octocat\n",
        "anchor": "requester: &me octocat\nrole: *me\n",
        "pytag": "requester: !!python/object/apply:os.system ['echo pwned']\n",
        "dupkey": GOOD_GRANT + "role: staging-admin\n",
        "empty": "",
    }
    for name, text in cases.items():
        write_grant(f"bad-{name}", text)
    (access_repo / "grants" / "bad-nonutf8.yaml").write_bytes(b"reason: \xff\xfe\n")
    (access_repo / "grants" / "bad-huge.yaml").write_bytes(b"reason: '" + b"x" * 3_000_000 + b"'\n")
    (access_repo / "grants" / "Not_An_Id.yaml").write_text(GOOD_GRANT)
    (access_repo / "grants" / "bad-link.yaml").symlink_to(access_repo / "grants" / "Not_An_Id.yaml")
    (access_repo / "grants" / "wrong-ext.yml").write_text(GOOD_GRANT)
    code, out = run(access_repo)
    assert code == 1
    assert "Traceback" not in out
    assert not (Path.cwd() / "pwned").exists()
    for name in [*cases, "nonutf8", "huge", "link"]:
        assert f"grants/bad-{name}.yaml" in out, name
    assert "grants/Not_An_Id.yaml: file name 'Not_An_Id' is not a valid grant id" in out
    assert "grants/wrong-ext.yml: grant files end in .yaml" in out
    assert "grants/bad-link.yaml: grant files must be regular files, not symbolic links" in out
    assert "grants/bad-huge.yaml: file is 3,000,011 bytes, over the 65,536-byte limit" in out


def test_invalid_policy_names_the_policy_file(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1")
    (access_repo / "policies" / "extra.yaml").write_text(
        "version: 1\nroles:\n  x:\n    max_duration: 1h\n"
    )
    code, out = run(access_repo)
    assert code == 1
    assert "policies/extra.yaml:3: missing required field 'requesters'" in out
    assert "policy (working tree) is invalid" in out


def test_base_mode_reads_policy_from_base_not_working_tree(
    access_repo: Path, write_grant: Writer
) -> None:
    base = git(access_repo, "rev-parse", "HEAD").strip()
    policy = access_repo / "policies" / "policy.yaml"
    policy.write_text(policy.read_text().replace("max_duration: 4h", "max_duration: 24h"))
    write_grant("db-octocat-1", GOOD_GRANT.replace("2h", "12h"))
    code, out = run(access_repo)
    assert code == 0, out  # the loosened working-tree policy allows it...
    code, out = run(access_repo, "--base", base)
    assert code == 1  # ...the base branch's policy does not
    assert "exceeds the 4h maximum" in out
    assert f"policy of {base}" in out


def test_id_reuse_and_status_in_request(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1")
    commit_all(access_repo, "add grant")
    git(access_repo, "rm", "-q", "grants/db-octocat-1.yaml")
    commit_all(access_repo, "expire grant")
    write_grant("db-octocat-1")
    write_grant(
        "db-octocat-2",
        GOOD_GRANT + "status:\n  state: active\n  issued_at: 2026-11-23T10:00:00Z\n"
        "  expires_at: 2026-11-23T12:00:00Z\n  token_accessor: abc\n",
    )
    code, out = run(access_repo, "--base", "HEAD")
    assert code == 1
    assert "grant id 'db-octocat-1' was already used in the history of grants/" in out
    assert "grants/db-octocat-2.yaml:6: a request must not contain 'status:'" in out


def test_given_files_only(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1")
    write_grant("db-octocat-2", "junk: 1\n")
    code, out = run(access_repo, str(access_repo / "grants" / "db-octocat-1.yaml"))
    assert code == 0
    assert "db-octocat-2" not in out


def test_usage_errors_exit_2(access_repo: Path) -> None:
    code, out = run(access_repo, "--base", "no-such-ref")
    assert code == 2
    assert "no such commit" in out
    code, out = run(access_repo, str(access_repo / "policies" / "policy.yaml"))
    assert code == 2
    assert "not a grant file" in out
    code, out = run(access_repo, "--format", "xml")
    assert code == 2


def test_github_format_annotations_and_step_summary(
    access_repo: Path, write_grant: Writer, tmp_path: Path
) -> None:
    write_grant("db-octocat-1", GOOD_GRANT.replace("2h", "5h"))
    summary = tmp_path / "summary.md"
    code, out = run(access_repo, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1
    assert "::error file=grants/db-octocat-1.yaml,line=3::duration 5h exceeds the 4h maximum" in out
    assert "::warning file=grants/db-octocat-1.yaml,line=1::" in out
    table = summary.read_text()
    assert "| `grants/db-octocat-1.yaml` | 3 | error | duration 5h exceeds" in table


def test_json_format(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1", GOOD_GRANT.replace("2h", "5h"))
    code, out = run(access_repo, "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["ok"] is False
    (grant,) = data["grants"]
    assert grant["id"] == "db-octocat-1"
    assert grant["valid"] is False
    errors = [p for p in grant["problems"] if p["severity"] == "error"]
    assert errors == [
        {
            "path": "grants/db-octocat-1.yaml",
            "line": 3,
            "severity": "error",
            "message": "duration 5h exceeds the 4h maximum of role prod-db-readonly; "
            "ask for 4h or less",
        }
    ]


def test_schema_command_prints_draft_2020_12_with_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "grant"])
    data = json.loads(result.output)
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert data["$id"].endswith("grant.schema.json")
    out = tmp_path / "s" / "policy.json"
    result = CliRunner().invoke(cli, ["schema", "policy", "-o", str(out)])
    assert json.loads(out.read_text())["title"] == "jitops policy"


@pytest.mark.integration
def test_real_subprocess_in_a_git_repo(access_repo: Path, write_grant: Writer) -> None:
    write_grant("db-octocat-1", "requester: !!python/object/apply:os.system ['touch pwned']\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = subprocess.run(
        [sys.executable, "-m", "jitops", "validate"],
        cwd=access_repo / "grants",  # from a sub-directory: the repo root is found by git
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert (
        "grants/db-octocat-1.yaml:1: YAML tag '!!python/object/apply:os.system' is not allowed"
        in (proc.stdout)
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (access_repo / "grants" / "pwned").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "jitops", "--help"], capture_output=True, text=True, check=True
    )
    assert "validate" in proc.stdout


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "db-octocat-1",
            GOOD_GRANT.replace("requester: octocat", 'requester: "octocat\\n"'),
            "grants/db-octocat-1.yaml:1: requester 'octocat\\n' does not have the expected form",
        ),
        (
            "db-octocat-1",
            GOOD_GRANT.replace(
                "requester: octocat",
                'requester: "octocat\\nJitops-Grant: victim\\nJitops-Action: revoke"',
            ),
            "grants/db-octocat-1.yaml:1: requester 'octocat\\nJitops-Grant: victim",
        ),
        (
            "db-octocat-1",
            GOOD_GRANT.replace("role: prod-db-readonly", 'role: "prod-db-readonly\\n"'),
            "grants/db-octocat-1.yaml:2: role 'prod-db-readonly\\n' does not have the expected",
        ),
        (
            "db-octocat-1",
            GOOD_GRANT.replace("duration: 2h", "duration: " + "1" * 4400),
            "grants/db-octocat-1.yaml:3: a number of 4,400 characters is not a value jitops "
            "can use; write a short number, or quote the text",
        ),
        (
            "db-octocat-1",
            GOOD_GRANT.replace("duration: 2h", 'duration: "' + " " * 64000 + '1"'),
            "grants/db-octocat-1.yaml:3: duration is too long: at most 32 characters",
        ),
        (
            "con",
            GOOD_GRANT,
            "grants/con.yaml: file name 'con' is a reserved device name on Windows",
        ),
        ("lpt1", GOOD_GRANT, "grants/lpt1.yaml: file name 'lpt1' is a reserved device name"),
    ],
    ids=[
        "trailing-newline",
        "forged-trailers",
        "role-newline",
        "huge-int",
        "spaces",
        "con",
        "lpt1",
    ],
)
def test_hostile_values_are_refused_with_their_line(
    access_repo: Path, write_grant: Writer, name: str, text: str, expected: str
) -> None:
    write_grant(name, text)
    code, out = run(access_repo)
    assert code == 1, out
    assert any(line.startswith(expected) for line in out.splitlines()), out
    assert "Traceback" not in out
    assert len(max(out.splitlines(), key=len)) < 400  # a hostile value is never echoed whole


@pytest.mark.parametrize(
    "status",
    [
        "  issued_at: 12\n  expires_at: 2026-01-01T00:00:00Z\n  token_accessor: a1\n",
        '  issued_at: "2026-01-01T00:00:00Z"\n  expires_at: "9999-12-31T23:59:59-01:00"\n'
        "  token_accessor: a1\n",
        '  issued_at: "2026-01-01T00:00:00Z"\n  expires_at: "2026-01-01T02:00:00Z"\n'
        '  token_accessor: ""\n',
        "  issued_at: 2026-01-01T00:00:00Z\n  expires_at: 2026-01-01T02:00:00Z\n"
        "  token_accessor: a1\n  pull_request: " + "9" * 5000 + "\n",
    ],
    ids=["integer-time", "overflowing-time", "empty-accessor", "huge-pr"],
)
def test_a_damaged_status_block_is_a_clean_error(
    access_repo: Path, write_grant: Writer, status: str
) -> None:
    write_grant("db-octocat-1", GOOD_GRANT + "status:\n  state: active\n" + status)
    code, out = run(access_repo)
    assert code == 1, out
    assert out.startswith("grants/db-octocat-1.yaml:"), out
    assert "Traceback" not in out


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_escape_sequences_in_names_and_values_never_reach_the_terminal(
    access_repo: Path, write_grant: Writer, tmp_path: Path, fmt: str
) -> None:
    write_grant(
        "db-\x1b[2J\x1b]8;;evil.example\x07x",
        GOOD_GRANT.replace("role: prod-db-readonly", 'role: "\\e[31m[/bold]"'),
    )
    summary = tmp_path / "summary.md"
    code, out = run(access_repo, "--format", fmt, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1, out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]8;;evil.example\\x07x" in out  # shown, so a reader sees the trick
    if fmt == "github":
        assert "\x1b" not in summary.read_text()
