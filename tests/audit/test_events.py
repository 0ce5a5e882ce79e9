"""The ledger for a SIEM: `jitops audit --format jsonl` checked against its own JSON Schema,
`--format ocsf` against the OCSF schema itself (a JSON Schema built at test time from the
vendored OCSF 1.8.0 extract in tests/fixtures/ocsf; see its README)."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner

from jitops.cli import cli
from jitops.core import schema as schemas
from tests.audit.test_history import T0, Ledger, run
from tests.audit.test_history import story as story
from tests.audit.test_verify import ledger as ledger

OCSF = Path(__file__).resolve().parent.parent / "fixtures" / "ocsf"
WEB = "https://github.com/acme/access"


def lines(repo: Path, fmt: str, *args: str) -> list[dict[str, Any]]:
    code, out = run(repo, "--format", fmt, "--web-url", WEB, *args)
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines()]


# --- a JSON Schema from OCSF's own definitions --------------------------------------------------


def _load(rel: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OCSF / rel).read_text())
    return data


_SCALARS = {"string_t": "string", "integer_t": "integer", "long_t": "integer"}
_SCALARS |= {"float_t": "number", "boolean_t": "boolean"}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) for k, v in base.items() if isinstance(v, dict)}
    for name, spec in over.items():
        if not isinstance(spec, dict):
            continue  # "$include": profiles, which these events do not use
        merged = {**out.get(name, {}), **spec}
        if "enum" in spec and "enum" in out.get(name, {}):
            merged["enum"] = {**out[name]["enum"], **spec["enum"]}
        out[name] = merged
    return out


@cache
def _object_attributes(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(attributes, constraints) of an OCSF object, its ``extends`` chain merged."""
    obj = _load(f"objects/{name}.json")
    parent = obj.get("extends")
    attrs: dict[str, Any] = {}
    if parent and parent != "object":
        attrs, _ = _object_attributes(parent)
    return _merge(attrs, obj["attributes"]), obj.get("constraints") or {}


def _attr_schema(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    dictionary = _load("dictionary.json")
    entry = {**dictionary["attributes"][name], **spec}
    if "enum" in dictionary["attributes"][name] and "enum" in spec:
        entry["enum"] = {**dictionary["attributes"][name]["enum"], **spec["enum"]}
    kind = entry["type"]
    types = dictionary["types"]["attributes"]
    while kind in types and kind not in _SCALARS and types[kind].get("type"):
        kind = types[kind]["type"]
    if kind in _SCALARS:
        one: dict[str, Any] = {"type": _SCALARS[kind]}
        if "enum" in entry:
            one["enum"] = [
                int(k) if kind.endswith(("integer_t", "long_t")) else k for k in entry["enum"]
            ]
    elif kind in ("json_t", "object"):
        one = {}
    elif (OCSF / "objects" / f"{kind}.json").exists():
        one = _object_schema(kind)
    else:
        one = {"type": "object"}  # an object outside the extract: any object
    return {"type": "array", "items": one} if entry.get("is_array") else one


def _schema_of(attrs: dict[str, Any], constraints: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {n: _attr_schema(n, s) for n, s in attrs.items()},
        "required": sorted(n for n, s in attrs.items() if s.get("requirement") == "required"),
    }
    if "at_least_one" in constraints:
        out["anyOf"] = [{"required": [n]} for n in constraints["at_least_one"]]
    return out


@cache
def _object_schema(name: str) -> dict[str, Any]:
    return _schema_of(*_object_attributes(name))


@cache
def ocsf_class_schema() -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for rel in ("events/base_event.json", "events/iam/iam.json", "events/iam/user_access.json"):
        attrs = _merge(attrs, _load(rel)["attributes"])
    schema = _schema_of(attrs, {})
    cls = _load("events/iam/user_access.json")
    category = _load("categories.json")["attributes"][_load("events/iam/iam.json")["category"]]
    uid = category["uid"] * 1000 + cls["uid"]
    schema["properties"]["class_uid"]["enum"] = [uid]
    schema["properties"]["category_uid"]["enum"] = [category["uid"]]
    return schema


def test_the_ocsf_schema_built_here_is_strict() -> None:
    schema = ocsf_class_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"user", "metadata", "time", "class_uid", "activity_id"} <= set(schema["required"])
    assert schema["properties"]["activity_id"]["enum"] == [0, 99, 1, 2]
    bad = {"class_uid": 3005, "category_uid": 3, "activity_id": 7}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


# --- the exports --------------------------------------------------------------------------------


def test_jsonl_events_follow_their_schema(story: Ledger) -> None:
    events = lines(story.repo, "jsonl")
    validator = jsonschema.Draft202012Validator(schemas.schema("audit-event"))
    for e in events:
        validator.validate(e)
    by_grant: dict[str, list[str]] = {}
    for e in events:
        by_grant.setdefault(e["grant"], []).append(e["type"])
    assert by_grant == {
        "stg-octo-1": ["requested", "issued", "expired"],
        "db-hubot-2": ["requested", "approved", "issued", "revoked"],
        "db-octo-3": ["requested", "denied"],
        "stg-mona-4": ["requested"],
        "stg-octo-5": ["requested", "issued"],
    }
    times = [e["time"] for e in events]
    assert times == sorted(times)
    revoked = next(e for e in events if e["type"] == "revoked")
    assert revoked["reason"] == "laptop lost rotate" and revoked["repository"] == WEB
    approved = next(e for e in events if e["type"] == "approved")
    assert approved["approved_by"] == ["alice"] and approved["pull_request"] == 2
    # stable ids: an overlapping export can be de-duplicated
    assert [e["id"] for e in lines(story.repo, "jsonl")] == [e["id"] for e in events]
    assert len({e["id"] for e in events}) == len(events)


def test_since_exports_only_newer_events(story: Ledger) -> None:
    since = (T0 + timedelta(hours=3, minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = lines(story.repo, "jsonl", "--since", since)
    assert all(e["time"] >= since for e in events)
    assert [(e["grant"], e["type"]) for e in events][:3] == [
        ("db-hubot-2", "revoked"),
        ("db-octo-3", "requested"),
        ("db-octo-3", "denied"),
    ]
    code, out = run(story.repo, "--format", "jsonl", "--since", "1d")
    assert code == 0 and {json.loads(x)["grant"] for x in out.splitlines()} == {"stg-octo-5"}


def test_ocsf_events_follow_the_ocsf_schema(story: Ledger) -> None:
    validator = jsonschema.Draft202012Validator(ocsf_class_schema())
    events = lines(story.repo, "ocsf")
    assert len(events) == 12
    for e in events:
        errors = sorted(validator.iter_errors(e), key=str)
        assert not errors, (e["unmapped"]["type"], [x.message for x in errors])
        assert e["type_uid"] == e["class_uid"] * 100 + e["activity_id"]
        assert e["status"] == {1: "Success", 2: "Failure"}[e["status_id"]]
        assert e["metadata"]["version"] == "1.8.0"
    # the schema bites: a field OCSF does not define, a user without a name or id, a string time
    for broken in (
        {**events[0], "grant": "stg-octo-1"},
        {**events[0], "user": {"type_id": 1}},
        {**events[0], "time": "2026-11-01T10:00:00Z"},
        {k: v for k, v in events[0].items() if k != "metadata"},
    ):
        assert list(validator.iter_errors(broken))
    cls = _load("events/iam/user_access.json")["attributes"]["activity_id"]["enum"]
    kinds = {e["unmapped"]["type"]: e for e in events}
    assert kinds["issued"]["activity_id"] == 1
    assert kinds["issued"]["activity_name"] == cls["1"]["caption"]
    assert kinds["revoked"]["activity_name"] == cls["2"]["caption"]
    assert kinds["expired"]["activity_id"] == 2
    assert (kinds["denied"]["activity_id"], kinds["denied"]["status_id"]) == (1, 2)
    assert kinds["denied"]["status_detail"] == "no approval"
    assert kinds["requested"]["activity_id"] == 99
    assert kinds["issued"]["privileges"] == ["staging-admin"]
    assert kinds["issued"]["user"]["name"] == "octocat"


def test_the_schema_command_prints_the_event_schema() -> None:
    result = CliRunner().invoke(cli, ["schema", "audit-event"])
    assert result.exit_code == 0
    assert json.loads(result.output)["$id"] == "https://jitops.dev/schemas/audit-event/v1"
