"""How payout lines become Settlement shares, what the contract credits, and how deals are named on-chain."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.chain.split import SplitError, credits, deal_id_from_ref, deal_ref, settlement_shares

PLATFORM = "0x" + "aa" * 20
addresses = st.sampled_from([PLATFORM] + ["0x" + f"{n:02x}" * 20 for n in range(1, 12)])


@given(owed=st.lists(st.tuples(addresses, st.integers(0, 10**9)), min_size=1, max_size=30).filter(
    lambda owed: sum(amount for _, amount in owed) > 0
))  # fmt: skip
def test_shares_sum_to_10000_with_the_platform_first(owed: list[tuple[str, int]]) -> None:
    shares = settlement_shares(owed, first=PLATFORM)
    assert sum(bps for _, bps in shares) == 10_000
    assert shares[0][0] == PLATFORM
    assert len({address for address, _ in shares}) == len(shares)


@given(owed=st.lists(st.tuples(addresses, st.integers(1, 10**6)), min_size=1, max_size=12))
def test_shares_do_not_depend_on_the_order_of_lines(owed: list[tuple[str, int]]) -> None:
    assert settlement_shares(owed, first=PLATFORM) == settlement_shares(list(reversed(owed)), first=PLATFORM)


def test_shares_follow_what_each_address_is_owed() -> None:
    label, publisher = "0x" + "01" * 20, "0x" + "02" * 20
    owed = [(PLATFORM, 1_000), (label, 6_000), (publisher, 3_000)]
    assert settlement_shares(owed, first=PLATFORM) == [(PLATFORM, 1_000), (label, 6_000), (publisher, 3_000)]


@given(
    owed=st.lists(st.tuples(addresses, st.integers(0, 5_000)), min_size=1, max_size=20),
    fee=st.integers(100, 3_000),
)
def test_up_to_10000_units_every_address_is_credited_exactly_what_it_is_owed(
    owed: list[tuple[str, int]], fee: int
) -> None:
    lines = [(PLATFORM, fee), *owed]
    amount = sum(amount for _, amount in lines)
    if amount > 10_000:
        return
    shares = settlement_shares(lines, first=PLATFORM)
    credited = dict(zip([a for a, _ in shares], credits(amount, [bps for _, bps in shares]), strict=True))
    expected: dict[str, int] = {}
    for address, amount_owed in lines:
        expected[address] = expected.get(address, 0) + amount_owed
    assert {a: c for a, c in credited.items() if c} == {a: e for a, e in expected.items() if e}


@given(
    owed=st.lists(
        st.tuples(addresses.filter(lambda a: a != PLATFORM), st.integers(0, 10**9)), min_size=1, max_size=20
    ),
    fee_bps=st.integers(500, 3_000),
)
def test_above_10000_units_no_payee_is_credited_more_than_owed_and_the_shortfall_stays_small(
    owed: list[tuple[str, int]], fee_bps: int
) -> None:
    net = sum(amount for _, amount in owed)
    if net == 0:
        return
    fee = net * fee_bps // (10_000 - fee_bps)
    amount = net + fee
    shares = settlement_shares([(PLATFORM, fee), *owed], first=PLATFORM)
    credited = dict(zip([a for a, _ in shares], credits(amount, [bps for _, bps in shares]), strict=True))
    totals: dict[str, int] = {}
    for address, amount_owed in owed:
        totals[address] = totals.get(address, 0) + amount_owed
    for address, amount_owed in totals.items():
        assert amount_owed - amount / 10_000 < credited.get(address, 0) <= amount_owed
    assert credited[PLATFORM] >= fee


def test_an_address_owed_twice_gets_one_share() -> None:
    label = "0x" + "01" * 20
    assert settlement_shares([(label, 1), (label.upper().replace("0X", "0x"), 1)], first=PLATFORM) == [
        (PLATFORM, 0),
        (label, 10_000),
    ]


def test_nothing_owed_is_refused() -> None:
    with pytest.raises(SplitError):
        settlement_shares([(PLATFORM, 0)], first=PLATFORM)


@given(amount=st.integers(1, 10**18), cuts=st.lists(st.integers(0, 10_000), min_size=0, max_size=63))
def test_credits_sum_to_the_amount_and_only_the_first_gets_the_remainder(
    amount: int, cuts: list[int]
) -> None:
    bounds = [0, *sorted(cuts), 10_000]
    shares = [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]
    credited = credits(amount, shares)
    assert sum(credited) == amount
    assert credited[1:] == [amount * bps // 10_000 for bps in shares[1:]]
    assert 0 <= credited[0] - amount * shares[0] // 10_000 < len(shares)


def test_deal_ids_round_trip_through_bytes32() -> None:
    deal_id = uuid4()
    assert len(deal_ref(deal_id)) == 32
    assert deal_id_from_ref(deal_ref(deal_id)) == deal_id


def test_a_bytes32_above_128_bits_names_no_deal() -> None:
    assert deal_id_from_ref(b"\x01" + bytes(31)) is None
    assert deal_id_from_ref(bytes(32)) == UUID(int=0)
