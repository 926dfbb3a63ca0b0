"""The descending clock: its price at any moment, and the first acceptance that buys at it.

price(t) = max(floor, start − step × ⌊(t − opens_at) / step_seconds⌋). The first buyer to accept
wins at the price shown at the server time their acceptance is received; the round then closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from auction.bids import committed_before, rejection
from auction.model import (
    Bid,
    BidderNotAllowed,
    BidRefused,
    ClockParams,
    Commitment,
    NotOpenYet,
    Outcome,
    PriceBasis,
    Rejection,
    Round,
    RoundClosed,
    RoundState,
    Winner,
    WrongBidKind,
    WrongMechanism,
    WrongRound,
    require_utc,
)
from rights.terms import Money


def _clock_params(round: Round) -> ClockParams:
    if not isinstance(round.params, ClockParams):
        raise WrongMechanism(f"round {round.id} is a {round.mechanism} round, not a clock")
    return round.params


def clock_price(round: Round, now: datetime) -> Money:
    """The clock's price at `now` (its start price before the round opens)."""
    require_utc(now)
    return price_at(_clock_params(round), round.opens_at, now)


def price_at(params: ClockParams, opens_at: datetime, now: datetime) -> Money:
    """The price of a clock with `params` that opened (or opens) at `opens_at`, at `now`."""
    steps = max(0, (now - opens_at) // timedelta(seconds=params.step_seconds))
    return Money(max(params.floor.amount, params.start.amount - params.step.amount * steps), params.currency)


def next_step_at(params: ClockParams, opens_at: datetime, now: datetime) -> datetime | None:
    """When the clock's price next drops after `now`; None once it rests on its floor."""
    if price_at(params, opens_at, now).amount <= params.floor.amount:
        return None
    step = timedelta(seconds=params.step_seconds)
    steps = max(0, (now - opens_at) // step)
    return opens_at + step * (steps + 1)


def accept_clock(round: Round, bid_id: UUID, bidder: UUID, placed_by: UUID, now: datetime) -> Outcome:
    """Buy at the clock's current price: the outcome that closes the round with this buyer as winner.

    Only the first acceptance may be stored: the caller's guarded close makes sure of that.
    """
    require_utc(now)
    params = _clock_params(round)
    if round.state is RoundState.CLOSED:
        raise RoundClosed("the clock has already closed")
    price = clock_price(round, now)
    acceptance = Bid(
        id=bid_id, round_id=round.id, bidder=bidder, placed_by=placed_by, amount=price, committed_at=now
    )
    refusal = _acceptance_refusal(round, acceptance)
    if refusal is not None:
        raise refusal
    return Outcome(
        round_id=round.id,
        mechanism=params.mechanism,
        closed_at=now,
        winner=Winner(bid_id=bid_id, bidder=bidder, bid=price, price=price, basis=PriceBasis.CLOCK),
        counted=1,
    )


def close_clock(round: Round, bids: Sequence[Bid | Commitment], now: datetime, ranked: bool) -> Outcome:
    """The outcome of a clock round from its stored acceptances: the earliest valid one wins at the
    clock's price at its commit time; none means the licence went unsold."""
    params = _clock_params(round)
    rejected: list[Rejection] = []
    valid: list[Bid] = []
    first: Bid | None = None
    for entry in bids:
        if isinstance(entry, Commitment):
            rejected.append(rejection(entry, WrongBidKind("a clock takes acceptances, not commitments")))
            continue
        refusal = _acceptance_refusal(round, entry)
        if refusal is not None:
            rejected.append(rejection(entry, refusal))
            continue
        valid.append(entry)
        if first is None or committed_before(entry, first):
            first = entry
    sold = RoundClosed("the clock was already sold to an earlier acceptance")
    rejected.extend(rejection(late, sold) for late in valid if late is not first)
    winner = None
    if first is not None:
        price = clock_price(round, first.committed_at)
        winner = Winner(
            bid_id=first.id, bidder=first.bidder, bid=first.amount, price=price, basis=PriceBasis.CLOCK
        )
    return Outcome(
        round_id=round.id,
        mechanism=params.mechanism,
        closed_at=now,
        winner=winner,
        counted=0 if first is None else 1,
        rejected=tuple(sorted(rejected, key=lambda rejection: rejection.bid_id)),
        ranking=(first.id,) if ranked and first is not None else (),
    )


def _acceptance_refusal(round: Round, acceptance: Bid) -> BidRefused | None:
    if acceptance.round_id != round.id:
        return WrongRound(f"this acceptance belongs to round {acceptance.round_id}, not {round.id}")
    if acceptance.committed_at < round.opens_at:
        return NotOpenYet(f"the clock starts at {round.opens_at.isoformat()}")
    if acceptance.committed_at >= round.deadline:
        return RoundClosed(f"the clock stopped at {round.deadline.isoformat()}")
    if acceptance.bidder == round.seller:
        return BidderNotAllowed("a rights holder cannot buy on its own round")
    return None
