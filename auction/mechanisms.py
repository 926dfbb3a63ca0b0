"""The single entry point to the licensing mechanisms: take a bid, close a round, verify a result.

Everything the live-round service needs is importable from here; each function is pure and takes
the server's `now` (a timezone-aware UTC datetime). The rules bidders see are written out in
`auction.sealed` (first price, Vickrey, commit–reveal), `auction.clock` and `auction.negotiation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from auction.bids import bid_refusal
from auction.clock import accept_clock, clock_price, close_clock
from auction.commit_reveal import commitment_digest, opened_bid
from auction.model import (
    AlreadyBid,
    Bid,
    BidAccepted,
    BidRefused,
    ClientTimestamp,
    ClockParams,
    Commitment,
    DuplicateBid,
    NegotiationTerms,
    NotDueYet,
    Outcome,
    OutcomeMismatch,
    Reveal,
    RevealOutsideWindow,
    Round,
    RoundClosed,
    RoundState,
    SealedBidParams,
    WrongBidKind,
    WrongMechanism,
    require_utc,
)
from auction.negotiation import accept, below_floor_wait, counter, expire, make_offer, reject, withdraw
from auction.sealed import close_sealed
from auction.soft_close import extended
from rights.pricing import dynamic_price, list_price

__all__ = [
    "accept",
    "accept_clock",
    "below_floor_wait",
    "clock_price",
    "close",
    "close_due_at",
    "commitment_digest",
    "counter",
    "dynamic_price",
    "expire",
    "list_price",
    "make_offer",
    "reject",
    "validate_bid",
    "validate_reveal",
    "verify_outcome",
    "withdraw",
]


def _sealed_params(round: Round) -> SealedBidParams:
    if isinstance(round.params, ClockParams):
        raise WrongMechanism("a clock round takes no sealed bids: accept the clock's price instead")
    if isinstance(round.params, NegotiationTerms):
        raise WrongMechanism("a negotiation round takes no sealed bids: make an offer instead")
    return round.params


def validate_bid(
    round: Round, existing_bids: Sequence[Bid | Commitment], bid: Bid | Commitment, now: datetime
) -> BidAccepted:
    """Take a sealed bid or commitment received at `now` (its `committed_at` must be `now`), or
    raise the `BidRefused` saying why not.

    `existing_bids` needs only the round's bids with the same id or bidder; the store can fetch
    just those. An accepted bid in the soft-close window returns the round with its new deadline
    and deadline version; callers must serialise bids per round (e.g. lock the round row) so two
    bids cannot both extend from the same deadline.
    """
    require_utc(now)
    params = _sealed_params(round)
    if round.state is RoundState.CLOSED:
        raise RoundClosed("the round is closed")
    if bid.committed_at != now:
        raise ClientTimestamp("a bid's commit time is set by the server when it arrives")
    refusal = bid_refusal(round, params, bid)
    if refusal is not None:
        raise refusal
    for earlier in existing_bids:
        if earlier.id == bid.id:
            raise DuplicateBid(f"bid {bid.id} was already placed")
        if earlier.bidder == bid.bidder:
            raise AlreadyBid("a sealed round takes one bid per buyer, and yours is in")
    after = extended(round, params.soft_close, now)
    return BidAccepted(bid=bid, round=after, extended=after is not round)


def validate_reveal(round: Round, commitment: Commitment, reveal: Reveal, now: datetime) -> Bid:
    """Open a commitment with a reveal received at `now` (its `revealed_at` must be `now`): the bid
    it counts as at the close, or the `BidRefused` saying why it will not count."""
    require_utc(now)
    params = _sealed_params(round)
    if params.reveal_seconds is None:
        raise WrongBidKind("this round takes bids in the clear; there is nothing to reveal")
    if round.state is RoundState.CLOSED:
        raise RevealOutsideWindow("the round is closed; reveals are no longer taken")
    if reveal.revealed_at != now:
        raise ClientTimestamp("a reveal's time is set by the server when it arrives")
    opened = opened_bid(round, params, commitment, reveal)
    if isinstance(opened, BidRefused):
        raise opened
    return opened


def close_due_at(round: Round) -> datetime:
    """When the round's closing timer should fire: the deadline, or the end of the reveal window."""
    if isinstance(round.params, SealedBidParams) and round.params.reveal_seconds is not None:
        return round.deadline + timedelta(seconds=round.params.reveal_seconds)
    return round.deadline


def every_commitment_revealed(
    round: Round, bids: Sequence[Bid | Commitment], reveals: Sequence[Reveal], now: datetime
) -> bool:
    """A commit–reveal round past its deadline with every commitment opened: nothing is left to wait for."""
    if (
        not isinstance(round.params, SealedBidParams)
        or round.params.reveal_seconds is None
        or now < round.deadline
    ):
        return False
    opened = {reveal.bid_id for reveal in reveals}
    return all(bid.id in opened for bid in bids)


def close(
    round: Round,
    bids: Sequence[Bid | Commitment],
    now: datetime,
    *,
    reveals: Sequence[Reveal] = (),
    ranked: bool = False,
) -> Outcome:
    """The outcome of a sealed or clock round at `now`, which must not be before `close_due_at`
    unless every commitment of a commit–reveal round is revealed.

    `reveals` (commit–reveal rounds) holds the reveals `validate_reveal` accepted, one per commitment.
    Every bid is checked again, so a bid stored by mistake is rejected with its reason rather
    than counted. Finding the winner and price is one pass over the bids; `ranked` adds the
    counted bids best first, which costs a sort. Closing twice gives the same outcome; the
    caller's guarded update decides which close is stored.
    """
    require_utc(now)
    due = close_due_at(round)
    if now < due and not every_commitment_revealed(round, bids, reveals, now):
        raise NotDueYet(f"round {round.id} closes at {due.isoformat()}")
    if isinstance(round.params, NegotiationTerms):
        raise WrongMechanism("negotiations conclude by accepting, rejecting or expiring, not by closing")
    if isinstance(round.params, ClockParams):
        return close_clock(round, bids, now, ranked)
    return close_sealed(round, round.params, bids, reveals, now, ranked)


def verify_outcome(
    round: Round, bids: Sequence[Bid | Commitment], reveals: Sequence[Reveal], published: Outcome
) -> Outcome:
    """Recompute a published outcome from the published commitments (or bids) and reveals, and
    raise `OutcomeMismatch` naming the first field that differs."""
    recomputed = close(round, bids, published.closed_at, reveals=reveals, ranked=bool(published.ranking))
    for field in published.__struct_fields__:
        if getattr(recomputed, field) != getattr(published, field):
            raise OutcomeMismatch(f"the published {field} does not follow from the bids and reveals")
    return recomputed
