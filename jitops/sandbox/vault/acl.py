"""ACL policies: parsing, the built-in ``default`` and ``root`` policies, and path matching.

Matching follows Vault's rules: an exact path wins; otherwise, among the patterns (``*``
suffix glob, ``+`` one-segment wildcard) that match, the most specific wins: the later the
first wildcard, not ending in ``*``, fewer ``+`` segments, longer, then lexically greater.
Rules for the same pattern in several policies of one token are merged; ``deny`` wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from jitops.sandbox.vault import hcl
from jitops.sandbox.vault.errors import VaultAPIError

CAPABILITIES = frozenset({"create", "read", "update", "delete", "list", "sudo", "deny", "patch"})

DEFAULT_POLICY = """\
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties (knowing the lease ID reveals nothing else)
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}
"""


@dataclass(frozen=True)
class Rule:
    pattern: str
    capabilities: frozenset[str]

    @property
    def glob(self) -> bool:
        return self.pattern.endswith("*")

    def matches(self, path: str) -> bool:
        return _compile(self.pattern).fullmatch(path) is not None

    def priority(self) -> tuple[int, int, int, int, str]:
        """Higher sorts as more specific (Vault's documented priority rules, in order)."""
        positions = [i for i, ch in enumerate(self.pattern) if ch in "+*"]
        first = positions[0] if positions else len(self.pattern)
        plus = sum(1 for seg in self.pattern.split("/") if seg == "+")
        return (first, 0 if self.glob else 1, -plus, len(self.pattern), self.pattern)


_COMPILED: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    found = _COMPILED.get(pattern)
    if found is None:
        glob = pattern.endswith("*")
        body = pattern[:-1] if glob else pattern
        parts = [r"[^/]+" if seg == "+" else re.escape(seg) for seg in body.split("/")]
        found = re.compile("/".join(parts) + (".*" if glob else ""), re.DOTALL)
        _COMPILED[pattern] = found
    return found


def parse_policy(name: str, text: str) -> list[Rule]:
    """The rules of one policy; a 400 with Vault's wording when it does not parse."""
    try:
        doc = hcl.parse(text)
    except hcl.HCLError as exc:
        raise VaultAPIError(400, f"failed to parse policy: {exc}") from None
    unknown = sorted(set(doc) - {"path", "name"})
    if unknown:
        raise VaultAPIError(400, f'failed to parse policy: invalid key "{unknown[0]}" on line 1')
    paths = doc.get("path") or {}
    if not isinstance(paths, dict):
        raise VaultAPIError(400, "failed to parse policy: path must be a block")
    rules: list[Rule] = []
    for pattern, block in paths.items():
        if not isinstance(block, dict):
            raise VaultAPIError(400, f'failed to parse policy: path "{pattern}" must be a block')
        caps = block.get("capabilities", [])
        if "policy" in block and not caps:  # the legacy form: policy = "read" | "write" | ...
            caps = _legacy(str(block["policy"]))
        if not isinstance(caps, list):
            raise VaultAPIError(400, f'failed to parse policy: capabilities of "{pattern}"')
        for cap in caps:
            if cap not in CAPABILITIES:
                raise VaultAPIError(
                    400, f'failed to parse policy: path "{pattern}": invalid capability "{cap}"'
                )
        rules.append(Rule(pattern.lstrip("/"), frozenset(str(c) for c in caps)))
    return rules


def _legacy(word: str) -> list[str]:
    return {
        "deny": ["deny"],
        "read": ["read", "list"],
        "write": ["create", "read", "update", "delete", "list"],
        "sudo": ["create", "read", "update", "delete", "list", "sudo"],
    }.get(word, [])


class ACL:
    """The merged rules of a token's policies (``root`` allows everything)."""

    def __init__(self, rule_sets: Iterable[list[Rule]], *, root: bool = False) -> None:
        self.root = root
        merged: dict[str, set[str]] = {}
        for rules in rule_sets:
            for rule in rules:
                merged.setdefault(rule.pattern, set()).update(rule.capabilities)
        self.rules = [
            Rule(p, frozenset({"deny"}) if "deny" in caps else frozenset(caps))
            for p, caps in merged.items()
        ]

    def capabilities(self, path: str, *, listing: bool = False) -> frozenset[str]:
        """The capabilities on ``path`` (``{"root"}`` for root, empty when nothing matches)."""
        if self.root:
            return frozenset({"root"})
        path = path.lstrip("/")
        candidates = [path.rstrip("/"), path] if listing and path.endswith("/") else [path]
        for candidate in candidates:
            matching = [r for r in self.rules if r.matches(candidate)]
            if matching:
                best = max(matching, key=Rule.priority)
                return frozenset() if "deny" in best.capabilities else best.capabilities
        return frozenset()

    def allows(self, path: str, capability: str, *, listing: bool = False) -> bool:
        caps = self.capabilities(path, listing=listing)
        return "root" in caps or capability in caps

    def sudo(self, path: str) -> bool:
        return self.allows(path, "sudo")
