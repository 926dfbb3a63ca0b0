"""Closing a sealed round: who wins and what they pay, in one pass over the bids.

The rules, as a bidder sees them:

- Nobody but you sees your bid before the round closes. You may bid once per round, in the
  round's currency, at or above the reserve, before the deadline shown (a bid in the last moments
  may push that deadline back; see the round's soft-close settings).
- **First price.** The highest bid wins and pays exactly what it bid.
- **Second price (Vickrey).** The highest bid wins but pays the second-highest bid, counting
  every bid including one equal to the winner's; if that is under the reserve, or nobody else
  bid, the winner pays the reserve. You never pay more than you bid, so your best bid is simply
  the most the licence is worth to you.
- **Ties.** Equal bids are won by the one the server received first (its commit time); in a
  second-price round the winner then pays the tied amount. Bids received in the same microsecond
  are ordered by bid id.
- **Commit–reveal rounds.** You first send only a digest of your bid; after the deadline you reveal
  the amount and nonce. A commitment that is not revealed in the reveal window, or does not match
  its reveal, is forfeited and does not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from auction.bids import bid_refusal, committed_before, rejection
from auction.commit_reveal import opened_bid
from auction.model import (
    AlreadyBid,
    Bid,
    BidRefused,
    Commitment,
    Outcome,
    PriceBasis,
    Rejection,
    Reveal,
    Round,
    SealedBidParams,
    VickreyParams,
    Winner,
)
from rights.terms import Money


def beats(bid: Bid, other: Bid) -> bool:
    """Whether `bid` ranks above `other`: higher amount, then earlier commit, then smaller id."""
    if bid.amount.amount != other.amount.amount:
        return bid.amount.amount > other.amount.amount
    return committed_before(bid, other)


def close_sealed(
    round: Round,
    params: SealedBidParams,
    bids: Sequence[Bid | Commitment],
    reveals: Sequence[Reveal],
    now: datetime,
    ranked: bool,
) -> Outcome:
    """The outcome of a first-price or Vickrey round; linear in the number of bids unless `ranked`."""
    reveal_for = {reveal.bid_id: reveal for reveal in reveals}
    rejected: list[Rejection] = []
    counted: dict[UUID, Bid] = {}  # each bidder's earliest counted bid
    superseded: list[Bid] = []

    for entry in bids:
        bid = _counted_form(round, params, entry, reveal_for)
        if isinstance(bid, BidRefused):
            rejected.append(rejection(entry, bid))
            continue
        earlier = counted.get(bid.bidder)
        if earlier is None or committed_before(bid, earlier):
            counted[bid.bidder] = bid
        if earlier is not None:
            superseded.append(bid if counted[bid.bidder] is earlier else earlier)
    for later in superseded:
        first = counted[later.bidder]
        rejected.append(
            rejection(later, AlreadyBid(f"only a buyer's first bid counts; {first.id} came first"))
        )

    best: Bid | None = None
    second: int | None = None  # the highest amount among all counted bids but the best
    for bid in counted.values():
        if best is None:
            best = bid
        elif beats(bid, best):
            second = best.amount.amount  # the old best is at least the old second
            best = bid
        elif second is None or bid.amount.amount > second:
            second = bid.amount.amount

    return Outcome(
        round_id=round.id,
        mechanism=params.mechanism,
        closed_at=now,
        winner=None if best is None else _winner(params, best, second),
        counted=len(counted),
        rejected=tuple(sorted(rejected, key=lambda rejection: rejection.bid_id)),
        ranking=_ranking(counted.values()) if ranked else (),
    )


def _counted_form(
    round: Round, params: SealedBidParams, entry: Bid | Commitment, reveal_for: dict[UUID, Reveal]
) -> Bid | BidRefused:
    """The bid as it counts (a commitment opened by its reveal), or why it does not count."""
    refusal = bid_refusal(round, params, entry)
    if refusal is not None:
        return refusal
    if isinstance(entry, Commitment):
        return opened_bid(round, params, entry, reveal_for.get(entry.id))
    return entry


def _winner(params: SealedBidParams, best: Bid, second: int | None) -> Winner:
    if not isinstance(params, VickreyParams):
        price, basis = best.amount, PriceBasis.OWN_BID
    elif second is None or second < params.reserve.amount:
        price, basis = params.reserve, PriceBasis.RESERVE
    else:
        price = Money(second, params.currency)
        basis = PriceBasis.TIED_BID if second == best.amount.amount else PriceBasis.SECOND_BID
    return Winner(bid_id=best.id, bidder=best.bidder, bid=best.amount, price=price, basis=basis)


def _ranking(bids: Iterable[Bid]) -> tuple[UUID, ...]:
    ordered = sorted(bids, key=lambda bid: (-bid.amount.amount, bid.committed_at, bid.id))
    return tuple(bid.id for bid in ordered)
