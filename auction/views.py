"""Who sees what of a round: the same events and rounds, shown differently to each watcher.

Before a sealed round closes, a bid is shown only to the organisation that placed it; everyone
else (the rights holder included) sees the bid count and the deadline. The clock's price is shown
to all. A negotiation is shown only to its buyer and the round's rights holder, and the rights
holder's private range only to the rights holder. The close is shown to everyone: the winner and the
price it pays, while the winning bid itself (and which bids were turned away) only to the winner and
the rights holder; a commit–reveal round publishes its commitments and reveals, so nothing is hidden.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from auction.clock import clock_price
from auction.live import (
    BidTaken,
    Closed,
    NegotiationMoved,
    Opened,
    Revealed,
    RoundEvent,
    RoundView,
    StoredRound,
)
from auction.model import ClockParams, NegotiationTerms, Outcome, RoundParams, RoundState, SealedBidParams
from rights.identity import Principal


class Audience(enum.Enum):
    """How an event is shown to a watcher: whole (to its parties), redacted (to everyone else), or not at all."""

    PARTY = "party"
    PUBLIC = "public"
    NOBODY = "nobody"


def audience(event: RoundEvent, seller: UUID, watcher: Principal) -> Audience:
    payload = event.payload
    if isinstance(payload, BidTaken | Revealed):
        return Audience.PARTY if payload.bidder == watcher.organisation_id else Audience.PUBLIC
    if isinstance(payload, NegotiationMoved):
        parties = (payload.negotiation.buyer, seller)
        return Audience.PARTY if watcher.organisation_id in parties else Audience.NOBODY
    if isinstance(payload, Opened) and watcher.organisation_id == seller:
        return Audience.PARTY
    if isinstance(payload, Closed) and _party_to_outcome(payload.outcome, seller, watcher):
        return Audience.PARTY
    return Audience.PUBLIC


def _party_to_outcome(outcome: Outcome | None, seller: UUID, watcher: Principal | None) -> bool:
    if watcher is None:
        return False
    winner = outcome.winner if outcome else None
    return watcher.organisation_id == seller or (
        winner is not None and watcher.organisation_id == winner.bidder
    )


def public_outcome(outcome: Outcome) -> Outcome:
    """The outcome as everyone may see it: the winner and the price, not the winning bid or the refusals."""
    winner = outcome.winner and msgspec.structs.replace(outcome.winner, bid=None)
    return msgspec.structs.replace(outcome, winner=winner, rejected=(), ranking=())


def outcome_for(outcome: Outcome | None, seller: UUID, watcher: Principal | None) -> Outcome | None:
    if outcome is None or _party_to_outcome(outcome, seller, watcher):
        return outcome
    return public_outcome(outcome)


def disclosure(params: RoundParams) -> str:
    """What the round publishes after its close, said on the round before anyone bids."""
    if isinstance(params, NegotiationTerms):
        return "Each negotiation stays between its buyer and the rights holder; the range is never shown to buyers."
    if isinstance(params, ClockParams):
        return "The clock price is public; the buyer who accepts it wins at that price."
    if params.reveal_seconds is not None:
        return (
            "After the close every commitment and every reveal is published, so that anyone can check the "
            "outcome: your bid becomes public once the round closes."
        )
    return (
        "Bids stay sealed: after the close everyone sees the winner and the price it pays; the winning bid "
        "itself is shown only to the winner and the rights holder."
    )


def shown(event: RoundEvent, to: Audience) -> RoundEvent | None:
    """The event as shown to that audience; everyone in one audience sees the same thing."""
    payload = event.payload
    if to is Audience.NOBODY:
        return None
    if to is Audience.PARTY:
        return event
    if isinstance(payload, BidTaken):
        hidden: BidTaken | Revealed | Opened | Closed = msgspec.structs.replace(
            payload, bid_id=None, bidder=None, amount=None, digest=None, committed_at=None
        )
    elif isinstance(payload, Revealed):
        hidden = msgspec.structs.replace(payload, bid_id=None, bidder=None, amount=None)
    elif isinstance(payload, Opened) and isinstance(payload.params, NegotiationTerms):
        hidden = msgspec.structs.replace(payload, params=None)
    elif isinstance(payload, Closed) and payload.outcome is not None and not payload.commitments:
        hidden = msgspec.structs.replace(payload, outcome=public_outcome(payload.outcome))
    else:
        return event
    return msgspec.structs.replace(event, payload=hidden)


def event_for(event: RoundEvent, seller: UUID, watcher: Principal) -> RoundEvent | None:
    """The event as `watcher` may see it, or None when it is none of their business."""
    return shown(event, audience(event, seller, watcher))


def round_view(
    stored: StoredRound, *, bids: int, revealed: int, seq: int, watcher: Principal | None, now: datetime
) -> RoundView:
    """The round as it stands at `now` (the server's clock), for `watcher` (None: not signed in)."""
    round = stored.round
    params = round.params
    shown_params: RoundParams | None = params
    if isinstance(params, NegotiationTerms) and (watcher is None or watcher.organisation_id != round.seller):
        shown_params = None
    price = None
    if isinstance(params, ClockParams) and round.state is RoundState.OPEN:
        price = clock_price(round, now)
    return RoundView(
        id=round.id, track_id=round.track_id, seller=round.seller, mechanism=round.mechanism, usage=round.usage,
        currency=params.currency, params=shown_params, state=round.state, opens_at=round.opens_at,
        deadline=round.deadline, deadline_version=round.deadline_version, extensions=round.extensions,
        closes_at=stored.closes_at, bids=bids, revealed=revealed, seq=seq, server_time=now, clock_price=price,
        closed_at=stored.closed_at, outcome=_outcome_shown(stored, watcher), disclosure=disclosure(params),
    )  # fmt: skip


def _outcome_shown(stored: StoredRound, watcher: Principal | None) -> Outcome | None:
    params = stored.round.params
    if isinstance(params, SealedBidParams) and params.reveal_seconds is not None:
        return stored.outcome  # commit–reveal: published for verification
    return outcome_for(stored.outcome, stored.round.seller, watcher)
