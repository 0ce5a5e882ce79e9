"""The JSON Schemas of jitops files, and schema errors turned into located problems."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from jitops.core.yamlsafe import Document
from jitops.errors import Problem

FILE_KINDS = ("grant", "policy", "policy-test", "init")  # files people write (editor schemas)
KINDS = (*FILE_KINDS, "audit-event")  # and what jitops writes: `audit --format jsonl` lines


@cache
def schema_text(kind: str) -> str:
    return (resources.files("jitops") / "schemas" / f"{kind}.schema.json").read_text("utf-8")


@cache
def schema(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text(kind))
    return loaded


@cache
def _validator(kind: str) -> Any:
    import jsonschema  # only a document the compiled check rejects needs explaining

    cls = jsonschema.validators.validator_for(schema(kind))
    return cls(schema(kind), format_checker=cls.FORMAT_CHECKER)


@cache
def _fast(kind: str) -> Callable[[Any], Any]:
    """A compiled validator: microseconds per valid document instead of hundreds."""
    return fastjsonschema.compile(schema(kind))


def check(doc: Document, kind: str) -> list[Problem]:
    """Every schema violation of ``doc`` as a ``path:line`` problem that says what to do.

    Valid documents (the common case) are confirmed by a compiled validator; only a document
    it rejects is walked by jsonschema, which explains every violation.
    """
    try:
        _fast(kind)(doc.data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    problems = []
    for err in _validator(kind).iter_errors(doc.data):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            props: dict[str, Any] = dict(err.schema).get("properties", {})
            allowed = ", ".join(props) or "none"
            for key in sorted(set(err.instance) - set(props)):
                where = f"in {_field(path)}" if path else "here"
                problems.append(
                    Problem(
                        doc.source,
                        doc.line((*path, key)),
                        f"unknown field {_shown(key)} {where}; allowed fields are: {allowed}",
                    )
                )
            continue
        problems.append(Problem(doc.source, doc.line(path), _explain(err, path)))
    if not problems:  # the compiled check refused what jsonschema accepts: never let it pass
        problems.append(
            Problem(doc.source, 1, "file does not match the schema; run `jitops schema` to see it")
        )
    problems.sort(key=lambda p: p.line)
    return problems


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) if path else "the file"


def _explain(err: Any, path: tuple[Any, ...]) -> str:
    where = _field(path)
    v = err.validator
    if v == "required":
        missing = err.message.split(" is a required property")[0]
        return f"missing required field {missing} in {where}; add it"
    if v == "type" and path and path[-1] in _DURATIONS and isinstance(err.instance, int):
        return f"{path[-1]} {err.instance} has no unit; write it with one, e.g. '{err.instance}m'"
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        got = type(err.instance).__name__
        hint = ""
        if want == "string" and path and path[-1] in _FREE_TEXT:
            hint = " (put it in quotes)"  # never echo free text: it may be personal data
        elif want == "string" and not isinstance(err.instance, dict | list):
            hint = f" (put it in quotes: '{_shown(str(err.instance))[1:-1]}')"
        return f"{where} must be a {_typename(str(want))}, not {_pyname(got)}{hint}"
    if v == "pattern":
        shown = _shown(err.instance)
        return f"{where} {shown} does not have the expected form ({_pattern_hint(path)})"
    if v == "minLength":
        return f"{where} is too short: at least {err.validator_value} characters are needed"
    if v == "maxLength":
        return f"{where} is too long: at most {err.validator_value} characters are allowed"
    if v in ("enum", "const"):
        options: list[Any] = list(err.validator_value) if v == "enum" else [err.validator_value]
        return f"{where} must be one of {', '.join(map(repr, options))}, not {_shown(err.instance)}"
    if v == "minItems":
        return f"{where} must list at least {err.validator_value} item(s)"
    if v in ("minimum", "maximum"):
        return (
            f"{where} must be {'at least' if v == 'minimum' else 'at most'} {err.validator_value}"
        )
    if v == "format":
        example = "e.g. 2026-11-23T10:00:00Z"
        return f"{where} {_shown(err.instance)} is not a valid {err.validator_value} ({example})"
    if v == "propertyNames":
        return f"name {_shown(err.instance)} in {where} is not allowed: {err.message}"
    return f"{where}: {err.message}"


def _shown(value: Any, limit: int = 60) -> str:
    """A value quoted for a message: control characters escaped by repr, long text cut."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _typename(name: str) -> str:
    return {"object": "mapping (key: value lines)", "array": "list", "integer": "whole number"}.get(
        name, name
    )


def _pyname(name: str) -> str:
    return {
        "dict": "a mapping",
        "list": "a list",
        "str": "text",
        "int": "a number",
        "float": "a number",
        "bool": "true/false",
        "NoneType": "empty",
    }.get(name, name)


_DURATIONS = ("duration", "max_duration", "wrap_ttl")
_FREE_TEXT = ("reason", "ticket")  # what the requester writes (jitops.core.freetext lints it)

_HINTS = {
    "requester": "a GitHub login such as 'octocat'",
    "role": "lower-case letters, digits, '-', '.', '_'",
    "duration": "a number and a unit, e.g. '45m', '2h', '1h30m', '1d'",
    "max_duration": "a number and a unit, e.g. '45m', '2h', '1h30m', '1d'",
    "wrap_ttl": "a number and a unit, e.g. '45m', '1h'",
}


def _pattern_hint(path: tuple[Any, ...]) -> str:
    for part in reversed(path):
        if isinstance(part, str) and part in _HINTS:
            return _HINTS[part]
        if part in ("requesters", "from"):
            return "'@login', '@org/team-slug' or '*'"
    return "see `jitops schema` for the exact format"
