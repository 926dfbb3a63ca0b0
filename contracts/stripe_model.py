"""The nouns of paying through Stripe: a deal's card payment, each keyed Stripe side effect, connected accounts."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from rights.terms import Money


class CardPaymentStatus(enum.StrEnum):
    REQUESTED = "requested"  # our idempotency key is stored; Stripe may or may not have made the intent
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"  # the intent exists and waits for a card
    SUCCEEDED = "succeeded"
    REFUNDED = "refunded"


class CardPayment(msgspec.Struct, frozen=True, kw_only=True):
    """The one PaymentIntent of a deal, and when the payees' transfers fall due."""

    deal_id: UUID
    idempotency_key: str
    payment_intent_id: str | None
    client_secret: str | None
    amount: Money
    status: CardPaymentStatus
    charge_id: str | None
    last_error: str | None
    paid_at: datetime | None
    payouts_due_at: datetime | None
    payouts_settled: bool


class SideEffectKind(enum.StrEnum):
    TRANSFER = "transfer"
    REFUND = "refund"
    REVERSAL = "reversal"


class SideEffectState(enum.StrEnum):
    REQUESTED = "requested"  # the key is stored; the call may have happened
    DONE = "done"  # Stripe answered; its id is stored with the ledger change
    FAILED = "failed"  # Stripe refused; `failure` says why, and it waits for a person


class SideEffect(msgspec.Struct, frozen=True, kw_only=True):
    """One Stripe call that moves money, under the idempotency key every retry of it reuses."""

    idempotency_key: str
    deal_id: UUID
    kind: SideEffectKind
    organisation_id: UUID | None
    amount: Money
    stripe_id: str | None
    state: SideEffectState
    failure: str | None


class StripeAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A rights holder's connected Stripe account, as Stripe last described it."""

    organisation_id: UUID
    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool

    @property
    def can_receive_transfers(self) -> bool:
        return self.payouts_enabled and self.details_submitted


def payment_key(deal_id: UUID) -> str:
    return f"deal:{deal_id}:payment"


def transfer_key(deal_id: UUID, organisation_id: UUID) -> str:
    return f"deal:{deal_id}:transfer:{organisation_id}"


def refund_key(deal_id: UUID) -> str:
    return f"deal:{deal_id}:refund"


def reversal_key(deal_id: UUID, organisation_id: UUID) -> str:
    return f"deal:{deal_id}:reversal:{organisation_id}"


def account_key(organisation_id: UUID) -> str:
    return f"organisation:{organisation_id}:stripe-account"
