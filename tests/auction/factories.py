"""Plain builders for auction tests: rounds, bids and commitments with readable defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from auction.commit_reveal import commitment_digest
from auction.model import (
    Bid,
    ClockParams,
    Commitment,
    FirstPriceParams,
    Mechanism,
    NegotiationTerms,
    Round,
    RoundParams,
    SoftClose,
    VickreyParams,
)
from rights.terms import Media, Money, Usage

OPENS = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DEADLINE = OPENS + timedelta(hours=1)
SELLER = UUID(int=1)
TRACK = UUID(int=2)
USAGE = Usage(media=Media.FILM, territories=("WORLD",), term_months=12, start=date(2027, 1, 1))
NONCE = "0123456789abcdef" * 2


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def sealed_round(
    mechanism: Mechanism = Mechanism.VICKREY,
    *,
    reserve: int = 1_000,
    reveal_seconds: int | None = None,
    soft_close: SoftClose | None = None,
    round_id: UUID | None = None,
) -> Round:
    kind = VickreyParams if mechanism is Mechanism.VICKREY else FirstPriceParams
    return make_round(
        kind(reserve=eur(reserve), reveal_seconds=reveal_seconds, soft_close=soft_close), round_id
    )


def clock_round(start: int = 10_000, floor: int = 4_000, step: int = 500, step_seconds: int = 60) -> Round:
    params = ClockParams(start=eur(start), floor=eur(floor), step=eur(step), step_seconds=step_seconds)
    return make_round(params)


def negotiation_round(terms: NegotiationTerms) -> Round:
    return make_round(terms)


def make_round(params: RoundParams, round_id: UUID | None = None) -> Round:
    return Round(
        id=round_id or uuid4(),
        track_id=TRACK,
        seller=SELLER,
        usage=USAGE,
        params=params,
        opens_at=OPENS,
        deadline=DEADLINE,
    )


def bid(
    round: Round,
    amount: int | Money,
    *,
    at: datetime | None = None,
    bidder: UUID | None = None,
    bid_id: UUID | None = None,
) -> Bid:
    return Bid(
        id=bid_id or uuid4(),
        round_id=round.id,
        bidder=bidder or uuid4(),
        placed_by=uuid4(),
        amount=amount if isinstance(amount, Money) else eur(amount),
        committed_at=at or OPENS + timedelta(minutes=1),
    )


def commitment(
    round: Round, amount: int, *, nonce: str = NONCE, at: datetime | None = None, bidder: UUID | None = None
) -> Commitment:
    bidder = bidder or uuid4()
    return Commitment(
        id=uuid4(),
        round_id=round.id,
        bidder=bidder,
        placed_by=uuid4(),
        digest=commitment_digest(eur(amount), nonce, bidder, round.id),
        committed_at=at or OPENS + timedelta(minutes=1),
    )
