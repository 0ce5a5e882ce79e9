"""The audit: ``history`` rebuilds every grant's record from plain commit data (jitops' own
commits only), ``verify`` checks the ledger, ``render`` prints it (text, JSON, HTML)."""
