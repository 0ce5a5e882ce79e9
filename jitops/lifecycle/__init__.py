"""The grant lifecycle: validate, request, pull request checks, issue on merge, claim, sweep and
revoke.

Each step takes its decisions from :mod:`jitops.core` (:mod:`jitops.core.gate` for the issue
gate, :mod:`jitops.core.plan` for what to commit) and runs them against the doors (git,
GitHub, Vault, webhooks), which are passed in (:class:`~jitops.lifecycle.services.Services`)
so tests can point them at the loopback stand-ins. ``landing`` reads what the gate judges (how
a grant reached main, from git and the API); every run reports
:class:`~jitops.lifecycle.outcome.Outcome` values.
"""
