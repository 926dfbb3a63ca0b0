"""Splitting a fee: parts sum exactly, each within one minor unit of its exact share, order changes nothing."""

from __future__ import annotations

from fractions import Fraction
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.model import Payee
from contracts.payouts import PayoutError, largest_remainder, payout_lines, split_fee
from rights.terms import Money

weights_strategy = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(
    lambda ws: sum(ws) > 0
)


@given(total=st.integers(min_value=0, max_value=10**12), weights=weights_strategy)
def test_largest_remainder_parts_sum_exactly_to_the_total(total: int, weights: list[int]) -> None:
    parts = largest_remainder(total, list(enumerate(weights)))
    assert sum(parts.values()) == total


@given(total=st.integers(min_value=0, max_value=10**12), weights=weights_strategy)
def test_largest_remainder_each_part_is_within_one_minor_unit_of_its_exact_share(
    total: int, weights: list[int]
) -> None:
    parts = largest_remainder(total, list(enumerate(weights)))
    for key, weight in enumerate(weights):
        exact = Fraction(total * weight, sum(weights))
        assert abs(parts[key] - exact) < 1


@given(total=st.integers(min_value=0, max_value=10**9), weights=weights_strategy, data=st.data())
def test_largest_remainder_does_not_depend_on_the_order_of_weights(
    total: int, weights: list[int], data: st.DataObject
) -> None:
    keyed = [(f"payee-{i}", w) for i, w in enumerate(weights)]
    shuffled = data.draw(st.permutations(keyed))
    assert largest_remainder(total, shuffled) == largest_remainder(total, keyed)


def test_largest_remainder_gives_a_tied_remainder_to_the_larger_weight_then_the_smaller_key() -> None:
    assert largest_remainder(1, [("b", 1), ("a", 1)]) == {"a": 1, "b": 0}
    assert largest_remainder(2, [("a", 1), ("b", 2), ("c", 1)]) == {"a": 1, "b": 1, "c": 0}
    assert largest_remainder(2, [("a", 1), ("b", 3)]) == {"a": 0, "b": 2}
    assert largest_remainder(100, [("x", 1), ("y", 1), ("z", 1)]) == {"x": 34, "y": 33, "z": 33}


def test_largest_remainder_refuses_weights_that_cannot_split() -> None:
    with pytest.raises(PayoutError, match="sum to zero"):
        largest_remainder(10, [("a", 0)])
    with pytest.raises(PayoutError, match="negative"):
        largest_remainder(-1, [("a", 1)])
    with pytest.raises(PayoutError, match="once"):
        largest_remainder(10, [("a", 1), ("a", 2)])


def _payee(n: int, share_bps: int, *, org: int | None = None, side: str = "master") -> Payee:
    return Payee(
        organisation_id=None if org is None else UUID(int=org), party_id=UUID(int=n), party_name=f"Party {n}",
        side=side, territory="WORLD", share_bps=share_bps,
    )  # fmt: skip


def test_payout_lines_take_the_platform_fee_then_split_the_rest_by_shares() -> None:
    payees = [_payee(1, 5_000, org=11), _payee(2, 2_500, org=12, side="publishing"), _payee(3, 2_500)]
    lines = payout_lines(Money(10_001, "EUR"), payees, platform_fee_bps=1_500)
    assert lines[0].organisation_id is None and lines[0].party_id is None
    assert lines[0].amount == 1_500  # 15 % of 100.01 EUR, rounded half up
    by_party = {line.party_id: line.amount for line in lines[1:]}
    assert by_party == {UUID(int=1): 4_251, UUID(int=2): 2_125, UUID(int=3): 2_125}
    assert sum(line.amount for line in lines) == 10_001


def test_payout_lines_add_up_one_partys_territories_and_sides_into_one_line() -> None:
    payees = [
        _payee(1, 2_500, org=11),
        _payee(1, 2_500, org=11, side="publishing"),
        _payee(2, 5_000, org=12, side="publishing"),
    ]
    lines = payout_lines(Money(1_000, "USD"), payees, platform_fee_bps=0)
    assert [(line.party_id, line.amount) for line in lines] == [
        (None, 0),
        (UUID(int=1), 500),
        (UUID(int=2), 500),
    ]


def test_payout_lines_refuse_payees_that_do_not_share_the_whole_fee() -> None:
    with pytest.raises(PayoutError, match="10,000 basis points"):
        payout_lines(Money(1_000, "USD"), [_payee(1, 9_999)], platform_fee_bps=1_500)


payee_shares = (
    st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=10)
    .map(
        lambda ws: (
            [w * 10_000 // sum(ws) for w in ws[:-1]] + [10_000 - sum(w * 10_000 // sum(ws) for w in ws[:-1])]
        )
    )
    .filter(lambda shares: all(s > 0 for s in shares))
)


@given(
    amount=st.integers(min_value=1, max_value=10**10),
    shares=payee_shares,
    fee_bps=st.integers(min_value=0, max_value=10_000),
    data=st.data(),
)
def test_payout_lines_sum_to_the_price_whatever_the_order_of_payees(
    amount: int, shares: list[int], fee_bps: int, data: st.DataObject
) -> None:
    payees = [_payee(i, share, org=100 + i) for i, share in enumerate(shares)]
    lines = payout_lines(Money(amount, "EUR"), payees, fee_bps)
    assert sum(line.amount for line in lines) == amount
    assert payout_lines(Money(amount, "EUR"), data.draw(st.permutations(payees)), fee_bps) == lines
    rest = amount - lines[0].amount
    for payee, line in zip(payees, lines[1:], strict=True):
        assert abs(line.amount - Fraction(rest * payee.share_bps, 10_000)) < 1


@given(
    amount=st.integers(min_value=1, max_value=10**10),
    shares=payee_shares,
    fee_bps=st.integers(min_value=0, max_value=10_000),
)
def test_split_fee_gross_parts_sum_to_the_price_and_net_parts_to_the_price_less_the_fee(
    amount: int, shares: list[int], fee_bps: int
) -> None:
    payees = [_payee(i, share, org=100 + i) for i, share in enumerate(shares)]
    fee, splits = split_fee(Money(amount, "EUR"), payees, fee_bps)
    assert sum(s.gross for s in splits) == amount
    assert sum(s.net for s in splits) == amount - fee
    assert sum(s.gross - s.net for s in splits) == fee
