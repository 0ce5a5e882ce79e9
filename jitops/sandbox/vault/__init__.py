"""An in-memory stand-in for HashiCorp Vault's HTTP API (the parts jitops relies on)."""
