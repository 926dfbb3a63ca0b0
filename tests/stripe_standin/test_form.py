"""The stand-in reads back exactly what the `stripe` library's form encoding sends."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from marketplace.stripe_standin.server import decode_form

names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
flat = st.dictionaries(names, texts, min_size=1, max_size=4)
values: st.SearchStrategy[Any] = st.one_of(
    texts, flat, st.lists(texts, min_size=1, max_size=4), st.lists(flat, min_size=1, max_size=3)
)


@given(st.dictionaries(names, values, max_size=6))
def test_the_standin_decodes_every_parameter_the_stripe_library_encodes(params: dict[str, Any]) -> None:
    body = urlencode(list(_api_encode(params))).encode()
    assert decode_form(body) == params


def test_metadata_and_lists_nest_as_stripe_nests_them() -> None:
    body = b"amount=100&metadata[deal_id]=d-1&enabled_events[0]=%2A&expand[]=latest_charge"
    assert decode_form(body) == {
        "amount": "100", "metadata": {"deal_id": "d-1"}, "enabled_events": ["*"], "expand": ["latest_charge"],
    }  # fmt: skip
