"""The nouns of live rounds: a round as stored, the events that record what happened to it, receipts.

Each event payload is a tagged Struct (its `kind`), stored whole in `round_events` and published
whole to the server processes; `auction.views` decides what each watcher is shown of it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from auction.model import (
    Commitment,
    Mechanism,
    Negotiation,
    NegotiationState,
    Offer,
    Outcome,
    Reveal,
    Round,
    RoundParams,
    RoundState,
)
from rights.terms import Money, Usage


class StoredRound(msgspec.Struct, frozen=True, kw_only=True):
    """A round with what the store keeps beside the mechanism's view of it."""

    round: Round
    closes_at: datetime
    created_by: UUID | None
    closed_at: datetime | None = None
    outcome: Outcome | None = None


class NegotiationView(msgspec.Struct, frozen=True, kw_only=True):
    """A negotiation as its two parties see it: without the rights holder's private range."""

    id: UUID
    round_id: UUID
    buyer: UUID
    state: NegotiationState
    offers: tuple[Offer, ...]
    respond_by: datetime | None
    price: Money | None = None
    concluded_at: datetime | None = None
    reason: str | None = None

    @classmethod
    def of(cls, negotiation: Negotiation) -> NegotiationView:
        return cls(
            id=negotiation.id, round_id=negotiation.round_id, buyer=negotiation.buyer, state=negotiation.state,
            offers=negotiation.offers, respond_by=negotiation.respond_by, price=negotiation.price,
            concluded_at=negotiation.concluded_at, reason=negotiation.reason,
        )  # fmt: skip


# ---------------------------------------------------------------- events


class EventKind(enum.StrEnum):
    OPENED = "opened"
    BID = "bid"
    REVEALED = "revealed"
    NEGOTIATION = "negotiation"
    CLOSED = "closed"


class Opened(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="opened"):
    track_id: UUID
    seller: UUID
    mechanism: Mechanism
    usage: Usage
    currency: str
    params: RoundParams | None  # None where a negotiation's private range is hidden
    opens_at: datetime
    deadline: datetime
    closes_at: datetime


class BidTaken(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="bid"):
    """A sealed bid or commitment that counts. Who bid and what are shown to the bidder alone."""

    bids: int
    deadline: datetime
    deadline_version: int
    extensions: int
    extended: bool
    closes_at: datetime
    bid_id: UUID | None = None
    bidder: UUID | None = None
    amount: Money | None = None
    digest: str | None = None
    committed_at: datetime | None = None


class Revealed(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="revealed"
):
    revealed: int
    bid_id: UUID | None = None
    bidder: UUID | None = None
    amount: Money | None = None


class NegotiationMoved(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="negotiation"
):
    """A negotiation's new state, shown only to its buyer and the round's rights holder."""

    negotiation: NegotiationView
    deal_id: UUID | None = None


class Closed(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="closed"):
    """The close, shown to everyone. Commit–reveal rounds publish every commitment and reveal, so
    anyone can recompute the outcome with `auction.mechanisms.verify_outcome`."""

    closed_at: datetime
    outcome: Outcome | None  # None for a negotiation round, whose deals are struck one by one
    deal_id: UUID | None = None
    commitments: tuple[Commitment, ...] = ()
    reveals: tuple[Reveal, ...] = ()


EventPayload = Opened | BidTaken | Revealed | NegotiationMoved | Closed


class RoundEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One numbered entry of a round's log; `at` is the database's clock when it was written."""

    round_id: UUID
    seq: int
    payload: EventPayload
    at: datetime


class LiveState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What only the latest value matters for, at `server_time` and as of the frame's `seq`.

    `watchers` counts the sockets on the round across every server process; `time_left_ms` runs to
    the deadline, or after it to the close (the reveal window); `clock_price` is a descending clock's
    price now.
    """

    bids: int
    watchers: int
    time_left_ms: int
    deadline: datetime
    deadline_version: int
    extensions: int
    closes_at: datetime
    clock_price: Money | None = None


class Frame(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A websocket message to a watcher; `server_time` lets the page count down on the server's clock.

    `type` is "round" (the round as it stands, up to event `seq`, with its `state`), "event" (one
    that must arrive), "state" (the `state` as of event `seq`, standing for `replaced` older state
    messages never sent), "pong" or "error".
    """

    type: str
    server_time: datetime
    seq: int | None = None
    event: EventPayload | None = None
    at: datetime | None = None
    round: RoundView | None = None
    state: LiveState | None = None
    detail: str | None = None
    replaced: int | None = None


# ---------------------------------------------------------------- what callers get back


class RoundView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A round as one watcher may see it, up to event `seq`."""

    id: UUID
    track_id: UUID
    seller: UUID
    mechanism: Mechanism
    usage: Usage
    currency: str
    params: RoundParams | None
    state: RoundState
    opens_at: datetime
    deadline: datetime
    deadline_version: int
    extensions: int
    closes_at: datetime
    bids: int
    seq: int
    server_time: datetime
    revealed: int = 0
    clock_price: Money | None = None
    closed_at: datetime | None = None
    outcome: Outcome | None = None
    disclosure: str = ""  # what the round publishes after its close, said before anyone bids


class BidReceipt(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A bid, commitment or reveal taken and committed; `seq` is its event in the round's log."""

    bid_id: UUID
    round_id: UUID
    committed_at: datetime
    deadline: datetime
    deadline_version: int
    seq: int
    amount: Money | None = None
    digest: str | None = None


class ClockReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted clock price: the round closed with this buyer as winner."""

    bid_id: UUID
    round_id: UUID
    price: Money
    outcome: Outcome
    deal_id: UUID
    seq: int


class MyBid(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    bid_id: UUID
    round_id: UUID
    committed_at: datetime
    amount: Money | None = None
    digest: str | None = None
    revealed: Money | None = None


DAYS_30 = 30 * 24 * 3600


class NewRound(msgspec.Struct, frozen=True, kw_only=True):
    """A rights holder's request to open a round on one of its tracks for one usage.

    The round opens `opens_in_seconds` after the server receives the request and takes bids for
    `duration_seconds`; both are counted on the server's clock.
    """

    track_id: UUID
    usage: Usage
    params: RoundParams
    duration_seconds: Annotated[int, msgspec.Meta(ge=1, le=DAYS_30)]
    opens_in_seconds: Annotated[int, msgspec.Meta(ge=0, le=DAYS_30)] = 0
