"""Setting an access repository up and checking it: ``init`` (scaffold), ``vault`` (vault
setup), ``doctor`` and ``doctor_github`` (the checks) and ``checkup`` (doctor's run)."""
