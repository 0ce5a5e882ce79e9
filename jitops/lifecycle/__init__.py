"""The grant lifecycle after approval: issue on merge, claim, sweep, revoke.

``plan`` holds the pure decisions (what to commit, what expired, what a status block says) and
:mod:`jitops.core.gate` the pure issue gate; ``landing`` reads what the gate judges (how a grant
reached main, from git and the API); ``issue``, ``sweep`` and ``claim`` run them against the
boundaries (git ledger, GitHub, Vault, webhooks), which are passed in so tests can point them
at the loopback stand-ins.
"""
