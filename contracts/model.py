"""The nouns of agreed licences: a deal struck by a round's close or an accepted negotiation."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from rights.terms import Money, Usage


class DealSource(enum.StrEnum):
    """What agreed the deal: a closed round's winner, or a negotiation both parties accepted."""

    ROUND = "round"
    NEGOTIATION = "negotiation"


class DealState(enum.StrEnum):
    PENDING = "pending"


class Deal(msgspec.Struct, frozen=True, kw_only=True):
    """A licence of `track_id` for `usage` from `seller` to `buyer` at `price`, awaiting settlement."""

    id: UUID
    source: DealSource
    source_id: UUID
    track_id: UUID
    seller: UUID
    buyer: UUID
    price: Money
    usage: Usage
    state: DealState
    created_at: datetime


class HoldSource(enum.StrEnum):
    """What holds a usage of a track: a live sale, or the deal one made."""

    ROUND = "round"
    NEGOTIATION = "negotiation"
    QUOTE = "quote"
    SALE = "sale"  # a fixed-price sale
    DEAL = "deal"


class UsageHold(msgspec.Struct, frozen=True, kw_only=True):
    """A usage of a track reserved by a live sale or a deal."""

    id: UUID
    track_id: UUID
    usage: Usage
    source: HoldSource
    source_id: UUID
    created_at: datetime
