"""Loopback stand-ins for the outside systems jitops talks to (GitHub, Vault, PostgreSQL).

They are *the other side*, written from the published API behaviour (see PROTOCOLS.md), and
import nothing from jitops' core so they cannot agree with its bugs. Production code never
imports this package; only ``jitops demo``, ``jitops sandbox`` and the tests do.
"""
