"""jitops-sandbox: loopback stand-ins for the outside systems jitops talks to (GitHub, Vault,
PostgreSQL), and ``jitops demo``.

The stand-ins are *the other side*, written from the published API behaviour (docs/protocols.md
in the jitops repository names the sources), and import nothing of jitops so they cannot agree
with its bugs. jitops' production code never imports this package; only ``jitops demo``,
``jitops sandbox`` and the tests do.
"""
