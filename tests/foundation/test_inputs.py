"""The request checks that need no server: JSON nesting depth and where a NUL hides."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from marketplace.bodies import json_depth
from marketplace.inputs import nul_in_body, nul_in_query

TEXT = st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=20,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(JSON)
def test_json_depth_counts_nested_arrays_and_objects_whatever_the_strings_hold(value: Any) -> None:
    assert json_depth(msgspec.json.encode(value)) == _depth(value)


@given(JSON)
def test_json_without_a_nul_passes(value: Any) -> None:
    assert nul_in_body(msgspec.json.encode(value), "application/json", None) is None


@given(
    st.dictionaries(st.sampled_from(["title", "artist"]), TEXT, min_size=1),
    st.sampled_from(["title", "artist"]),
)
def test_a_nul_in_a_json_field_is_named_by_its_path(fields: dict[str, str], poisoned: str) -> None:
    body = msgspec.json.encode({"track": {**fields, poisoned: "a\x00b"}, "tags": ["x"]})
    assert nul_in_body(body, "application/json", None) == f"track.{poisoned}"


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    assert nul_in_body(msgspec.json.encode({"name": "C:\\u0000"}), "application/json", None) is None


def test_a_nul_in_a_list_names_its_index() -> None:
    assert nul_in_body(b'{"tags": ["calm", "da\\u0000rk"]}', "application/json", None) == "tags[1]"


def test_a_nul_in_a_form_or_query_names_its_field() -> None:
    assert nul_in_body(b"title=a%00b&artist=c", "application/x-www-form-urlencoded", None) == "title"
    assert nul_in_query(b"q=calm%00&page=1") == "q"
    assert nul_in_query(b"q=calm&page=1") is None


def test_a_nul_inside_an_uploaded_file_is_allowed_but_not_in_a_text_part() -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\x00\x00\r\n'
        b'--B\r\nContent-Disposition: form-data; name="title"\r\n\r\nHarbour\r\n--B--\r\n'
    )
    assert nul_in_body(body, "multipart/form-data", "B") is None
    assert nul_in_body(body.replace(b"Harbour", b"Har\x00bour"), "multipart/form-data", "B") == "title"
