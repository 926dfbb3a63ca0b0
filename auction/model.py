"""The nouns of licensing by auction and negotiation: rounds, bids, offers, outcomes and refusals.

Everything here is a frozen msgspec Struct (ids are UUIDs, times timezone-aware UTC datetimes,
money is `rights.terms.Money`), so the live-round service can store, encode and stream it as is.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import ClassVar
from uuid import UUID

import msgspec

from rights.terms import Money, Usage

# ---------------------------------------------------------------- refusals


class Refusal(enum.StrEnum):
    """Why a bid, reveal or offer was refused; also the reason given for each bid a close rejects."""

    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    WRONG_CURRENCY = "wrong_currency"
    WRONG_ROUND = "wrong_round"
    WRONG_BID_KIND = "wrong_bid_kind"
    CLIENT_TIMESTAMP = "client_timestamp"
    NOT_OPEN_YET = "not_open_yet"
    ROUND_CLOSED = "round_closed"
    DUPLICATE_BID = "duplicate_bid"
    ALREADY_BID = "already_bid"
    BELOW_RESERVE = "below_reserve"
    BIDDER_NOT_ALLOWED = "bidder_not_allowed"
    INVALID_COMMITMENT = "invalid_commitment"
    NOT_REVEALED = "not_revealed"
    REVEAL_MISMATCH = "reveal_mismatch"
    REVEAL_OUTSIDE_WINDOW = "reveal_outside_window"
    WRONG_MECHANISM = "wrong_mechanism"
    NOT_DUE_YET = "not_due_yet"
    NOT_YOUR_TURN = "not_your_turn"
    NEGOTIATION_OVER = "negotiation_over"
    RESPONSE_DEADLINE_PASSED = "response_deadline_passed"
    NO_COUNTERS_LEFT = "no_counters_left"
    BELOW_FLOOR = "below_floor"
    ABOVE_CEILING = "above_ceiling"
    INVALID_TERMS = "invalid_terms"
    OUTCOME_MISMATCH = "outcome_mismatch"


class AuctionError(ValueError):
    """A request the auction rules refuse; the message tells the caller what to fix."""

    refusal: ClassVar[Refusal]


class InvalidTerms(AuctionError):
    """Round, clock, negotiation or pricing parameters that cannot work, or a time that is not UTC."""

    refusal = Refusal.INVALID_TERMS


class WrongMechanism(AuctionError):
    """The action does not exist for this round's mechanism (e.g. a sealed bid on a clock)."""

    refusal = Refusal.WRONG_MECHANISM


class NotDueYet(AuctionError):
    """A close or expiry asked for before its deadline."""

    refusal = Refusal.NOT_DUE_YET


class OutcomeMismatch(AuctionError):
    """A published outcome that the commitments and reveals do not reproduce."""

    refusal = Refusal.OUTCOME_MISMATCH


class BidRefused(AuctionError):
    """A bid, commitment, reveal or clock acceptance that does not count."""


class AmountNotPositive(BidRefused):
    refusal = Refusal.AMOUNT_NOT_POSITIVE


class WrongCurrency(BidRefused):
    refusal = Refusal.WRONG_CURRENCY


class WrongRound(BidRefused):
    refusal = Refusal.WRONG_ROUND


class WrongBidKind(BidRefused):
    """A plain bid on a commit–reveal round, or a commitment on a plain one."""

    refusal = Refusal.WRONG_BID_KIND


class ClientTimestamp(BidRefused):
    """The bid's commit time is not the server's `now`: only the server's clock decides."""

    refusal = Refusal.CLIENT_TIMESTAMP


class NotOpenYet(BidRefused):
    refusal = Refusal.NOT_OPEN_YET


class RoundClosed(BidRefused):
    """Bidding is over: the deadline has passed or the round is closed."""

    refusal = Refusal.ROUND_CLOSED


class DuplicateBid(BidRefused):
    refusal = Refusal.DUPLICATE_BID


class AlreadyBid(BidRefused):
    """A sealed round takes one bid per buyer."""

    refusal = Refusal.ALREADY_BID


class BelowReserve(BidRefused):
    refusal = Refusal.BELOW_RESERVE


class BidderNotAllowed(BidRefused):
    """The rights holder bidding on its own round."""

    refusal = Refusal.BIDDER_NOT_ALLOWED


class InvalidCommitment(BidRefused):
    refusal = Refusal.INVALID_COMMITMENT


class NotRevealed(BidRefused):
    refusal = Refusal.NOT_REVEALED


class RevealMismatch(BidRefused):
    refusal = Refusal.REVEAL_MISMATCH


class RevealOutsideWindow(BidRefused):
    refusal = Refusal.REVEAL_OUTSIDE_WINDOW


class NegotiationError(AuctionError):
    """A move a negotiation in its current state does not allow."""


class NotYourTurn(NegotiationError):
    refusal = Refusal.NOT_YOUR_TURN


class NegotiationOver(NegotiationError):
    refusal = Refusal.NEGOTIATION_OVER


class ResponseDeadlinePassed(NegotiationError):
    refusal = Refusal.RESPONSE_DEADLINE_PASSED


class NoCountersLeft(NegotiationError):
    refusal = Refusal.NO_COUNTERS_LEFT


class OfferBelowFloor(NegotiationError):
    refusal = Refusal.BELOW_FLOOR


class OfferAboveCeiling(NegotiationError):
    refusal = Refusal.ABOVE_CEILING


def require_utc(moment: datetime, name: str = "now") -> None:
    """Refuse naive or non-UTC times, which would silently compare wrong against deadlines."""
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise InvalidTerms(f"{name} must be a timezone-aware UTC datetime, got {moment.isoformat()}")


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise InvalidTerms(f"{name} must be positive, got {value}")


def _require_currency(name: str, amount: Money, currency: str) -> None:
    if amount.currency != currency:
        raise InvalidTerms(f"{name} is in {amount.currency} but the round is priced in {currency}")


# ---------------------------------------------------------------- mechanisms and their parameters


class Mechanism(enum.StrEnum):
    FIRST_PRICE = "first_price"
    VICKREY = "vickrey"
    CLOCK = "clock"
    NEGOTIATION = "negotiation"


class SoftClose(msgspec.Struct, frozen=True, kw_only=True):
    """Anti-sniping: a bid accepted in the last `window_seconds` pushes the deadline back by
    `extension_seconds`, at most `max_extensions` times per round."""

    window_seconds: int
    extension_seconds: int
    max_extensions: int

    def __post_init__(self) -> None:
        _require_positive("soft close window_seconds", self.window_seconds)
        _require_positive("soft close extension_seconds", self.extension_seconds)
        _require_positive("soft close max_extensions", self.max_extensions)


class SealedBidParams(msgspec.Struct, frozen=True, kw_only=True, tag_field="mechanism"):
    """A sealed round: bids below `reserve` are refused. With `reveal_seconds` set, bidders send a
    commitment before the deadline and open it within that many seconds after it."""

    mechanism: ClassVar[Mechanism]
    reserve: Money
    reveal_seconds: int | None = None
    soft_close: SoftClose | None = None

    @property
    def currency(self) -> str:
        return self.reserve.currency

    def __post_init__(self) -> None:
        _require_positive("reserve", self.reserve.amount)
        if self.reveal_seconds is not None:
            _require_positive("reveal_seconds", self.reveal_seconds)


class FirstPriceParams(SealedBidParams, frozen=True, kw_only=True, tag="first_price"):
    mechanism = Mechanism.FIRST_PRICE


class VickreyParams(SealedBidParams, frozen=True, kw_only=True, tag="vickrey"):
    mechanism = Mechanism.VICKREY


class ClockParams(msgspec.Struct, frozen=True, kw_only=True, tag_field="mechanism", tag="clock"):
    """A descending clock: the price starts at `start` when the round opens and drops by `step`
    every `step_seconds`, never below `floor`."""

    mechanism: ClassVar[Mechanism] = Mechanism.CLOCK
    start: Money
    floor: Money
    step: Money
    step_seconds: int

    @property
    def currency(self) -> str:
        return self.start.currency

    def __post_init__(self) -> None:
        _require_currency("floor", self.floor, self.currency)
        _require_currency("step", self.step, self.currency)
        _require_positive("clock floor", self.floor.amount)
        _require_positive("clock step", self.step.amount)
        _require_positive("step_seconds", self.step_seconds)
        if self.start < self.floor:
            raise InvalidTerms(f"the clock starts at {self.start.display()}, under its floor")


class SplitTheDifference(msgspec.Struct, frozen=True, tag_field="strategy", tag="split_the_difference"):
    """Counter halfway between the buyer's offer and the rights holder's last ask."""


class ConcedeTowardFloor(msgspec.Struct, frozen=True, tag_field="strategy", tag="concede"):
    """Counter by giving up `percent_bp` (basis points) of the gap between the last ask and the floor."""

    percent_bp: int

    def __post_init__(self) -> None:
        if not 0 < self.percent_bp <= 10_000:
            raise InvalidTerms(f"a concession must be 1..10,000 basis points, got {self.percent_bp}")


CounterStrategy = SplitTheDifference | ConcedeTowardFloor


class NegotiationTerms(msgspec.Struct, frozen=True, kw_only=True, tag_field="mechanism", tag="negotiation"):
    """The rights holder's private range, which decides buyers' offers automatically.

    Offers under `floor` are refused and a buyer's offer over `ceiling` is taken at the ceiling; an offer
    at or above `auto_accept_at` is accepted at once; otherwise `counter` (if set) answers for the rights
    holder, starting from `auto_accept_at` as its opening ask. Buyers are never told the range. `max_rounds` caps offers and counters in total; each move must be
    answered within `response_seconds`.
    """

    mechanism: ClassVar[Mechanism] = Mechanism.NEGOTIATION
    floor: Money
    ceiling: Money
    auto_accept_at: Money
    max_rounds: int
    response_seconds: int
    counter: CounterStrategy | None = None

    @property
    def currency(self) -> str:
        return self.floor.currency

    def __post_init__(self) -> None:
        _require_currency("ceiling", self.ceiling, self.currency)
        _require_currency("auto_accept_at", self.auto_accept_at, self.currency)
        _require_positive("negotiation floor", self.floor.amount)
        if not self.floor <= self.auto_accept_at <= self.ceiling:
            raise InvalidTerms("a negotiation needs floor ≤ auto_accept_at ≤ ceiling")
        _require_positive("max_rounds", self.max_rounds)
        _require_positive("response_seconds", self.response_seconds)


RoundParams = FirstPriceParams | VickreyParams | ClockParams | NegotiationTerms


class OfferLimits(msgspec.Struct, frozen=True, kw_only=True):
    """How many offers under the floor a buyer may make on one round within a window, before it must wait."""

    below_floor_offers: int = 3
    window_seconds: int = 600

    def __post_init__(self) -> None:
        _require_positive("below_floor_offers", self.below_floor_offers)
        _require_positive("window_seconds", self.window_seconds)


# ---------------------------------------------------------------- rounds and bids


class RoundState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Round(msgspec.Struct, frozen=True, kw_only=True):
    """One track offered for one usage under one mechanism, from `opens_at` until `deadline`.

    `seller` is the rights holder's organisation. `deadline` is always the one shown to users: a
    soft-close extension moves it and raises `deadline_version`, so a timer scheduled for an
    older version knows it is stale. With commit–reveal, reveals are taken after the deadline
    (see `mechanisms.close_due_at`).
    """

    id: UUID
    track_id: UUID
    seller: UUID
    usage: Usage
    params: RoundParams
    opens_at: datetime
    deadline: datetime
    deadline_version: int = 1
    extensions: int = 0
    state: RoundState = RoundState.OPEN

    @property
    def mechanism(self) -> Mechanism:
        return self.params.mechanism

    def __post_init__(self) -> None:
        require_utc(self.opens_at, "opens_at")
        require_utc(self.deadline, "deadline")
        if self.deadline <= self.opens_at:
            raise InvalidTerms("a round's deadline must be after it opens")


class Bid(msgspec.Struct, frozen=True, kw_only=True):
    """A sealed bid in the clear, or a clock acceptance at the clock's price.

    `bidder` is the buyer organisation that would hold the licence, `placed_by` the user who
    placed it. `committed_at` is set by the server when the bid is received; it breaks ties.
    """

    id: UUID
    round_id: UUID
    bidder: UUID
    placed_by: UUID
    amount: Money
    committed_at: datetime


class Commitment(msgspec.Struct, frozen=True, kw_only=True):
    """A sealed bid on a commit–reveal round: only the digest of the bid until it is revealed
    (see `commit_reveal.commitment_digest`)."""

    id: UUID
    round_id: UUID
    bidder: UUID
    placed_by: UUID
    digest: str
    committed_at: datetime


class Reveal(msgspec.Struct, frozen=True, kw_only=True):
    """The opening of a commitment: the amount and nonce that were hashed, received at `revealed_at`."""

    bid_id: UUID
    amount: Money
    nonce: str
    revealed_at: datetime


class BidAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """A bid that counts, and the round as it stands after it: with `extended`, the round carries
    the new deadline and deadline version to store and schedule."""

    bid: Bid | Commitment
    round: Round
    extended: bool


# ---------------------------------------------------------------- outcomes


class PriceBasis(enum.StrEnum):
    """What set the price the winner pays."""

    OWN_BID = "own_bid"
    SECOND_BID = "second_bid"
    TIED_BID = "tied_bid"
    RESERVE = "reserve"
    CLOCK = "clock"


class Winner(msgspec.Struct, frozen=True, kw_only=True):
    bid_id: UUID
    bidder: UUID
    bid: Money | None  # the winning bid itself; None where shown to anyone but the winner and the seller
    price: Money
    basis: PriceBasis


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """A bid that did not count at the close, and why."""

    bid_id: UUID
    bidder: UUID
    reason: Refusal
    message: str


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """The result of a closed round. `counted` is how many bids took part; `ranking` lists the
    counted bids best first when it was asked for (`close(..., ranked=True)`), else is empty."""

    round_id: UUID
    mechanism: Mechanism
    closed_at: datetime
    winner: Winner | None
    counted: int
    rejected: tuple[Rejection, ...] = ()
    ranking: tuple[UUID, ...] = ()


# ---------------------------------------------------------------- negotiation


class Party(enum.StrEnum):
    BUYER = "buyer"
    RIGHTS_HOLDER = "rights_holder"


class NegotiationState(enum.StrEnum):
    AWAITING_RIGHTS_HOLDER = "awaiting_rights_holder"
    AWAITING_BUYER = "awaiting_buyer"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """One price put on the table; `automatic` when the rights holder's counter strategy made it."""

    party: Party
    amount: Money
    made_at: datetime
    automatic: bool = False


class Negotiation(msgspec.Struct, frozen=True, kw_only=True):
    """One buyer negotiating one round's licence with its rights holder.

    `offers` is the whole exchange, oldest first, so the moves a call added are the tail beyond
    the old tuple's length. `respond_by` is when the standing offer lapses (None once concluded);
    `price` is set when accepted and `reason` says why it ended.
    """

    id: UUID
    round_id: UUID
    buyer: UUID
    terms: NegotiationTerms
    state: NegotiationState
    offers: tuple[Offer, ...]
    respond_by: datetime | None
    price: Money | None = None
    concluded_at: datetime | None = None
    reason: str | None = None
