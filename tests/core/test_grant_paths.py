"""The one grant-path rule: a grant is ``grants/<id>.yaml``, directly in grants/."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jitops.core.grant import grant_id_in, grant_ids_in, grant_path, is_grant_path

IDS = st.from_regex(r"[a-z0-9][a-z0-9-]{2,63}", fullmatch=True)


@given(IDS)
def test_a_grant_id_round_trips_through_its_path(grant_id: str) -> None:
    assert grant_path(grant_id) == f"grants/{grant_id}.yaml"
    assert is_grant_path(grant_path(grant_id))
    assert grant_id_in(grant_path(grant_id)) == grant_id


def test_only_yaml_files_directly_in_grants_are_grants() -> None:
    others = [
        "grants/README.md",
        "grants/a-1.yml",
        "grants/sub/a-1.yaml",
        "policies/policy.yaml",
        "xgrants/a-1.yaml",
        "a-1.yaml",
        "grants/",
    ]
    assert [p for p in others if is_grant_path(p)] == []
    assert grant_ids_in([*others, "grants/a-1.yaml", "grants/b-2.yaml"]) == {"a-1", "b-2"}


@given(st.text(max_size=80))
def test_any_path_gives_an_id_only_when_it_is_a_grant_path(path: str) -> None:
    grant_id = grant_id_in(path)
    assert (grant_id != "") == (is_grant_path(path) and path != "grants/.yaml")
    if grant_id:
        assert grant_path(grant_id) == path and "/" not in grant_id
