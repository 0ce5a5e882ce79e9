"""The Vault door: ``client`` (the only importer of hvac), ``login`` (how the environment lets
jitops log in) and ``model`` (the values and errors it returns, free of hvac)."""
