"""Who sees what of a round: the same events and rounds, shown differently to each watcher.

Before a sealed round closes, a bid is shown only to the organisation that placed it; everyone
else (the rights holder included) sees the bid count and the deadline. The clock's price is shown
to all. A negotiation is shown only to its buyer and the round's rights holder, and the rights
holder's private range only to the rights holder. The close is shown to everyone.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from auction.clock import clock_price
from auction.live import (
    BidTaken,
    NegotiationMoved,
    Opened,
    Revealed,
    RoundEvent,
    RoundView,
    StoredRound,
)
from auction.model import ClockParams, NegotiationTerms, RoundParams, RoundState
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
    return Audience.PUBLIC


def shown(event: RoundEvent, to: Audience) -> RoundEvent | None:
    """The event as shown to that audience; everyone in one audience sees the same thing."""
    payload = event.payload
    if to is Audience.NOBODY:
        return None
    if to is Audience.PARTY:
        return event
    if isinstance(payload, BidTaken):
        hidden: BidTaken | Revealed | Opened = msgspec.structs.replace(
            payload, bid_id=None, bidder=None, amount=None, digest=None, committed_at=None
        )
    elif isinstance(payload, Revealed):
        hidden = msgspec.structs.replace(payload, bid_id=None, bidder=None, amount=None)
    elif isinstance(payload, Opened) and isinstance(payload.params, NegotiationTerms):
        hidden = msgspec.structs.replace(payload, params=None)
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
        closed_at=stored.closed_at, outcome=stored.outcome,
    )  # fmt: skip
