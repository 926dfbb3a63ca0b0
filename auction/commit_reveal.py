"""Commit–reveal for sealed rounds: the digest a bidder commits to, and whether a reveal opens it.

A bidder picks a secret nonce (at least 32 lowercase hexadecimal characters, i.e. 128 random
bits, so nobody can guess the amount from the digest by trying amounts) and commits to

    SHA-256 of the UTF-8 text  "<amount in minor units>|<currency>|<nonce>|<bidder uuid>|<round uuid>"

as lowercase hexadecimal, e.g. "125000|EUR|9f86d0…|0b7c…-…|5e1a…-…" (UUIDs in their usual
lowercase, hyphenated form). After the deadline the bidder reveals amount and nonce; a reveal that
is late, missing or does not reproduce the digest voids the bid.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from uuid import UUID

from auction.bids import amount_refusal
from auction.model import (
    Bid,
    BidRefused,
    Commitment,
    InvalidCommitment,
    NotRevealed,
    Reveal,
    RevealMismatch,
    RevealOutsideWindow,
    Round,
    SealedBidParams,
)
from rights.terms import Money

NONCE = re.compile(r"[0-9a-f]{32,128}")


def commitment_digest(amount: Money, nonce: str, bidder: UUID, round_id: UUID) -> str:
    """The hex SHA-256 a bidder commits to; see the module docstring for the exact text hashed."""
    if not NONCE.fullmatch(nonce):
        raise InvalidCommitment("a nonce is 32 to 128 lowercase hexadecimal characters")
    text = f"{amount.amount}|{amount.currency}|{nonce}|{bidder}|{round_id}"
    return hashlib.sha256(text.encode()).hexdigest()


def reveal_refusal(
    round: Round, params: SealedBidParams, commitment: Commitment, reveal: Reveal
) -> BidRefused | None:
    """Why this reveal does not open this commitment into a counted bid, or None when it does."""
    assert params.reveal_seconds is not None
    reveals_close = round.deadline + timedelta(seconds=params.reveal_seconds)
    if not round.deadline <= reveal.revealed_at < reveals_close:
        return RevealOutsideWindow(
            f"reveals are taken from {round.deadline.isoformat()} until {reveals_close.isoformat()}"
        )
    if reveal.bid_id != commitment.id:
        return RevealMismatch(f"this reveal opens bid {reveal.bid_id}, not {commitment.id}")
    if not NONCE.fullmatch(reveal.nonce):
        return RevealMismatch("a nonce is 32 to 128 lowercase hexadecimal characters")
    if commitment_digest(reveal.amount, reveal.nonce, commitment.bidder, round.id) != commitment.digest:
        return RevealMismatch("amount, currency and nonce do not reproduce the committed digest")
    return amount_refusal(params, reveal.amount)


def opened_bid(
    round: Round, params: SealedBidParams, commitment: Commitment, reveal: Reveal | None
) -> Bid | BidRefused:
    """The bid a commitment opens into, keeping its commit time, or why it is void."""
    if reveal is None:
        return NotRevealed("the commitment was not revealed in time and is forfeited")
    refusal = reveal_refusal(round, params, commitment, reveal)
    if refusal is not None:
        return refusal
    return Bid(
        id=commitment.id,
        round_id=commitment.round_id,
        bidder=commitment.bidder,
        placed_by=commitment.placed_by,
        amount=reveal.amount,
        committed_at=commitment.committed_at,
    )
