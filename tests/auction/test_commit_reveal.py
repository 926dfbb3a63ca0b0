"""Commit–reveal: digests, reveals, forfeits and verifying a published outcome from the reveals."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.commit_reveal import commitment_digest
from auction.mechanisms import close, close_due_at, validate_bid, validate_reveal, verify_outcome
from auction.model import (
    BelowReserve,
    ClientTimestamp,
    Commitment,
    InvalidCommitment,
    NotDueYet,
    Outcome,
    OutcomeMismatch,
    Refusal,
    Reveal,
    RevealMismatch,
    RevealOutsideWindow,
    Round,
    WrongBidKind,
)
from rights.terms import Money
from tests.auction.factories import DEADLINE, NONCE, OPENS, bid, commitment, eur, sealed_round

REVEAL_SECONDS = 600
REVEALING = DEADLINE + timedelta(seconds=1)


def committed_round() -> Round:
    return sealed_round(reserve=1_000, reveal_seconds=REVEAL_SECONDS)


def reveal_of(
    sealed: Commitment, amount: int | Money, nonce: str = NONCE, at: datetime = REVEALING
) -> Reveal:
    money = amount if isinstance(amount, Money) else eur(amount)
    return Reveal(bid_id=sealed.id, amount=money, nonce=nonce, revealed_at=at)


def test_the_digest_is_sha256_of_the_documented_text() -> None:
    bidder, round_id = UUID(int=7), UUID(int=8)
    text = f"125000|EUR|{NONCE}|{bidder}|{round_id}"
    assert (
        commitment_digest(eur(125_000), NONCE, bidder, round_id) == hashlib.sha256(text.encode()).hexdigest()
    )


@pytest.mark.parametrize("nonce", ["", "abc", "0123456789ABCDEF" * 2, "g" * 32, "0" * 129])
def test_a_nonce_shorter_than_128_bits_or_not_lowercase_hex_is_refused(nonce: str) -> None:
    with pytest.raises(InvalidCommitment, match="lowercase hexadecimal"):
        commitment_digest(eur(1), nonce, uuid4(), uuid4())


def test_a_commitment_round_takes_a_commitment_and_refuses_a_bid_in_the_clear() -> None:
    round = committed_round()
    now = OPENS + timedelta(minutes=1)
    assert validate_bid(round, [], commitment(round, 5_000, at=now), now).bid.round_id == round.id
    with pytest.raises(WrongBidKind, match="commitments"):
        validate_bid(round, [], bid(round, 5_000, at=now), now)


def test_a_commitment_that_is_not_a_sha256_digest_is_refused() -> None:
    round = committed_round()
    now = OPENS + timedelta(minutes=1)
    malformed = msgspec.structs.replace(commitment(round, 5_000, at=now), digest="not a digest")
    with pytest.raises(InvalidCommitment):
        validate_bid(round, [], malformed, now)


def test_an_honest_reveal_opens_the_commitment_keeping_its_commit_time() -> None:
    round = committed_round()
    sealed = commitment(round, 5_000)
    opened = validate_reveal(round, sealed, reveal_of(sealed, 5_000), REVEALING)
    assert (opened.id, opened.amount, opened.committed_at) == (sealed.id, eur(5_000), sealed.committed_at)


def test_a_reveal_before_the_deadline_is_refused() -> None:
    round = committed_round()
    sealed = commitment(round, 5_000)
    early = DEADLINE - timedelta(seconds=1)
    with pytest.raises(RevealOutsideWindow, match="reveals are taken from"):
        validate_reveal(round, sealed, reveal_of(sealed, 5_000, at=early), early)


def test_a_reveal_after_the_reveal_window_is_refused() -> None:
    round = committed_round()
    sealed = commitment(round, 5_000)
    late = close_due_at(round)
    with pytest.raises(RevealOutsideWindow):
        validate_reveal(round, sealed, reveal_of(sealed, 5_000, at=late), late)


def test_a_reveal_carrying_its_own_timestamp_is_refused() -> None:
    round = committed_round()
    sealed = commitment(round, 5_000)
    with pytest.raises(ClientTimestamp):
        validate_reveal(round, sealed, reveal_of(sealed, 5_000, at=DEADLINE), REVEALING)


def test_an_honest_reveal_below_the_reserve_is_refused() -> None:
    round = committed_round()
    sealed = commitment(round, 500)
    with pytest.raises(BelowReserve):
        validate_reveal(round, sealed, reveal_of(sealed, 500), REVEALING)


def test_the_close_of_a_commitment_round_waits_for_the_reveal_window() -> None:
    round = committed_round()
    assert close_due_at(round) == DEADLINE + timedelta(seconds=REVEAL_SECONDS)


def test_unrevealed_and_mismatching_commitments_are_forfeited_at_the_close() -> None:
    round = committed_round()
    honest, silent, liar = commitment(round, 3_000), commitment(round, 9_000), commitment(round, 8_000)
    reveals = [reveal_of(honest, 3_000), reveal_of(liar, 2_000)]
    outcome = close(round, [honest, silent, liar], close_due_at(round), reveals=reveals)
    assert outcome.winner is not None
    assert (outcome.winner.bid_id, outcome.winner.price) == (honest.id, eur(1_000))
    reasons = {rejection.bid_id: rejection.reason for rejection in outcome.rejected}
    assert reasons == {silent.id: Refusal.NOT_REVEALED, liar.id: Refusal.REVEAL_MISMATCH}


def published(round: Round, sealed: list[Commitment], reveals: list[Reveal]) -> Outcome:
    return close(round, sealed, close_due_at(round), reveals=reveals, ranked=True)


def test_anyone_can_verify_a_published_outcome_from_the_reveals() -> None:
    round = committed_round()
    sealed = [commitment(round, amount) for amount in (3_000, 7_000, 5_000)]
    reveals = [reveal_of(c, amount) for c, amount in zip(sealed, (3_000, 7_000, 5_000), strict=True)]
    outcome = published(round, sealed, reveals)
    assert verify_outcome(round, sealed, reveals, outcome) == outcome


def test_verification_names_the_field_of_a_tampered_outcome() -> None:
    round = committed_round()
    sealed = [commitment(round, amount) for amount in (3_000, 7_000)]
    reveals = [reveal_of(c, amount) for c, amount in zip(sealed, (3_000, 7_000), strict=True)]
    outcome = published(round, sealed, reveals)
    assert outcome.winner is not None
    cheaper = msgspec.structs.replace(outcome.winner, price=eur(2_000))
    with pytest.raises(OutcomeMismatch, match="published winner"):
        verify_outcome(round, sealed, reveals, msgspec.structs.replace(outcome, winner=cheaper))


ALTERATIONS = ["amount", "currency", "nonce", "bidder", "round"]


@settings(max_examples=100)
@given(
    amount=st.integers(min_value=1_000, max_value=10**9),
    nonce=st.text(alphabet="0123456789abcdef", min_size=32, max_size=64),
    alteration=st.sampled_from(ALTERATIONS),
)
def test_commit_reveal_accepts_honest_reveals_and_rejects_every_altered_field(
    amount: int, nonce: str, alteration: str
) -> None:
    round = committed_round()
    sealed = commitment(round, amount, nonce=nonce)
    assert validate_reveal(round, sealed, reveal_of(sealed, amount, nonce=nonce), REVEALING).amount == eur(
        amount
    )

    revealed: Reveal = reveal_of(sealed, amount, nonce=nonce)
    if alteration == "amount":
        revealed = reveal_of(sealed, amount + 1, nonce=nonce)
    elif alteration == "currency":
        revealed = reveal_of(sealed, Money(amount, "USD"), nonce=nonce)
    elif alteration == "nonce":
        revealed = reveal_of(sealed, amount, nonce=("1" if nonce[0] == "0" else "0") + nonce[1:])
    elif alteration == "bidder":
        sealed = msgspec.structs.replace(sealed, bidder=uuid4())
    else:  # the same commitment replayed in another round
        round = msgspec.structs.replace(round, id=uuid4())
        sealed = msgspec.structs.replace(sealed, round_id=round.id)
    with pytest.raises(RevealMismatch):
        validate_reveal(round, sealed, revealed, REVEALING)


def test_a_round_whose_every_commitment_is_revealed_closes_before_the_window_ends_and_verifies() -> None:
    round = committed_round()
    first, second = commitment(round, 5_000), commitment(round, 7_000)
    reveals = [reveal_of(first, 5_000), reveal_of(second, 7_000)]
    outcome = close(round, [first, second], REVEALING, reveals=reveals)
    assert (
        close_due_at(round) > REVEALING
        and outcome.winner is not None
        and outcome.winner.bidder == second.bidder
    )
    assert verify_outcome(round, [first, second], reveals, outcome) == outcome


def test_a_round_with_one_commitment_still_sealed_waits_for_the_window() -> None:
    round = committed_round()
    first, second = commitment(round, 5_000), commitment(round, 7_000)
    with pytest.raises(NotDueYet, match="closes at"):
        close(round, [first, second], REVEALING, reveals=[reveal_of(first, 5_000)])
