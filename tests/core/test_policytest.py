from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from jitops.cli import cli
from tests.conftest import ROOT


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["policy", "test", *args])
    return result.exit_code, result.output


def test_shipped_cases_pass() -> None:
    code, out = run("--repo", str(ROOT))
    assert code == 0, out
    assert out.strip().endswith("12 passed, 0 failed")


def test_a_miss_says_what_was_expected_and_why(access_repo: Path) -> None:
    tests = access_repo / "policies" / "tests"
    tests.mkdir()
    (tests / "t.yaml").write_text(
        "cases:\n"
        "  - name: greedy hope\n"
        "    grant: {requester: octocat, role: prod-db-readonly, duration: 2h,\n"
        "            reason: Investigate INC-1 slow queries, ticket: INC-1}\n"
        "    teams: {'@acme/dba': [alice], '@acme/engineering': [octocat]}\n"
        "    reviews: [{user: octocat, state: APPROVED}]\n"
        "    expect: approved\n"
    )
    code, out = run("--repo", str(access_repo))
    assert code == 1
    assert "policies/tests/t.yaml:2: case 'greedy hope': expected approved, got pending" in out
    assert "needs 1 more approval from @acme/dba" in out
    assert out.strip().endswith("0 passed, 1 failed")


def test_malformed_case_file_is_a_located_error(access_repo: Path) -> None:
    tests = access_repo / "policies" / "tests"
    tests.mkdir()
    (tests / "t.yaml").write_text("cases:\n  - name: x\n    expect: maybe\n")
    code, out = run("--repo", str(access_repo))
    assert code == 1
    assert "policies/tests/t.yaml:2: missing required field 'grant'" in out
    assert "Traceback" not in out


def test_a_candidate_policy_directory_is_judged_by_its_own_tests(
    access_repo: Path, tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate"
    (candidate / "tests").mkdir(parents=True)
    policy = (ROOT / "policies" / "policy.yaml").read_text()
    (candidate / "policy.yaml").write_text(policy.replace("count: 1\n", "count: 2\n", 1))
    (candidate / "tests" / "dba.yaml").write_text(
        "cases:\n"
        "  - name: two DBAs now\n"
        "    grant: {requester: octocat, role: prod-db-readonly, duration: 2h,\n"
        "            reason: Investigate INC-1 slow queries, ticket: INC-1}\n"
        "    teams: {'@acme/dba': [alice, bob], '@acme/engineering': [octocat]}\n"
        "    reviews: [{user: alice, state: APPROVED}]\n"
        "    expect: pending\n"
    )
    code, out = run("--repo", str(access_repo), "--policies", str(candidate))
    assert (code, out.strip()) == (0, "1 passed, 0 failed")
    code, out = run("--repo", str(ROOT), "--policies", str(candidate))
    assert code == 0  # the shipped cases are not run: the candidate's own tests are
