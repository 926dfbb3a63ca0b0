"""Time-bound negotiation: turns, deadlines, the rights holder's automatic answers and the range."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.mechanisms import accept, below_floor_wait, counter, expire, make_offer, reject, withdraw
from auction.model import (
    AuctionError,
    BidderNotAllowed,
    ConcedeTowardFloor,
    Negotiation,
    NegotiationOver,
    NegotiationState,
    NegotiationTerms,
    NoCountersLeft,
    NotDueYet,
    NotYourTurn,
    OfferAboveCeiling,
    OfferBelowFloor,
    OfferLimits,
    Party,
    ResponseDeadlinePassed,
    RoundClosed,
    SplitTheDifference,
    WrongCurrency,
)
from rights.terms import Money
from tests.auction.factories import DEADLINE, OPENS, SELLER, eur, negotiation_round

NOW = OPENS + timedelta(minutes=1)
LATER = NOW + timedelta(seconds=10)


def terms(
    counter: SplitTheDifference | ConcedeTowardFloor | None = None, max_rounds: int = 6
) -> NegotiationTerms:
    return NegotiationTerms(
        floor=eur(5_000),
        ceiling=eur(10_000),
        auto_accept_at=eur(9_000),
        max_rounds=max_rounds,
        response_seconds=3_600,
        counter=counter,
    )


def opened(amount: int, **kwargs: object) -> Negotiation:
    return make_offer(negotiation_round(terms(**kwargs)), uuid4(), uuid4(), eur(amount), NOW)  # type: ignore[arg-type]


def test_an_offer_in_range_waits_for_the_rights_holder_until_its_response_deadline() -> None:
    negotiation = opened(6_000)
    assert negotiation.state is NegotiationState.AWAITING_RIGHTS_HOLDER
    assert negotiation.respond_by == NOW + timedelta(hours=1)


def test_an_offer_below_the_floor_is_refused_without_revealing_the_floor() -> None:
    with pytest.raises(OfferBelowFloor, match="under the rights holder's floor") as refused:
        opened(4_999)
    assert "50.00" not in str(refused.value)


def test_an_offer_over_the_ceiling_concludes_at_the_ceiling() -> None:
    negotiation = opened(12_000)
    assert (negotiation.state, negotiation.price) == (NegotiationState.ACCEPTED, eur(10_000))
    assert negotiation.offers[-1].amount == eur(10_000)


def test_the_rights_holder_cannot_counter_over_its_own_ceiling() -> None:
    negotiation = opened(6_000)
    with pytest.raises(OfferAboveCeiling, match=r"your ceiling of 100\.00 EUR"):
        counter(negotiation, Party.RIGHTS_HOLDER, eur(10_001), LATER)


def test_a_buyer_waits_after_three_offers_under_the_floor_within_the_window() -> None:
    limits = OfferLimits(below_floor_offers=3, window_seconds=600)
    two = [NOW, NOW + timedelta(seconds=1)]
    assert below_floor_wait(two, NOW + timedelta(seconds=2), limits) == 0
    three = [*two, NOW + timedelta(seconds=2)]
    assert below_floor_wait(three, NOW + timedelta(seconds=3), limits) == 597
    assert below_floor_wait(three, NOW + timedelta(seconds=600), limits) == 0


@given(st.lists(st.integers(0, 3_000), max_size=12), st.integers(0, 3_600))
def test_a_buyer_may_offer_whenever_fewer_than_the_limit_were_refused_in_the_window(
    seconds: list[int], now_after: int
) -> None:
    limits = OfferLimits(below_floor_offers=3, window_seconds=600)
    now = NOW + timedelta(seconds=now_after)
    refused = [NOW + timedelta(seconds=s) for s in seconds if s <= now_after]
    in_window = [t for t in refused if t > now - timedelta(seconds=600)]
    wait = below_floor_wait(refused, now, limits)
    assert (wait == 0) == (len(in_window) < 3)
    assert 0 <= wait <= 600


def test_an_offer_in_another_currency_is_refused() -> None:
    round = negotiation_round(terms())
    with pytest.raises(WrongCurrency):
        make_offer(round, uuid4(), uuid4(), Money(6_000, "USD"), NOW)


def test_an_offer_at_the_auto_accept_threshold_is_accepted_at_once() -> None:
    negotiation = opened(9_000)
    assert (negotiation.state, negotiation.price, negotiation.concluded_at) == (
        NegotiationState.ACCEPTED,
        eur(9_000),
        NOW,
    )


def test_an_offer_after_the_round_closed_is_refused() -> None:
    with pytest.raises(RoundClosed):
        make_offer(negotiation_round(terms()), uuid4(), uuid4(), eur(6_000), DEADLINE)


def test_the_rights_holder_may_not_make_offers_on_its_own_round() -> None:
    with pytest.raises(BidderNotAllowed):
        make_offer(negotiation_round(terms()), uuid4(), SELLER, eur(6_000), NOW)


def test_split_the_difference_counters_halfway_between_the_offer_and_the_last_ask() -> None:
    negotiation = opened(6_000, counter=SplitTheDifference())
    assert negotiation.state is NegotiationState.AWAITING_BUYER
    assert negotiation.offers[-1].amount == eur(
        7_500
    )  # halfway to the auto-accept threshold, not the ceiling
    assert negotiation.offers[-1].automatic
    again = counter(negotiation, Party.BUYER, eur(7_000), LATER)
    assert again.offers[-1].amount == eur(7_250)


def test_conceding_gives_up_a_share_of_the_gap_to_the_floor_each_round() -> None:
    negotiation = opened(6_000, counter=ConcedeTowardFloor(percent_bp=2_000))
    assert negotiation.offers[-1].amount == eur(8_200)  # 20 % of 9,000 → 5,000
    again = counter(negotiation, Party.BUYER, eur(6_500), LATER)
    assert again.offers[-1].amount == eur(7_560)  # 20 % of 8,200 → 5,000


def test_a_strategy_counter_that_would_meet_the_offer_accepts_it_instead() -> None:
    negotiation = opened(6_000, counter=ConcedeTowardFloor(percent_bp=10_000))
    assert (negotiation.state, negotiation.price) == (NegotiationState.ACCEPTED, eur(6_000))


def test_the_buyer_accepting_a_counter_concludes_at_the_counter() -> None:
    negotiation = accept(opened(6_000, counter=SplitTheDifference()), Party.BUYER, LATER)
    assert (negotiation.state, negotiation.price) == (NegotiationState.ACCEPTED, eur(7_500))


def test_moving_out_of_turn_is_refused() -> None:
    with pytest.raises(NotYourTurn, match="waiting for the rights holder"):
        counter(opened(6_000), Party.BUYER, eur(7_000), LATER)


def test_a_move_after_the_response_deadline_is_refused() -> None:
    negotiation = opened(6_000)
    assert negotiation.respond_by is not None
    with pytest.raises(ResponseDeadlinePassed):
        accept(negotiation, Party.RIGHTS_HOLDER, negotiation.respond_by)


def test_a_move_on_a_concluded_negotiation_is_refused() -> None:
    rejected = reject(opened(6_000), Party.RIGHTS_HOLDER, LATER)
    assert rejected.state is NegotiationState.REJECTED and rejected.price is None
    with pytest.raises(NegotiationOver, match="already rejected"):
        counter(rejected, Party.BUYER, eur(7_000), LATER)


def test_counters_stop_at_the_maximum_number_of_rounds() -> None:
    negotiation = counter(opened(6_000, max_rounds=2), Party.RIGHTS_HOLDER, eur(8_000), LATER)
    with pytest.raises(NoCountersLeft, match="accept or reject"):
        counter(negotiation, Party.BUYER, eur(7_000), LATER)


def test_the_rights_holder_strategy_does_not_counter_past_the_last_round() -> None:
    negotiation = opened(6_000, counter=SplitTheDifference(), max_rounds=1)
    assert negotiation.state is NegotiationState.AWAITING_RIGHTS_HOLDER


def test_the_rights_holder_may_not_counter_under_its_own_floor() -> None:
    with pytest.raises(OfferBelowFloor, match=r"your floor of 50\.00 EUR"):
        counter(opened(6_000), Party.RIGHTS_HOLDER, eur(4_000), LATER)


def test_only_the_party_whose_offer_stands_may_withdraw_it() -> None:
    negotiation = opened(6_000)
    with pytest.raises(NotYourTurn, match="no offer of yours"):
        withdraw(negotiation, Party.RIGHTS_HOLDER, LATER)
    assert withdraw(negotiation, Party.BUYER, LATER).state is NegotiationState.WITHDRAWN


def test_an_unanswered_offer_expires_at_its_response_deadline_and_not_before() -> None:
    negotiation = opened(6_000)
    assert negotiation.respond_by is not None
    with pytest.raises(NotDueYet):
        expire(negotiation, negotiation.respond_by - timedelta(microseconds=1))
    expired = expire(negotiation, negotiation.respond_by)
    assert (expired.state, expired.reason) == (
        NegotiationState.EXPIRED,
        "the rights holder did not answer in time",
    )


MOVES = ["counter", "accept", "reject", "withdraw", "expire"]


@settings(max_examples=150)
@given(
    floor=st.integers(1, 10_000),
    spread=st.integers(0, 10_000),
    threshold=st.floats(0, 1),
    max_rounds=st.integers(1, 8),
    strategy=st.one_of(
        st.none(), st.just(SplitTheDifference()), st.builds(ConcedeTowardFloor, st.integers(1, 10_000))
    ),
    opening=st.integers(1, 25_000),
    moves=st.lists(
        st.tuples(
            st.sampled_from(MOVES),
            st.sampled_from(list(Party)),
            st.integers(1, 25_000),
            st.integers(0, 7_200),
        ),
        max_size=10,
    ),
)
def test_a_negotiation_never_concludes_outside_the_rights_holders_range(
    floor: int,
    spread: int,
    threshold: float,
    max_rounds: int,
    strategy: SplitTheDifference | ConcedeTowardFloor | None,
    opening: int,
    moves: list[tuple[str, Party, int, int]],
) -> None:
    ceiling = floor + spread
    rules = NegotiationTerms(
        floor=eur(floor),
        ceiling=eur(ceiling),
        auto_accept_at=eur(floor + int(spread * threshold)),
        max_rounds=max_rounds,
        response_seconds=3_600,
        counter=strategy,
    )
    now: datetime = NOW
    try:
        negotiation = make_offer(negotiation_round(rules), uuid4(), uuid4(), eur(opening), now)
    except AuctionError:
        assert not floor <= opening <= ceiling
        return
    for move, party, amount, seconds in moves:
        now += timedelta(seconds=seconds)
        try:
            if move == "counter":
                negotiation = counter(negotiation, party, eur(amount), now)
            elif move == "accept":
                negotiation = accept(negotiation, party, now)
            elif move == "reject":
                negotiation = reject(negotiation, party, now)
            elif move == "withdraw":
                negotiation = withdraw(negotiation, party, now)
            else:
                negotiation = expire(negotiation, now)
        except AuctionError:
            continue
    assert all(floor <= offer.amount.amount <= ceiling for offer in negotiation.offers)
    assert len(negotiation.offers) <= max_rounds
    if negotiation.state is NegotiationState.ACCEPTED:
        assert negotiation.price is not None and floor <= negotiation.price.amount <= ceiling
    else:
        assert negotiation.price is None
