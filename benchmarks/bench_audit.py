"""Benchmark: `jitops audit --format json` on a 40,000-commit access repository vs one bare
`git log --name-status` pass over the same repository, in the same run (median of runs).

The history is shaped like a real one and written with `git fast-import`: for each grant a
request commit on a branch and GitHub's merge commit (two parents) adding the file, a jitops
`issue` commit adding the status block (with trailers) and an `expire` or `revoke` commit
removing it; one grant in three is denied at merge instead (a `deny` commit removes the file).

    python benchmarks/bench_audit.py --commits 40000 --runs 5
    python benchmarks/bench_audit.py --commits 730000 --runs 1   # five years at 100 a day

Besides wall-clock medians it prints CPU seconds (user + system, git's included) and the time
per 1,000 commits, to compare sizes (is the cost linear?) and to read figures taken on a
busy machine, where wall-clock time says more about the neighbours than about jitops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jitops.core.grant import format_time
from jitops.core.trailers import LedgerEntry, commit_message

POLICY = (Path(__file__).resolve().parent.parent / "policies" / "policy.yaml").read_bytes()


def grant_text(i: int) -> str:
    return (
        f"requester: user{i % 300}\nrole: staging-admin\nduration: 2h\n"
        f"reason: Debug the staging deploy pipeline, ticket {i}\n"
    )


class _Stream:
    """fast-import's input, written as it is made (730,000 commits do not fit in a list)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        self._w = proc.stdin
        self._buf: list[bytes] = []

    def append(self, data: bytes) -> None:
        self._buf.append(data)
        if len(self._buf) > 4096:
            self.flush()

    def flush(self) -> None:
        self._w.write(b"".join(self._buf))
        self._buf.clear()


def build(root: Path, commits: int) -> int:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    importer = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=root, stdin=subprocess.PIPE)
    out = _Stream(importer)
    n = 0
    mark = 0
    main = 0

    def commit(
        when: datetime, message: str, ops: list[str], ref: str = "main", merge: int = 0
    ) -> int:
        """One commit on ``ref`` (parent: the previous main commit; ``merge``: second parent)."""
        nonlocal n, mark, main
        mark += 1
        msg = message.encode()
        stamp = f"{int(when.timestamp())} +0000"
        out.append(f"commit refs/heads/{ref}\nmark :{mark}\n".encode())
        out.append(f"committer jitops[bot] <bot@example.com> {stamp}\n".encode())
        out.append(f"data {len(msg)}\n".encode() + msg + b"\n")
        if main:
            out.append(f"from :{main}\n".encode())
        if merge:
            out.append(f"merge :{merge}\n".encode())
        for op in ops:
            out.append(op.encode())
        n += 1
        if ref == "main":
            main = mark
        return mark

    def blob_op(path: str, text: str) -> str:
        data = text.encode()
        return f"M 100644 inline {path}\ndata {len(data)}\n{text}\n"

    out.append(b"")
    commit(
        t0,
        "Access policy\n",
        [f"M 100644 inline policies/policy.yaml\ndata {len(POLICY)}\n" + POLICY.decode() + "\n"],
    )
    i = 0
    while n < commits:
        i += 1
        gid = f"stg-user{i % 300}-{i}"
        path = f"grants/{gid}.yaml"
        when = t0 + timedelta(minutes=10 * i)
        text = grant_text(i)
        side = commit(when, "Request access\n", [blob_op(path, text)], ref="request")
        msg = f"Merge pull request #{i} from acme/req-{i}\n\nAccess\n"
        commit(when, msg, [blob_op(path, text)], merge=side)
        expires = when + timedelta(hours=2)
        requester = f"user{i % 300}"
        if i % 3 == 2:  # denied when merged (e.g. a reviewer left the team): never issued
            deny = LedgerEntry("deny", gid, requester, "staging-admin", i, reason="not eligible")
            commit(when + timedelta(seconds=30), commit_message(deny, "Denied."), [f"D {path}\n"])
            continue
        entry = LedgerEntry("issue", gid, requester, "staging-admin", i, ("alice",), expires)
        status = (
            "status:\n  state: active\n"
            f"  pull_request: {i}\n  approved_by: [alice]\n  issued_at: {format_time(when)}\n"
            f'  expires_at: {format_time(expires)}\n  token_accessor: "acc{i}"\n'
        )
        commit(
            when + timedelta(seconds=30),
            commit_message(entry, "Issued."),
            [blob_op(path, text + status)],
        )
        action = "revoke" if i % 3 == 1 else "expire"
        end = LedgerEntry(
            action,
            gid,
            requester,
            "staging-admin",
            i,
            ("alice",),
            expires,
            "done" if action == "revoke" else None,
        )
        end_at = when + timedelta(hours=1) if action == "revoke" else expires
        commit(end_at, commit_message(end, "Ended."), [f"D {path}\n"])
    out.flush()
    assert importer.stdin is not None
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)
    return n


def timed(cmd: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    """Median wall-clock seconds and median CPU seconds (the command and its children)."""
    samples, cpu = [], []
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
        after = os.times()
        cpu.append(
            after.children_user
            - before.children_user
            + after.children_system
            - before.children_system
        )
    return statistics.median(samples), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--commits", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip timing `audit verify` (for information only; long at 730,000 commits)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jitops-bench-audit-"))
    try:
        root = tmp / "repo"
        made = build(root, args.commits)
        count = subprocess.run(
            ["git", "rev-list", "--count", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"history: {count} commits ({made} written)")
        base, base_cpu = timed(["git", "log", "--name-status"], root, args.runs)
        ours, ours_cpu = timed(
            [sys.executable, "-m", "jitops", "audit", "--format", "json"], root, args.runs
        )
        per = int(count) / 1000
        print(
            f"git log --name-status: {base * 1000:8.0f} ms, cpu {base_cpu * 1000:6.0f} ms "
            f"(median of {args.runs}; {base * 1000 / per:.1f} ms per 1,000 commits)"
        )
        print(
            f"jitops audit --format json: {ours * 1000:8.0f} ms, cpu {ours_cpu * 1000:6.0f} ms "
            f"(median of {args.runs}; {ours * 1000 / per:.1f} ms per 1,000 commits)"
        )
        print(
            f"ratio: {ours / base:.2f}x wall, {ours_cpu / max(base_cpu, 1e-3):.2f}x cpu "
            "(limit 2.5x, goal 1.5x)"
        )
        if args.verify:
            check, _ = timed([sys.executable, "-m", "jitops", "audit", "verify"], root, args.runs)
            print(f"jitops audit verify (for information): {check * 1000:8.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
