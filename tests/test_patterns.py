"""No pattern of jitops backtracks catastrophically.

Every ``pattern`` of the three JSON Schemas (as jsonschema and fastjsonschema compile them) and
every compiled regular expression at module level in the package is fed 64 KB worst cases. The
time bound is enforced by the harness: the work runs in a child process that is killed after
``LIMIT`` seconds (a quadratic pattern needs minutes on 64 KB); nothing here compares timings.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

LIMIT = 120  # seconds for ALL patterns together; one quadratic pattern alone needs far more

_CHILD = textwrap.dedent(
    """
    import importlib, json, pkgutil, re, sys
    import jitops
    from jitops.core import schema

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "pattern" and isinstance(v, str):
                    yield v
                else:
                    yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    patterns = {}
    for kind in schema.KINDS:
        for p in walk(schema.schema(kind)):
            patterns[f"{kind} schema: {p}"] = re.compile(p)  # jsonschema: re.search as written
            fixed = re.sub(r"(?<!\\\\)\\$", r"\\\\Z", p)  # what fastjsonschema compiles
            patterns[f"{kind} schema (fastjsonschema): {p}"] = re.compile(fixed)
    for mod in pkgutil.walk_packages(jitops.__path__, "jitops."):
        if mod.name.endswith("__main__") or mod.name.startswith("jitops_sandbox."):
            continue  # the stand-ins play GitHub and Vault for tests; they are not jitops
        module = importlib.import_module(mod.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                patterns[f"{mod.name}.{name}"] = value
    n = 64 * 1024
    # the starts of what the free-text lint looks for, repeated (each start must stay cheap)
    FREE_TEXT_UNITS = (
        "eyJa", "eyJaaaaaaaaa.", "a@", "a@a.", "a.a@", "AKIA", "ghp_", "hvs.", "s.", "xoxb-",
        "a://", "a://a:", "1-", "4 ", "+1 ", "(1) ", "1.", "DE89 ", "DE89", "-----BEGIN ", "aB3",
        "aB3/", "0a", "1 a",
    )
    chars = " \\t\\n\\r0123456789aZz-_.:/@*#[]{}()'\\"\\\\<>!|&,;=dhms\\x1b\\u2028"
    def cases():
        for c in chars:
            yield from (c * n, c * n + "\\x00", "a" + c * n + "!", "@a" + c * n + "\\n")
        for unit in ("1d", "1h", "a-", "@a/", "a.", "Jitops-A: ", "1 ", "- ", *FREE_TEXT_UNITS):
            yield unit * (n // len(unit)) + "\\x00"

    for label, rx in patterns.items():
        for text in cases():
            if isinstance(rx.pattern, bytes):
                rx.search(text.encode("utf-8"))
            else:
                rx.search(text)
    # the whole free-text lint, library checks included (phonenumbers, python-stdnum)
    from jitops.core import freetext
    for text in cases():
        freetext.scan(text)
    print(json.dumps(sorted(patterns)))
    """
)


def test_every_pattern_survives_64kb_worst_cases() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=LIMIT, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    checked = proc.stdout
    # the schema patterns a requester reaches, and the code's own, were all among them
    assert "grant schema: ^[A-Za-z0-9][A-Za-z0-9-]{0,38}(?!\\\\n)$" in checked
    assert "jitops.core.grant.ID_RE" in checked and "jitops.core.trailers._TRAILER" in checked
    assert "jitops.core.freetext._EMAIL" in checked and "jitops.core.freetext._DIGITS" in checked
