"""The descending clock: its price over time and the acceptance that buys at it."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.mechanisms import accept_clock, clock_price, close
from auction.model import BidderNotAllowed, NotOpenYet, PriceBasis, Refusal, RoundClosed
from tests.auction.factories import DEADLINE, OPENS, SELLER, bid, clock_round, eur


def test_the_clock_starts_at_its_start_price_and_drops_one_step_per_period() -> None:
    round = clock_round(start=10_000, floor=4_000, step=500, step_seconds=60)
    assert clock_price(round, OPENS) == eur(10_000)
    assert clock_price(round, OPENS + timedelta(seconds=59)) == eur(10_000)
    assert clock_price(round, OPENS + timedelta(seconds=60)) == eur(9_500)
    assert clock_price(round, OPENS + timedelta(minutes=5, seconds=30)) == eur(7_500)


def test_the_clock_stops_at_its_floor() -> None:
    round = clock_round(start=10_000, floor=4_000, step=500, step_seconds=60)
    assert clock_price(round, OPENS + timedelta(minutes=59)) == eur(4_000)


def test_the_first_acceptance_wins_at_the_price_shown_when_it_arrives() -> None:
    round = clock_round(start=10_000, floor=4_000, step=500, step_seconds=60)
    now = OPENS + timedelta(minutes=2, seconds=1)
    buyer = uuid4()
    outcome = accept_clock(round, uuid4(), buyer, uuid4(), now)
    assert outcome.winner is not None
    assert (outcome.winner.bidder, outcome.winner.price, outcome.winner.basis) == (
        buyer,
        eur(9_000),
        PriceBasis.CLOCK,
    )
    assert outcome.closed_at == now


def test_accepting_after_the_clock_stopped_is_refused() -> None:
    with pytest.raises(RoundClosed, match="the clock stopped"):
        accept_clock(clock_round(), uuid4(), uuid4(), uuid4(), DEADLINE)


def test_accepting_before_the_clock_starts_is_refused() -> None:
    with pytest.raises(NotOpenYet):
        accept_clock(clock_round(), uuid4(), uuid4(), uuid4(), OPENS - timedelta(seconds=1))


def test_the_rights_holder_may_not_buy_on_its_own_clock() -> None:
    with pytest.raises(BidderNotAllowed):
        accept_clock(clock_round(), uuid4(), SELLER, uuid4(), OPENS)


def test_a_clock_nobody_accepted_closes_unsold() -> None:
    outcome = close(clock_round(), [], DEADLINE)
    assert outcome.winner is None and outcome.counted == 0


def test_closing_a_clock_from_stored_acceptances_keeps_only_the_first() -> None:
    round = clock_round(start=10_000, floor=4_000, step=500, step_seconds=60)
    first = bid(round, 9_500, at=OPENS + timedelta(minutes=1))
    second = bid(round, 9_000, at=OPENS + timedelta(minutes=2))
    outcome = close(round, [second, first], DEADLINE)
    assert outcome.winner is not None
    assert (outcome.winner.bid_id, outcome.winner.price) == (first.id, eur(9_500))
    assert [(r.bid_id, r.reason) for r in outcome.rejected] == [(second.id, Refusal.ROUND_CLOSED)]


@settings(max_examples=200)
@given(
    start=st.integers(1, 10**7),
    floor=st.integers(1, 10**7),
    step=st.integers(1, 10**6),
    step_seconds=st.integers(1, 3_600),
    earlier=st.integers(0, 10**11),
    gap=st.integers(0, 10**11),
)
def test_the_clock_never_rises_and_never_goes_under_its_floor(
    start: int, floor: int, step: int, step_seconds: int, earlier: int, gap: int
) -> None:
    round = clock_round(start=max(start, floor), floor=floor, step=step, step_seconds=step_seconds)
    first = clock_price(round, OPENS + timedelta(microseconds=earlier))
    then = clock_price(round, OPENS + timedelta(microseconds=earlier + gap))
    assert first >= then >= eur(floor)
