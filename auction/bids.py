"""Whether one bid counts on its own: the checks shared by taking a bid and by closing a round."""

from __future__ import annotations

import re

from auction.model import (
    AmountNotPositive,
    BelowReserve,
    Bid,
    BidderNotAllowed,
    BidRefused,
    Commitment,
    InvalidCommitment,
    NotOpenYet,
    Rejection,
    Round,
    RoundClosed,
    SealedBidParams,
    WrongBidKind,
    WrongCurrency,
    WrongRound,
)
from rights.terms import Money

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def amount_refusal(params: SealedBidParams, amount: Money) -> BidRefused | None:
    """Why an amount cannot be bid in this round, or None when it can."""
    if amount.amount <= 0:
        return AmountNotPositive(f"a bid must be more than zero, got {amount.display()}")
    if amount.currency != params.currency:
        return WrongCurrency(f"this round takes bids in {params.currency}, not {amount.currency}")
    if amount.amount < params.reserve.amount:
        return BelowReserve(f"{amount.display()} is under the reserve of {params.reserve.display()}")
    return None


def bid_refusal(round: Round, params: SealedBidParams, bid: Bid | Commitment) -> BidRefused | None:
    """Why this bid does not count in this round, judged at its commit time, or None when it does."""
    if bid.round_id != round.id:
        return WrongRound(f"bid {bid.id} belongs to round {bid.round_id}, not {round.id}")
    if params.reveal_seconds is None and isinstance(bid, Commitment):
        return WrongBidKind("this round takes bids in the clear, not commitments")
    if params.reveal_seconds is not None and isinstance(bid, Bid):
        return WrongBidKind("this round takes commitments (a digest), revealed after the deadline")
    if bid.committed_at < round.opens_at:
        return NotOpenYet(f"bidding opens at {round.opens_at.isoformat()}")
    if bid.committed_at >= round.deadline:
        return RoundClosed(f"bidding closed at {round.deadline.isoformat()}")
    if bid.bidder == round.seller:
        return BidderNotAllowed("a rights holder cannot bid on its own round")
    if isinstance(bid, Bid):
        return amount_refusal(params, bid.amount)
    if not SHA256_HEX.fullmatch(bid.digest):
        return InvalidCommitment("a commitment is a SHA-256 digest: 64 lowercase hexadecimal characters")
    return None


def rejection(bid: Bid | Commitment, refusal: BidRefused) -> Rejection:
    """The close's record of a bid that did not count."""
    return Rejection(bid_id=bid.id, bidder=bid.bidder, reason=refusal.refusal, message=str(refusal))


def committed_before(bid: Bid, other: Bid) -> bool:
    """Whether the server received `bid` first; bids received in the same microsecond go by id."""
    return (bid.committed_at, bid.id) < (other.committed_at, other.id)
