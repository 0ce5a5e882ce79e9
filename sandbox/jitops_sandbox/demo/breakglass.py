"""`jitops demo --scenario break-glass`: emergency access end to end, narrated, checked.

An on-call engineer asks for production database access with ``emergency: true``; the pull
request needs no prior review; `jitops issue` issues it (capped) and says who must ratify by
when; a real PostgreSQL login works; nobody ratifies within the (seconds-long) window; the next
`jitops sweep` revokes the token -- the same login is refused -- and records
``Jitops-Action: unratified``; `audit verify` reports it until an admin closes it with a
recorded reason (`jitops audit close`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from rich.markup import escape

from jitops.doors.git import Git
from jitops_sandbox.demo.run import Demo, DemoFailed
from jitops_sandbox.demo.world import DB_ROLE, DBA

ONCALL = "dave"  # @acme/sre in the demo world
GRANT_ID = "orders-dave-incident"
WINDOW_S = 5
ROLE = """\
  orders-db-emergency:
    description: Read-only SQL on the orders database during an incident
    max_duration: 1h
    requesters: ['@acme/engineering']
    approvals: [{{from: ['@acme/dba'], count: 1}}]
    break_glass:
      requesters: ['@acme/sre']
      max_duration: 2m
      ratify: [{{from: ['@acme/dba'], count: 1}}]
      ratify_within: {window}s
    vault:
      policies: [jit-orders-db-readonly]
      secret: {secret}
"""


class BreakGlassDemo(Demo):
    def run(self) -> None:
        w, c = self.w, self.c
        secret = f"database/creds/{DB_ROLE}" if w.postgres else "secret/data/orders/readonly"
        with self.step("the policy gives @acme/sre break-glass on the orders database"):
            policy = w.policy_text().replace(
                "roles:\n", "roles:\n" + ROLE.format(window=WINDOW_S, secret=secret), 1
            )
            w.gh.commit_files("main", {"policies/policy.yaml": policy}, author=DBA, message="bg")
            w.gh.add_ssh_key(ONCALL, w.key.public_line)
            c.print(escape(ROLE.format(window=WINDOW_S, secret=secret)))
            self.check(True, f"ratify within {WINDOW_S}s by a DBA, capped at 2m")
        grant = (
            f"requester: {ONCALL}\nrole: orders-db-emergency\nduration: 1h\n"
            "reason: INC-77 orders are failing, need to look at the queue\nemergency: true\n"
        )
        with self.step(f"{ONCALL} (on call) opens an emergency pull request"):
            c.print(f"[cyan]grants/{GRANT_ID}.yaml[/]\n{grant}")
            pr = w.gh.open_pr(
                ONCALL,
                f"access/{GRANT_ID}",
                "Emergency access",
                files={f"grants/{GRANT_ID}.yaml": grant},
            )
            subprocess.run(["git", "fetch", "--quiet", "origin"], cwd=w.checkout, check=True)
            self.jitops("pr", "check", "--pr", str(pr), "--format", "text")
            statuses = {s.context: s.state for s in reversed(w.gh.statuses(w.gh.head_sha(pr)))}
            self.check(statuses.get("jitops/approval") == "success", "no prior review needed")
        with self.step(f"{ONCALL} merges it (the on-call team bypasses review for PRs only)"):
            before = w.main_sha()
            after = w.gh.merge_pr(pr, ONCALL)
            out = self.jitops("issue", "--before", before, "--after", after, "--format", "json")
            self.check(
                [(o["grant"], o["action"]) for o in json.loads(out)] == [(GRANT_ID, "issued")],
                "issued on merge, capped at break_glass.max_duration",
            )
            body = next((b for b in w.gh.comments(pr) if "BEGIN AGE" in b), "")
            self.check("must be ratified by" in body, "the delivery says who ratifies by when")
            text = w.gh.read_file("main", f"grants/{GRANT_ID}.yaml") or ""
            accessor = text.split("token_accessor:")[1].split()[0].strip('"')
        with self.step(f"{ONCALL} claims it and logs in"):
            out = self.jitops(
                "claim",
                GRANT_ID,
                "--pr",
                str(pr),
                "--identity",
                str(w.key.private),
                "--format",
                "json",
                login=ONCALL,
            )
            creds = json.loads(out)["credentials"]
            if w.postgres is not None:
                total = self._query(creds["username"], creds["password"])
                self.check(total is not None, f"real PostgreSQL login; SELECT sum(total) = {total}")
            else:
                self.check(bool(creds.get("password")), "the kv secret was delivered")
        with self.step(f"nobody ratifies within {WINDOW_S}s; the next `jitops sweep` acts"):
            time.sleep(WINDOW_S + 1)
            out = self.jitops("sweep", "--format", "json")
            done = [(o["grant"], o["action"]) for o in json.loads(out)]
            self.check((GRANT_ID, "unratified") in done, "recorded as unratified")
            self.check(w.admin().lookup_accessor(accessor) is None, "its Vault token is revoked")
            if w.postgres is not None:
                self.check(
                    self._query(creds["username"], creds["password"]) is None,
                    "the same PostgreSQL login is now refused",
                )
            Git(w.checkout).fetch("origin", "main")
            log = Git(w.checkout).message("origin/main")
            self.check("Jitops-Action: unratified" in log, "git: Jitops-Action: unratified")
        with self.step("audit and audit verify show it until an admin closes it"):
            out = self.jitops("audit", "--ref", "origin/main", "--format", "json")
            mine = {r["grant"]: r for r in json.loads(out)}[GRANT_ID]
            self.check(mine["ratification"] == "unratified", "audit: never ratified")
            code, text = self._maybe("audit", "verify", "--ref", "origin/main")
            self.check(code == 1 and "never ratified" in text, "audit verify: a finding")
            self.jitops(
                "audit",
                "close",
                GRANT_ID,
                "--reason",
                "INC-77 postmortem reviewed the access",
                "--actor",
                DBA,
                login=DBA,
            )
            Git(w.checkout).fetch("origin", "main")
            code, text = self._maybe("audit", "verify", "--ref", "origin/main")
            self.check(code == 0, f"{DBA} closed it with a recorded reason; verify is clean")
        c.print(f"[green]every step held[/] — {self.steps} steps")

    def _maybe(self, *args: str) -> tuple[int, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "VAULT_", "ACTIONS_", "JITOPS_"))
        }
        env.update(self.w.environ())
        proc = subprocess.run(
            [sys.executable, "-m", "jitops", *args],
            cwd=self.w.checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode not in (0, 1):
            raise DemoFailed(f"`jitops {' '.join(args)}` exited {proc.returncode}")
        return proc.returncode, proc.stdout
