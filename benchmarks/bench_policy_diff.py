"""Benchmark: `jitops policy diff` over 1,000 active grants and 30 days of requests.

The history is written with `git fast-import`, shaped like a real one: each grant is a
request commit on a branch and GitHub's merge commit adding the file, then jitops' `issue`
commit (with trailers and the status block); the recent requests of the last 30 days then
`expire`, or are denied at merge. Grants ask for two roles of the repository's example policy
(one with a DBA approval, one self-service). The candidate policy (the working tree) halves
the maximum durations and asks two DBA approvals, so many grants change outcome.

    python benchmarks/bench_policy_diff.py --active 1000 --requests 1500 --runs 5
"""

from __future__ import annotations

import argparse
import json
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

POLICY = (Path(__file__).resolve().parent.parent / "policies" / "policy.yaml").read_text()
ROLES = (("prod-db-readonly", ("alice",), "ticket: INC-{i}\n"), ("staging-admin", (), ""))


def build(root: Path, active: int, requests: int, now: datetime) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    out: list[bytes] = []
    state = {"mark": 0, "main": 0}

    def commit(
        when: datetime, message: str, ops: list[str], ref: str = "main", merge: int = 0
    ) -> int:
        state["mark"] += 1
        mark = state["mark"]
        msg = message.encode()
        out.append(f"commit refs/heads/{ref}\nmark :{mark}\n".encode())
        out.append(
            f"committer jitops[bot] <bot@example.com> {int(when.timestamp())} +0000\n".encode()
        )
        out.append(f"data {len(msg)}\n".encode() + msg + b"\n")
        if state["main"]:
            out.append(f"from :{state['main']}\n".encode())
        if merge:
            out.append(f"merge :{merge}\n".encode())
        out.extend(op.encode() for op in ops)
        if ref == "main":
            state["main"] = mark
        return mark

    def blob(path: str, text: str) -> str:
        return f"M 100644 inline {path}\ndata {len(text.encode())}\n{text}\n"

    t0 = now - timedelta(days=31)
    commit(t0, "Access policy\n", [blob("policies/policy.yaml", POLICY)])
    total = active + requests
    step = max(total // max(active, 1), 1)
    for i in range(total):
        role, approved, ticket = ROLES[i % 2]
        requester = f"user{i % 300}"
        gid = f"g-{requester}-{i}"
        path = f"grants/{gid}.yaml"
        when = t0 + timedelta(days=1) + (now - t0 - timedelta(days=1, hours=1)) * i / total
        hours = 1 + i % 4
        text = (
            f"requester: {requester}\nrole: {role}\nduration: {hours}h\n"
            f"reason: Debug the order pipeline for ticket {i}\n" + ticket.format(i=i)
        )
        side = commit(when, "Request access\n", [blob(path, text)], ref="request")
        commit(
            when,
            f"Merge pull request #{i + 1} from acme/req-{i}\n\nAccess\n",
            [blob(path, text)],
            merge=side,
        )
        stays = i % step == 0 and i // step < active  # one of the active grants
        if i % 7 == 3 and i % 2 == 0 and not stays:  # denied at merge: never issued
            deny = LedgerEntry("deny", gid, requester, role, i + 1, reason="not approved")
            commit(when + timedelta(seconds=30), commit_message(deny, "Denied."), [f"D {path}\n"])
            continue
        expires = when + timedelta(hours=hours)
        entry = LedgerEntry("issue", gid, requester, role, i + 1, approved, expires)
        status = (
            f"status:\n  state: active\n  pull_request: {i + 1}\n"
            f"  approved_by: [{', '.join(approved)}]\n"
            f"  issued_at: {format_time(when)}\n  expires_at: {format_time(expires)}\n"
            f'  token_accessor: "acc{i}"\n'
        )
        commit(
            when + timedelta(seconds=30),
            commit_message(entry, "Issued."),
            [blob(path, text + status)],
        )
        if not stays:  # a request: ended
            end = LedgerEntry("expire", gid, requester, role, i + 1, approved, expires)
            commit(expires, commit_message(end, "Ended."), [f"D {path}\n"])
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(out), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)
    candidate = (
        POLICY.replace("max_duration: 4h", "max_duration: 2h")
        .replace("max_duration: 8h", "max_duration: 2h")
        .replace(
            "      - from: ['@acme/dba']\n        count: 1",
            "      - from: ['@acme/dba']\n        count: 2",
        )
    )
    (root / "policies" / "policy.yaml").write_text(candidate)


def timed(cmd: list[str], cwd: Path, runs: int) -> tuple[float, str]:
    samples, last = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        last = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--active", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1500, help="ended requests of the last 30 days")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jitops-bench-policy-diff-"))
    try:
        root = tmp / "repo"
        build(root, args.active, args.requests, datetime.now(UTC))
        cmd = [sys.executable, "-m", "jitops", "policy", "diff", "main", "--format", "json"]
        took, out = timed(cmd, root, args.runs)
        doc = json.loads(out)
        print(
            f"judged: {doc['active']} active grants, {doc['requests']} requests; "
            f"{len(doc['changes'])} change outcome"
        )
        print(f"jitops policy diff: {took * 1000:8.0f} ms (median of {args.runs})")
        empty, _ = timed([sys.executable, "-c", "import jitops.cli"], root, args.runs)
        print(f"python start and import jitops.cli (for information): {empty * 1000:8.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
