"""Benchmark: `jitops audit --format json` on a 40,000-commit access repository vs one bare
`git log --name-status` pass over the same repository, in the same run (median of runs).

The history is shaped like a real one and written with `git fast-import`: for each grant a
request commit on a branch and GitHub's merge commit (two parents) adding the file, a jitops
`issue` commit adding the status block (with trailers) and an `expire` or `revoke` commit
removing it; one grant in three is denied at merge instead (a `deny` commit removes the file).

    python benchmarks/bench_audit.py --commits 40000 --runs 5
"""

from __future__ import annotations

import argparse
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


def build(root: Path, commits: int) -> int:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[bytes] = []
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
    stream = b"".join(out)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=stream, check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)
    return n


def timed(cmd: list[str], cwd: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--commits", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=5)
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
        base = timed(["git", "log", "--name-status"], root, args.runs)
        ours = timed([sys.executable, "-m", "jitops", "audit", "--format", "json"], root, args.runs)
        print(f"git log --name-status: {base * 1000:8.0f} ms (median of {args.runs})")
        print(f"jitops audit --format json: {ours * 1000:8.0f} ms (median of {args.runs})")
        print(f"ratio: {ours / base:.2f}x (limit 2.5x, goal 1.5x)")
        check = timed([sys.executable, "-m", "jitops", "audit", "verify"], root, args.runs)
        print(f"jitops audit verify (for information): {check * 1000:8.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
