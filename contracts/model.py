"""The nouns of settlement: deals, their payees, consent requests, quotes and payout lines."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from rights.pricing import PriceLine
from rights.terms import Money, Usage

FULL_SHARE_BPS = 10_000


class DealSource(enum.StrEnum):
    """What agreed the deal: a closed round's winner, an accepted negotiation, or an accepted quote."""

    ROUND = "round"
    NEGOTIATION = "negotiation"
    QUOTE = "quote"


class DealState(enum.StrEnum):
    """Where a deal is in its life: awaiting_consent → awaiting_payment → paid → licensed, or an end."""

    AWAITING_CONSENT = "awaiting_consent"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    LICENSED = "licensed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class DealEvent(enum.StrEnum):
    """What can happen to a deal; `contracts.deals.transition` says which state each one leads to."""

    CONSENTED = "consented"  # the last co-owner still asked approved
    DECLINED = "declined"  # a co-owner declined
    CONSENT_TIMED_OUT = "consent_timed_out"  # a co-owner did not answer before the deadline
    PAYMENT_RECEIVED = "payment_received"
    PAYMENT_TIMED_OUT = "payment_timed_out"  # unpaid after the payment deadline
    LICENCE_ISSUED = "licence_issued"
    REFUNDED = "refunded"


class Side(enum.StrEnum):
    MASTER = "master"
    PUBLISHING = "publishing"


class Payee(msgspec.Struct, frozen=True, kw_only=True):
    """One rights holder's cut of a deal's fee, as it stood when the deal was made.

    `share_bps` is basis points of the whole fee: the payees of one deal sum to 10,000.
    `organisation_id` is None for a party that is not a marketplace member (its share waits).
    """

    organisation_id: UUID | None
    party_id: UUID
    party_name: str
    side: str
    territory: str
    share_bps: int


class ConsentStatus(enum.StrEnum):
    BY_POLICY = "by_policy"  # the co-owner's own policy already covers this deal
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"


class Deal(msgspec.Struct, frozen=True, kw_only=True):
    """A licence of `track_id` for `usage` from `seller` to `buyer` at `price`, and where it stands."""

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
    payees: tuple[Payee, ...] = ()
    payment_due_at: datetime | None = None
    consent_due_at: datetime | None = None
    payment_reference: str | None = None

    def organisations(self) -> frozenset[UUID]:
        """Every organisation party to the deal: buyer, seller and each payee that is a member."""
        payee_orgs = {p.organisation_id for p in self.payees if p.organisation_id is not None}
        return frozenset({self.buyer, self.seller, *payee_orgs})


class ConsentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A co-owner's answer (or the wait for it) to a deal its policy does not already cover."""

    id: UUID
    deal_id: UUID
    party_id: UUID
    party_name: str
    organisation_id: UUID | None
    status: ConsentStatus
    reason: str
    due_at: datetime | None
    answered_at: datetime | None = None


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """A price offered to a buyer for a usage, valid until `expires_at`; accepting it makes a deal."""

    id: UUID
    track_id: UUID
    buyer: UUID
    usage: Usage
    price: Money
    breakdown: tuple[PriceLine, ...]
    dynamic: bool
    policy_fingerprint: str
    created_at: datetime
    expires_at: datetime
    deal_id: UUID | None = None


class PayoutLine(msgspec.Struct, frozen=True, kw_only=True):
    """An amount of a deal's fee owed to one party (`party_id` None and no organisation: the platform)."""

    organisation_id: UUID | None
    party_id: UUID | None
    amount: int
