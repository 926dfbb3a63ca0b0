"""The terms as canonical JSON (RFC 8785): the RFC's own vectors, and hashes that only the terms move."""

from __future__ import annotations

import json
from datetime import date

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.terms_document import agreed_terms, canonical_json, sha256_hex, terms_hash
from rights.terms import Money
from tests.contracts.factories import PAYEES, paid_deal, terms_of


def test_canonical_json_matches_the_rfc_8785_number_and_string_example() -> None:
    # RFC 8785 § 3.2.2
    given_text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(given_text)) == expected.encode()


def test_canonical_json_sorts_keys_by_utf16_code_units_as_the_rfc_example() -> None:
    # RFC 8785 § 3.2.3: the emoji (a surrogate pair) sorts before U+FB33, unlike by code point.
    value = {
        "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }  # fmt: skip
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_agreed_terms_carry_parties_shares_use_term_fee_and_mechanism() -> None:
    document = json.loads(canonical_json(agreed_terms(paid_deal())))
    assert document["licensor_organisation_id"] == "00000000-0000-0000-0000-000000000001"
    assert document["fee"] == {"amount": 123_450, "currency": "EUR"}
    assert document["term"] == {"start": "2027-01-31", "end": "2028-01-30", "months": 12}
    assert document["media"] == "online_ads" and document["territories"] == ["DE", "FR"]
    assert document["exclusive"] is False
    assert document["mechanism"] == {"source": "quote", "source_id": "00000000-0000-0000-0000-0000000000c8"}
    assert sum(share["share_bps"] for share in document["shares"]) == 10_000


def test_licence_terms_name_the_track_by_isrc_and_iswc_and_the_payment() -> None:
    document = json.loads(canonical_json(terms_of(paid_deal())))
    assert document["track"]["isrc"] == "GBAYE2600123" and document["track"]["iswc"] == "T-345.246.800-1"
    assert document["payment_reference"] == "pi_3Qabc"
    assert document["agreed_terms_sha256"] == terms_hash(paid_deal())


def test_terms_hash_is_the_sha256_of_the_canonical_agreed_terms() -> None:
    deal = paid_deal()
    assert terms_hash(deal) == sha256_hex(canonical_json(agreed_terms(deal)))
    assert len(bytes.fromhex(terms_hash(deal))) == 32


@given(st.permutations(PAYEES))
def test_terms_hash_does_not_depend_on_the_order_payees_were_listed(order: list[object]) -> None:
    assert terms_hash(paid_deal(payees=tuple(order))) == terms_hash(paid_deal())


@pytest.mark.parametrize(
    "change",
    [
        {"price": Money(123_451, "EUR")},
        {"price": Money(123_450, "USD")},
        {"usage": msgspec.structs.replace(paid_deal().usage, exclusive=True)},
        {"usage": msgspec.structs.replace(paid_deal().usage, start=date(2027, 2, 1))},
        {"payees": PAYEES[:2]},
    ],
)
def test_any_change_to_the_agreed_terms_changes_the_hash(change: dict[str, object]) -> None:
    assert terms_hash(paid_deal(**change)) != terms_hash(paid_deal())


def test_the_state_and_payment_do_not_change_the_agreed_terms_hash() -> None:
    """The chain anchors the hash before payment: paying must not move it."""
    from contracts.model import DealState

    before = paid_deal(state=DealState.AWAITING_PAYMENT, payment_reference=None)
    assert terms_hash(before) == terms_hash(paid_deal())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_canonical_json_is_a_fixed_point_and_reads_back_as_the_same_value(value: object) -> None:
    once = canonical_json(value)
    assert json.loads(once) == value
    assert canonical_json(json.loads(once)) == once


@given(st.dictionaries(st.text(max_size=6), st.integers(0, 1_000), min_size=2, max_size=6).flatmap(
    lambda value: st.tuples(st.just(value), st.permutations(list(value.items())))
))  # fmt: skip
def test_canonical_json_ignores_the_order_keys_were_written_in(
    case: tuple[dict[str, int], list[tuple[str, int]]],
) -> None:
    value, reordered = case
    assert canonical_json(dict(reordered)) == canonical_json(value)
