"""Soft close: only accepted bids in the closing window extend a round, and only up to the cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auction.mechanisms import validate_bid
from auction.model import BelowReserve, Round, SoftClose
from tests.auction.factories import DEADLINE, bid, sealed_round

SOFT_CLOSE = SoftClose(window_seconds=60, extension_seconds=120, max_extensions=2)


def bid_at(round: Round, seconds_before_deadline: int, amount: int = 5_000) -> Round:
    now = round.deadline - timedelta(seconds=seconds_before_deadline)
    return validate_bid(round, [], bid(round, amount, at=now), now).round


def test_a_bid_in_the_last_seconds_extends_the_deadline_and_raises_its_version() -> None:
    after = bid_at(sealed_round(soft_close=SOFT_CLOSE), 30)
    assert (after.deadline, after.deadline_version, after.extensions) == (
        DEADLINE + timedelta(seconds=120),
        2,
        1,
    )


def test_a_bid_before_the_closing_window_does_not_extend() -> None:
    round = sealed_round(soft_close=SOFT_CLOSE)
    assert bid_at(round, 61) == round


def test_a_refused_bid_never_extends_the_round() -> None:
    round = sealed_round(reserve=1_000, soft_close=SOFT_CLOSE)
    with pytest.raises(BelowReserve):
        bid_at(round, 30, amount=10)


def test_extensions_stop_at_the_cap() -> None:
    round = sealed_round(soft_close=SOFT_CLOSE)
    for _ in range(5):
        round = bid_at(round, 30)
    assert (round.deadline, round.deadline_version, round.extensions) == (
        DEADLINE + timedelta(seconds=240),
        3,
        2,
    )


def test_a_bid_after_the_original_deadline_counts_while_the_extended_one_has_not_passed() -> None:
    extended = bid_at(sealed_round(soft_close=SOFT_CLOSE), 30)
    now = DEADLINE + timedelta(seconds=10)
    late_but_in_time = bid(extended, 6_000, at=now)
    assert validate_bid(extended, [], late_but_in_time, now).bid == late_but_in_time
