"""Text someone else wrote, made inert for each place people read it (pure).

A requester controls a grant's fields and its file name; a pull request's author controls
commit messages. Whatever of that reaches a terminal, a markdown comment, a Slack message or a
commit message goes through one of these first:

- :func:`printable` escapes control characters (ANSI and OSC-8 escape sequences start with
  one), bidirectional overrides and odd line breaks, so they show as ``\\x1b`` text instead of
  acting on the terminal;
- :func:`one_line` also folds every run of whitespace into one space;
- :func:`code_span` is a CommonMark code span that no text can break out of: GitHub renders
  nothing inside one (no markup, no links, no HTML, no @-mentions). CommonMark: "a backtick
  string ... of equal length" closes a code span, so a longer fence cannot be closed early.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab and newline handled by the callers), soft hyphen, zero-width and
# direction marks, bidirectional embeddings/overrides/isolates, line and paragraph separators,
# BOM, interlinear annotation marks and tag characters: all render as nothing, or act.
_INVISIBLE = (
    "\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f"
)
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")
_UNSAFE_ALL = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_BACKTICKS = re.compile("`+")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\u202e``);
    tabs and (with ``newlines``) line feeds are kept."""
    if newlines:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE_ALL.sub(lambda m: " " if m.group() == "\t" else _escape(m), text)


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line (whitespace folded, controls escaped), cut at ``limit``."""
    flat = printable(" ".join(text.split()))
    if limit is not None and len(flat) > limit:
        return flat[: max(limit - 3, 0)] + "..."
    return flat


def code_span(text: str, *, in_table: bool = False, limit: int | None = 200) -> str:
    """``text`` as one CommonMark code span: a fence longer than any backtick run inside it,
    padded with a space each side when it starts or ends with one, so no backtick in ``text``
    can close it. ``in_table`` escapes ``|``, which GFM splits table cells on even there."""
    flat = one_line(text, limit) or " "
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(flat)), default=0)
    fence = "`" * (longest + 1)
    if in_table:
        flat = flat.replace("|", "\\|")
    if flat[0] == "`" or flat[-1] == "`":
        flat = f" {flat} "  # CommonMark strips one space each side when both are there
    return f"{fence}{flat}{fence}"
