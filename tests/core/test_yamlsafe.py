"""The safe YAML loader: every kind of bad input is refused with path:line and what to do."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitops.core import yamlsafe
from jitops.core.yamlsafe import YamlError, load


def problem(data: bytes, **kw: int) -> str:
    with pytest.raises(YamlError) as info:
        load(data, "grants/x.yaml", **kw)
    assert len(info.value.problems) == 1
    return str(info.value.problems[0])


def test_loads_plain_mapping_with_lines() -> None:
    doc = load(b"requester: octocat\nrole: db\nlist:\n  - a\n  - b\n", "f.yaml")
    assert doc.data == {"requester": "octocat", "role": "db", "list": ["a", "b"]}
    assert doc.line(("role",)) == 2
    assert doc.line(("list", 1)) == 5
    assert doc.line(("missing", "deeper")) == 1


def test_scalars_are_typed_like_yaml_but_timestamps_stay_text() -> None:
    doc = load(b"a: 12\nb: true\nc: null\nd: 2026-11-23T10:00:00Z\ne: '12'\n", "f.yaml")
    assert doc.data == {"a": 12, "b": True, "c": None, "d": "2026-11-23T10:00:00Z", "e": "12"}


def test_malformed_yaml_names_the_line() -> None:
    msg = problem(b"requester: octocat\nrole: [db\nreason: x\n")
    assert msg.startswith("grants/x.yaml:")
    assert "not valid YAML" in msg


def test_alias_bomb_is_refused_at_the_first_anchor() -> None:
    bomb = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [".encode()
        bomb += b",".join([f"*{chr(96 + i)}".encode()] * 9) + b"]\n"
    assert "anchor '&a' is not allowed" in problem(bomb)


def test_alias_without_anchor_in_view_is_refused() -> None:
    assert "alias" in problem(b"a: 1\nb: *x\n") or "not valid YAML" in problem(b"a: 1\nb: *x\n")


@pytest.mark.parametrize(
    "text",
    [
        b"a: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
        b"a: !!python/name:os.system\n",
        b"a: !custom 1\n",
        b"a: !!binary aGVsbG8=\n",
        b"!!python/object:__main__.X {}\n",
    ],
)
def test_tags_are_refused_and_nothing_is_executed(text: bytes) -> None:
    msg = problem(text)
    assert "tag" in msg
    assert "remove the tag" in msg


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    msg = problem(b"role: a\nduration: 1h\nrole: b\n")
    assert msg.startswith("grants/x.yaml:3:")
    assert "first on line 1" in msg


def test_size_cap() -> None:
    big = b"reason: '" + b"x" * (yamlsafe.GRANT_MAX_BYTES + 10) + b"'\n"
    assert "over the" in problem(big)
    # policies have a larger cap
    load(b"a: '" + b"x" * 100_000 + b"'\n", "p.yaml", max_bytes=yamlsafe.POLICY_MAX_BYTES)


def test_non_utf8_names_the_line() -> None:
    msg = problem(b"requester: octocat\nreason: caf\xe9 cr\xe8me\n")
    assert msg.startswith("grants/x.yaml:2:")
    assert "UTF-8" in msg


@pytest.mark.parametrize("text", [b"", b"\n\n  \n", b"# just a comment\n"])
def test_empty_files_are_refused(text: bytes) -> None:
    assert "empty" in problem(text)


def test_bom_is_accepted() -> None:
    assert load(b"\xef\xbb\xbfa: 1\n", "f.yaml").data == {"a": 1}


def test_several_documents_are_refused() -> None:
    assert "more than one YAML document" in problem(b"a: 1\n---\nb: 2\n")


def test_complex_keys_are_refused() -> None:
    assert "mapping keys" in problem(b"? [a, b]\n: 1\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_our_error(data: bytes) -> None:
    try:
        load(data, "f.yaml")
    except YamlError as exc:
        assert exc.problems
        assert all(p.path == "f.yaml" for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:- []{}&*!'\"\n#?|>,%@`\t0")), max_size=80))
def test_yaml_like_text_never_raises_anything_but_our_error(text: str) -> None:
    with contextlib.suppress(YamlError):
        load(text.encode(), "f.yaml")


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(
            st.text(max_size=12),
            st.integers(),
            st.booleans(),
            st.none(),
            st.floats(allow_nan=False),
        ),
        lambda kids: (
            st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
        ),
        max_leaves=15,
    )
)
def test_fast_and_careful_paths_agree(value: object) -> None:
    """Files without '&', '*', '!' take libyaml's node tree; others go event by event.
    Both must give the same data and lines."""
    import yaml

    text = yaml.safe_dump({"k": value}, allow_unicode=True)
    if any(c in text for c in "&*!"):
        return
    careful = yamlsafe._Builder("f.yaml", yamlsafe._events(text, "f.yaml"))
    try:
        fast = load(text.encode(), "f.yaml")
    except YamlError as exc:
        # PyYAML can write text that reads back differently (a raw NEL inside a quoted key
        # folds to a space, making two equal keys): both paths must then say the same thing
        with pytest.raises(YamlError) as same:
            careful.build()
        assert str(same.value) == str(exc)
        return
    assert careful.build() == fast.data
    if yaml.safe_load(text) == {"k": value}:  # PyYAML's own round trip can lose e.g. '\x85'
        assert fast.data == {"k": value}
    assert careful.lines == fast.lines


def test_damaged_status_time_is_reported() -> None:
    from jitops.core.grant import read_grant
    from tests.conftest import GOOD_GRANT

    text = GOOD_GRANT + (
        "status:\n  state: active\n  issued_at: yesterday\n"
        "  expires_at: 2026-11-23T12:00:00Z\n  token_accessor: abc\n"
    )
    grant, problems = read_grant(text.encode(), "grants/g-one.yaml")
    assert grant is None
    assert problems
    assert all(p.path == "grants/g-one.yaml" for p in problems)


def test_both_schema_validators_refuse_a_trailing_newline() -> None:
    """jsonschema runs 'pattern' with re.search (where '$' also matches before a final
    newline) and fastjsonschema rewrites '$' to '\\Z': the patterns must mean the same in both."""
    import fastjsonschema
    import jsonschema

    from jitops.core import schema

    grant = {"requester": "octocat", "role": "prod-db", "duration": "2h", "reason": "x" * 12}
    fast = fastjsonschema.compile(schema.schema("grant"))
    slow = jsonschema.Draft202012Validator(schema.schema("grant"))
    fast(grant)
    assert not list(slow.iter_errors(grant))
    for key, bad in [("requester", "octocat\n"), ("role", "prod-db\n"), ("duration", "2h\n")]:
        doc = {**grant, key: bad}
        assert list(slow.iter_errors(doc)), (key, bad)
        try:
            fast(doc)
        except fastjsonschema.JsonSchemaException:
            pass
        else:
            raise AssertionError(f"fastjsonschema accepted {key}={bad!r}")
