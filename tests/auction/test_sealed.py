"""Sealed first-price and Vickrey rounds: taking bids, closing, and the properties bidders rely on."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.mechanisms import close, validate_bid
from auction.model import (
    AlreadyBid,
    AmountNotPositive,
    BelowReserve,
    Bid,
    BidderNotAllowed,
    ClientTimestamp,
    DuplicateBid,
    Mechanism,
    NotDueYet,
    NotOpenYet,
    PriceBasis,
    Refusal,
    Round,
    RoundClosed,
    RoundState,
    WrongBidKind,
    WrongCurrency,
    WrongMechanism,
    WrongRound,
)
from rights.terms import Money
from tests.auction.factories import DEADLINE, OPENS, SELLER, bid, clock_round, commitment, eur, sealed_round

NOW = OPENS + timedelta(minutes=1)


def placed(round: Round, amount: int | Money, **kwargs: object) -> Bid:
    return bid(round, amount, at=NOW, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- taking a bid


def test_a_valid_bid_is_accepted_without_extending_a_round_with_no_soft_close() -> None:
    round = sealed_round()
    accepted = validate_bid(round, [], placed(round, 5_000), NOW)
    assert accepted.round == round
    assert not accepted.extended


@pytest.mark.parametrize("amount", [0, -1])
def test_a_bid_of_zero_or_less_is_refused(amount: int) -> None:
    round = sealed_round(reserve=1)
    with pytest.raises(AmountNotPositive, match="more than zero"):
        validate_bid(round, [], placed(round, amount), NOW)


def test_a_bid_in_another_currency_is_refused() -> None:
    round = sealed_round()
    with pytest.raises(WrongCurrency, match="EUR, not USD"):
        validate_bid(round, [], placed(round, Money(5_000, "USD")), NOW)


def test_a_bid_below_the_reserve_is_refused() -> None:
    round = sealed_round(reserve=1_000)
    with pytest.raises(BelowReserve, match="under the reserve"):
        validate_bid(round, [], placed(round, 999), NOW)


def test_a_bid_at_the_deadline_is_refused_as_after_the_close() -> None:
    round = sealed_round()
    with pytest.raises(RoundClosed, match="bidding closed"):
        validate_bid(round, [], bid(round, 5_000, at=DEADLINE), DEADLINE)


def test_a_bid_on_a_closed_round_is_refused_even_before_its_deadline() -> None:
    round = sealed_round()
    closed = msgspec.structs.replace(round, state=RoundState.CLOSED)
    with pytest.raises(RoundClosed):
        validate_bid(closed, [], placed(closed, 5_000), NOW)


def test_a_bid_before_the_round_opens_is_refused() -> None:
    round = sealed_round()
    early = OPENS - timedelta(seconds=1)
    with pytest.raises(NotOpenYet):
        validate_bid(round, [], bid(round, 5_000, at=early), early)


def test_a_bid_whose_id_was_already_placed_is_refused_as_a_duplicate() -> None:
    round = sealed_round()
    first = placed(round, 5_000)
    with pytest.raises(DuplicateBid):
        validate_bid(round, [first], placed(round, 6_000, bid_id=first.id), NOW)


def test_a_second_bid_from_the_same_buyer_is_refused() -> None:
    round = sealed_round()
    first = placed(round, 5_000)
    with pytest.raises(AlreadyBid, match="one bid per buyer"):
        validate_bid(round, [first], placed(round, 6_000, bidder=first.bidder), NOW)


def test_the_rights_holder_may_not_bid_on_its_own_round() -> None:
    round = sealed_round()
    with pytest.raises(BidderNotAllowed, match="its own round"):
        validate_bid(round, [], placed(round, 5_000, bidder=SELLER), NOW)


def test_a_bid_carrying_its_own_timestamp_is_refused() -> None:
    round = sealed_round()
    with pytest.raises(ClientTimestamp):
        validate_bid(round, [], bid(round, 5_000, at=OPENS), NOW)


def test_a_bid_for_another_round_is_refused() -> None:
    round = sealed_round()
    with pytest.raises(WrongRound):
        validate_bid(round, [], placed(sealed_round(), 5_000), NOW)


def test_a_commitment_on_a_round_without_commit_reveal_is_refused() -> None:
    round = sealed_round()
    with pytest.raises(WrongBidKind):
        validate_bid(round, [], commitment(round, 5_000, at=NOW), NOW)


def test_a_clock_round_takes_no_sealed_bids() -> None:
    round = clock_round()
    with pytest.raises(WrongMechanism, match="accept the clock"):
        validate_bid(round, [], placed(round, 5_000), NOW)


def test_a_naive_now_is_refused_with_a_message() -> None:
    round = sealed_round()
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        validate_bid(round, [], placed(round, 5_000), NOW.replace(tzinfo=None))


# ---------------------------------------------------------------- closing


def test_vickrey_winner_pays_second_highest_bid() -> None:
    round = sealed_round(reserve=1_000)
    high, second, low = bid(round, 9_000), bid(round, 7_000), bid(round, 3_000)
    outcome = close(round, [low, high, second], DEADLINE)
    assert outcome.winner is not None
    assert (outcome.winner.bid_id, outcome.winner.price, outcome.winner.basis) == (
        high.id,
        eur(7_000),
        PriceBasis.SECOND_BID,
    )


def test_vickrey_single_bidder_pays_the_reserve() -> None:
    round = sealed_round(reserve=1_000)
    outcome = close(round, [bid(round, 9_000)], DEADLINE)
    assert outcome.winner is not None
    assert (outcome.winner.price, outcome.winner.basis) == (eur(1_000), PriceBasis.RESERVE)


def test_vickrey_tie_goes_to_the_earliest_committed_bid_which_pays_the_tied_amount() -> None:
    round = sealed_round()
    later = bid(round, 5_000, at=OPENS + timedelta(minutes=2))
    earlier = bid(round, 5_000, at=OPENS + timedelta(minutes=1))
    outcome = close(round, [later, earlier], DEADLINE)
    assert outcome.winner is not None
    assert (outcome.winner.bid_id, outcome.winner.price, outcome.winner.basis) == (
        earlier.id,
        eur(5_000),
        PriceBasis.TIED_BID,
    )


def test_bids_committed_in_the_same_microsecond_are_ordered_by_bid_id() -> None:
    round = sealed_round()
    a = bid(round, 5_000, bid_id=UUID(int=20))
    b = bid(round, 5_000, bid_id=UUID(int=10))
    outcome = close(round, [a, b], DEADLINE)
    assert outcome.winner is not None and outcome.winner.bid_id == b.id


def test_first_price_winner_pays_its_own_bid() -> None:
    round = sealed_round(Mechanism.FIRST_PRICE)
    high = bid(round, 9_000)
    outcome = close(round, [bid(round, 7_000), high], DEADLINE)
    assert outcome.winner is not None
    assert (outcome.winner.bid_id, outcome.winner.price, outcome.winner.basis) == (
        high.id,
        eur(9_000),
        PriceBasis.OWN_BID,
    )


def test_a_round_with_no_bids_closes_without_a_winner() -> None:
    outcome = close(sealed_round(), [], DEADLINE)
    assert outcome.winner is None and outcome.counted == 0


def test_closing_before_the_deadline_is_refused() -> None:
    with pytest.raises(NotDueYet, match="closes at"):
        close(sealed_round(), [], DEADLINE - timedelta(microseconds=1))


def test_the_close_rejects_stored_bids_that_break_a_rule_and_says_why() -> None:
    round = sealed_round(reserve=1_000)
    good = bid(round, 5_000)
    low = bid(round, 500)
    late = bid(round, 9_000, at=DEADLINE)
    own = bid(round, 9_000, bidder=SELLER)
    repeat = bid(round, 9_500, bidder=good.bidder, at=NOW + timedelta(seconds=1))
    outcome = close(round, [repeat, own, late, low, good], DEADLINE)
    assert outcome.winner is not None and outcome.winner.bid_id == good.id
    assert outcome.counted == 1
    reasons = {rejection.bid_id: rejection.reason for rejection in outcome.rejected}
    assert reasons == {
        low.id: Refusal.BELOW_RESERVE,
        late.id: Refusal.ROUND_CLOSED,
        own.id: Refusal.BIDDER_NOT_ALLOWED,
        repeat.id: Refusal.ALREADY_BID,
    }
    assert all(rejection.message for rejection in outcome.rejected)


def test_a_ranked_close_lists_counted_bids_best_first() -> None:
    round = sealed_round()
    bids = [bid(round, amount) for amount in (3_000, 9_000, 5_000)]
    outcome = close(round, bids, DEADLINE, ranked=True)
    assert outcome.ranking == (bids[1].id, bids[2].id, bids[0].id)


# ---------------------------------------------------------------- properties

RESERVE = 1_000
amounts = st.integers(min_value=1, max_value=20_000)
# Microseconds into the hour the round is open, so ties in amount and in time both occur.
commit_offsets = st.integers(min_value=0, max_value=3_600_000_000 - 1)


@st.composite
def round_with_bids(draw: st.DrawFn, mechanism: Mechanism) -> tuple[Round, list[Bid]]:
    round = sealed_round(mechanism, reserve=RESERVE)
    entries = draw(st.lists(st.tuples(amounts, st.integers(0, 2), st.integers(1, 8)), max_size=12))
    bids = [
        bid(
            round,
            amount,
            at=OPENS + timedelta(microseconds=draw(commit_offsets) if spread else 0),
            bidder=UUID(int=bidder),
            bid_id=UUID(int=1_000 + index),
        )
        for index, (amount, spread, bidder) in enumerate(entries)
    ]
    return round, bids


@settings(max_examples=150)
@given(round_with_bids(Mechanism.VICKREY))
def test_vickrey_winner_holds_the_highest_bid_and_pays_between_reserve_and_bid(
    drawn: tuple[Round, list[Bid]],
) -> None:
    round, bids = drawn
    outcome = close(round, bids, DEADLINE)
    counted_amounts = [b.amount.amount for b in bids if b.id not in {r.bid_id for r in outcome.rejected}]
    if not counted_amounts:
        assert outcome.winner is None
        return
    assert outcome.winner is not None
    assert outcome.winner.bid.amount == max(counted_amounts)
    assert RESERVE <= outcome.winner.price.amount <= outcome.winner.bid.amount


@settings(max_examples=150)
@given(round_with_bids(Mechanism.FIRST_PRICE))
def test_first_price_winner_pays_the_winning_bid(drawn: tuple[Round, list[Bid]]) -> None:
    round, bids = drawn
    outcome = close(round, bids, DEADLINE)
    counted_amounts = [b.amount.amount for b in bids if b.id not in {r.bid_id for r in outcome.rejected}]
    if outcome.winner is not None:
        assert outcome.winner.price == outcome.winner.bid
        assert outcome.winner.bid.amount == max(counted_amounts)


@settings(max_examples=150)
@given(st.sampled_from(list(Mechanism)[:2]).flatmap(round_with_bids), st.randoms(use_true_random=False))
def test_outcome_is_deterministic_and_independent_of_the_order_bids_are_listed_in(
    drawn: tuple[Round, list[Bid]], random: object
) -> None:
    round, bids = drawn
    shuffled = list(bids)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert close(round, shuffled, DEADLINE, ranked=True) == close(round, bids, DEADLINE, ranked=True)


def utility(round: Round, bids: list[Bid], bidder: UUID, valuation: int) -> int:
    winner = close(round, bids, DEADLINE).winner
    return valuation - winner.price.amount if winner is not None and winner.bidder == bidder else 0


@settings(max_examples=200)
@given(
    valuations=st.lists(amounts, min_size=1, max_size=6),
    deviant=st.integers(min_value=0),
    deviation=amounts,
)
def test_vickrey_truthful_bidding_is_never_beaten_by_a_unilateral_deviation(
    valuations: list[int], deviant: int, deviation: int
) -> None:
    round = sealed_round(Mechanism.VICKREY, reserve=RESERVE)
    bidders = [uuid4() for _ in valuations]
    times = [OPENS + timedelta(seconds=index) for index in range(len(valuations))]
    truthful = [bid(round, v, bidder=b, at=t) for v, b, t in zip(valuations, bidders, times, strict=True)]
    me = deviant % len(valuations)
    deviating = list(truthful)
    deviating[me] = bid(round, deviation, bidder=bidders[me], at=times[me])
    honest = utility(round, truthful, bidders[me], valuations[me])
    assert honest >= utility(round, deviating, bidders[me], valuations[me])
