"""One door per outside system: ``git`` (the ledger), ``github``, ``vault`` and ``webhooks``.

Only these modules talk to the outside; each turns its library's errors into ours (keeping the
cause) and returns plain values. They import nothing from the lifecycle. See
docs/architecture.md.
"""
