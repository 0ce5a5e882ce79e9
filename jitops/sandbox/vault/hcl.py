"""A small parser for the HCL subset Vault ACL policies use (and their JSON form).

Grammar: a body is ``key = value`` attributes and ``name "label"... { body }`` blocks; values
are strings, numbers, booleans, lists and ``{ key = value }`` objects; comments are ``#``,
``//`` and ``/* */``. Policies in JSON (``{"path": {"x": {...}}}``) are accepted too.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<heredoc><<-?(?P<tag>[A-Za-z_]+)\n.*?\n\s*(?P=tag)(?=\s|$))
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.-]*)
  | (?P<punct>[{}\[\]=,:])
    """,
    re.VERBOSE | re.DOTALL,
)


class HCLError(ValueError):
    """The text is not valid HCL; the message says where."""


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            line = text.count("\n", 0, pos) + 1
            raise HCLError(f"At {line}:{pos - text.rfind(chr(10), 0, pos)}: illegal char")
        kind = match.lastgroup or ""
        if kind == "tag":
            kind = "heredoc"
        if kind not in ("ws", "comment"):
            out.append((kind, match.group(0), text.count("\n", 0, pos) + 1))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise HCLError("unexpected end of input")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text, line = self.take()
        if text != value or kind != "punct":
            raise HCLError(f"At {line}: expected {value!r}, got {text!r}")

    def body(self, closing: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            tok = self.peek()
            if tok is None:
                if closing is not None:
                    raise HCLError(f"unexpected end of input: expected {closing!r}")
                return out
            if tok[0] == "punct" and tok[1] == closing:
                self.take()
                return out
            if tok[0] == "punct" and tok[1] == ",":
                self.take()
                continue
            self.item(out)

    def item(self, out: dict[str, Any]) -> None:
        kind, text, line = self.take()
        if kind not in ("ident", "string"):
            raise HCLError(f"At {line}: expected a key, got {text!r}")
        key = _unquote(text) if kind == "string" else text
        labels: list[str] = []
        while (tok := self.peek()) is not None and tok[0] == "string":
            labels.append(_unquote(self.take()[1]))
        tok = self.peek()
        if tok is not None and tok[1] in ("=", ":") and not labels:
            self.take()
            out[key] = self.value()
            return
        self.expect("{")
        block = self.body("}")
        if not labels:
            existing = out.setdefault(key, {})
            if not isinstance(existing, dict):
                raise HCLError(f"At {line}: {key!r} is both a value and a block")
            existing.update(block)
            return
        target = out
        for label in [key, *labels[:-1]]:
            target = target.setdefault(label, {})
            if not isinstance(target, dict):
                raise HCLError(f"At {line}: {key!r} is both a value and a block")
        existing = target.setdefault(labels[-1], {})
        if not isinstance(existing, dict):
            raise HCLError(f"At {line}: {labels[-1]!r} is both a value and a block")
        existing.update(block)  # a repeated block adds to the first, as Vault merges them

    def value(self) -> Any:
        kind, text, line = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "heredoc":
            return text.split("\n", 1)[1].rsplit("\n", 1)[0]
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "ident" and text in ("true", "false"):
            return text == "true"
        if kind == "punct" and text == "[":
            items: list[Any] = []
            while True:
                tok = self.peek()
                if tok is None:
                    raise HCLError("unexpected end of input in a list")
                if tok[1] == "]" and tok[0] == "punct":
                    self.take()
                    return items
                if tok[1] == "," and tok[0] == "punct":
                    self.take()
                    continue
                items.append(self.value())
        if kind == "punct" and text == "{":
            return self.body("}")
        raise HCLError(f"At {line}: unexpected {text!r}")


def _unquote(text: str) -> str:
    try:
        return str(json.loads(text))
    except ValueError:
        return text[1:-1]


def parse(text: str) -> dict[str, Any]:
    """The HCL (or JSON) document as nested dicts."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise HCLError(str(exc)) from None
        if not isinstance(data, dict):
            raise HCLError("a JSON policy must be an object")
        return data
    return _Parser(text).body(None)
