"""Paying for deals through Stripe: the PaymentIntent, card confirmation, webhooks, refunds and payouts.

Every use case follows one pattern: a short transaction stores the idempotency key of the Stripe call
about to be made; the call happens with no database connection held; a second transaction records
Stripe's answer together with the ledger change it causes. A retry of any step, a duplicate webhook
or a synchronous confirmation racing its own webhook reuses the stored key or the payment reference,
so money moves once. Events are never trusted as they arrive: the object is read back from Stripe,
and a deal only moves forward.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

import asyncpg
import msgspec
from arq import ArqRedis

from contracts import service as deals
from contracts import stripe_store as store
from contracts.model import Deal, DealState
from contracts.payments import (
    CardDeclined,
    ConnectedAccount,
    Intent,
    PaymentRefused,
    StripeGateway,
)
from contracts.stripe_model import (
    CardPayment,
    CardPaymentStatus,
    SideEffectKind,
    SideEffectState,
    StripeAccount,
    account_key,
    payment_key,
    refund_key,
    reversal_key,
    transfer_key,
)
from rights.identity import Principal
from rights.terms import Money

log = logging.getLogger("contracts.stripe")

PAY_OUT_JOB = "pay_out_deal"
HANDLED_EVENTS = frozenset(
    {"payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "account.updated"}
)


class Received(enum.StrEnum):
    """What a webhook did: acted on, seen before, refunded (a payment no deal could take), or not ours to act on."""

    APPLIED = "applied"
    REPEAT = "repeat"
    REFUNDED = "refunded"
    IGNORED = "ignored"


class PaymentConflict(Exception):
    """The deal is not in a state this payment step can act on (409)."""

    status_code = 409


class UnknownPaymentEvent(ValueError):
    """A webhook about a payment no deal of ours made (400; nothing is stored)."""


class AfterCommit(Protocol):
    """What happens once a change is committed: tell the parties, and schedule the payees' transfers."""

    async def deal_changed(self, update: deals.DealUpdate) -> None: ...

    async def payouts_due(self, deal_id: UUID, at: datetime) -> None: ...


class PaymentStart(msgspec.Struct, frozen=True, kw_only=True):
    """What the buyer's page needs to pay: the PaymentIntent and its client secret."""

    deal_id: UUID
    payment_intent_id: str
    client_secret: str | None
    amount: Money
    status: CardPaymentStatus
    last_error: str | None


class WaitingPayout(msgspec.Struct, frozen=True, kw_only=True):
    deal_id: UUID
    amount: Money


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    """An organisation's connected account, and what waits for it to be able to receive transfers."""

    connected: bool
    account_id: str | None
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    waiting: list[WaitingPayout]


class Onboarding(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    url: str


class PayoutReport(msgspec.Struct, frozen=True, kw_only=True):
    transferred: int
    waiting_for_account: int
    failed: int


# ---- paying ------------------------------------------------------------------------------------


def _said(state: DealState) -> str:
    return state.value.replace("_", " ")


async def _payable_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Deal:
    deal = await deals.get_deal(conn, deal_id)
    if not (caller.acts_for(deal.buyer) or caller.acts_for(deal.seller)):
        raise deals.DealNotFound(f"no deal {deal_id}")
    if not caller.acts_for(deal.buyer):
        raise PermissionError("only the buying organisation pays for a deal")
    return deal


def _start(payment: CardPayment) -> PaymentStart:
    assert payment.payment_intent_id is not None
    return PaymentStart(
        deal_id=payment.deal_id, payment_intent_id=payment.payment_intent_id, client_secret=payment.client_secret,
        amount=payment.amount, status=payment.status, last_error=payment.last_error,
    )  # fmt: skip


async def start_payment(
    pool: asyncpg.Pool, gateway: StripeGateway, caller: Principal, deal_id: UUID, *, now: datetime
) -> PaymentStart:
    """The deal's one PaymentIntent, made now if need be. Repeating this returns the same intent."""
    async with pool.acquire() as conn, conn.transaction():
        deal = await _payable_deal(conn, caller, deal_id)
        if deal.state is not DealState.AWAITING_PAYMENT:
            raise PaymentConflict(
                f"this deal is {_said(deal.state)}; only a deal awaiting payment can be paid"
            )
        payment = await store.claim_card_payment(conn, deal.id, payment_key(deal.id), deal.price, now)
    if payment.payment_intent_id is not None:
        return _start(payment)
    intent = await gateway.create_payment_intent(
        amount=payment.amount, deal_id=str(deal.id), description=f"Licence, deal {deal.id}",
        idempotency_key=payment.idempotency_key,
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await store.link_intent(conn, deal.id, intent.id, intent.client_secret, now)
        linked = await store.card_payment(conn, deal.id)
    assert linked is not None
    return _start(linked)


async def confirm_payment(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, caller: Principal, deal_id: UUID,
    *, payment_method: str, now: datetime,
) -> Deal:  # fmt: skip
    """Pay with a card now (the demo's test cards): the deal is paid and licensed when this returns."""
    started = await start_payment(pool, gateway, caller, deal_id, now=now)
    try:
        intent = await gateway.confirm_payment_intent(
            started.payment_intent_id, payment_method=payment_method
        )
    except CardDeclined as declined:
        async with pool.acquire() as conn:
            await store.note_payment_failure(conn, deal_id, str(declined), now)
        raise
    except PaymentRefused:
        # Confirmed already (a retry after a lost answer, or its webhook got here first): ask Stripe.
        intent = await gateway.retrieve_payment_intent(started.payment_intent_id)
        if intent.status != "succeeded":
            raise
    if intent.status != "succeeded":
        raise PaymentConflict(
            f"the card needs more from its holder ({intent.status}); nothing was charged yet"
        )
    _, deal = await _apply_success(pool, gateway, after, intent, event=None, now=now)
    if deal is None:
        raise PaymentConflict(
            "the deal closed before the payment arrived; the card has been refunded in full"
        )
    return deal


async def _apply_success(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, intent: Intent, *,
    event: tuple[str, str] | None, now: datetime,
) -> tuple[Received, Deal | None]:  # fmt: skip
    """Record a succeeded PaymentIntent once, whichever path gets here first.

    A deal cancelled or expired before the money arrived cannot take it: the payment is refunded
    rather than kept for a licence nobody can have.
    """
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                payment = await _payment_of(conn, intent, now)
                if event is not None and not await store.remember_event(conn, *event, payment.deal_id, now):
                    return Received.REPEAT, None
                assert intent.charge_id is not None
                deal = await deals.record_payment(
                    conn, payment.deal_id, method="card", reference=intent.id, amount=intent.amount, now=now
                )
                due = now + timedelta(days=gateway.hold_days)
                await store.mark_succeeded(conn, payment.deal_id, intent.charge_id, now, due)
                update = await _update_of(conn, deal)
        except deals.DealConflict:
            log.warning(
                "a payment arrived for a deal that cannot take it; refunding", extra={"intent": intent.id}
            )
            closed = True
        else:
            closed = False
    if closed:
        await _refund_unapplied(pool, gateway, payment, event=event, now=now)
        return Received.REFUNDED, None
    await after.deal_changed(update)
    await after.payouts_due(deal.id, due)
    return Received.APPLIED, deal


async def _update_of(conn: asyncpg.Connection, deal: Deal) -> deals.DealUpdate:
    """What the parties are told: the deal's newest numbered event, with the deal as it now stands."""
    seq, kind, at = await store.latest_deal_event(conn, deal.id)
    return deals.DealUpdate(deal_id=deal.id, seq=seq, kind=kind, at=at, deal=deal)


async def _refund_unapplied(
    pool: asyncpg.Pool, gateway: StripeGateway, payment: CardPayment, *, event: tuple[str, str] | None,
    now: datetime,
) -> None:  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        effect = await store.claim_side_effect(
            conn, idempotency_key=refund_key(payment.deal_id), deal_id=payment.deal_id, kind=SideEffectKind.REFUND,
            organisation_id=None, amount=payment.amount, now=now,
        )  # fmt: skip
    if effect.state is not SideEffectState.DONE:
        assert payment.payment_intent_id is not None
        refund_id = await gateway.refund(payment.payment_intent_id, idempotency_key=effect.idempotency_key)
    async with pool.acquire() as conn, conn.transaction():
        if effect.state is not SideEffectState.DONE:
            await store.side_effect_done(conn, effect.idempotency_key, refund_id, now)
        await store.note_payment_failure(
            conn, payment.deal_id, "refunded: the deal had closed before payment", now
        )
        if event is not None:
            await store.remember_event(conn, *event, payment.deal_id, now)


async def _payment_of(conn: asyncpg.Connection, intent: Intent, now: datetime) -> CardPayment:
    """Our card payment for this intent: by its id, or by the deal its metadata names (a lost link)."""
    payment = await store.card_payment_by_intent(conn, intent.id)
    if payment is None and intent.deal_id is not None:
        try:
            candidate = await store.card_payment(conn, UUID(intent.deal_id), for_update=True)
        except ValueError:
            candidate = None
        if candidate is not None and candidate.payment_intent_id is None:
            await store.link_intent(conn, candidate.deal_id, intent.id, intent.client_secret, now)
            payment = await store.card_payment(conn, candidate.deal_id)
    if payment is None:
        raise UnknownPaymentEvent(f"no deal of ours was paid by {intent.id}")
    return payment


# ---- webhooks ----------------------------------------------------------------------------------


async def apply_webhook(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, payload: bytes, signature: str | None,
    *, now: datetime,
) -> Received:  # fmt: skip
    """Verify, then act on what Stripe holds now (not on the event's copy); answers what was done."""
    event = gateway.verify_webhook(payload, signature)
    kind, event_id = str(event.type), str(event.id)
    if kind not in HANDLED_EVENTS:
        return Received.IGNORED
    object_id = str(event.data.object["id"])
    seen = (event_id, kind)
    if kind.startswith("payment_intent."):
        intent = await gateway.retrieve_payment_intent(object_id)
        if intent.status == "succeeded":  # whichever event this is, the intent has been paid
            received, _ = await _apply_success(pool, gateway, after, intent, event=seen, now=now)
            return received
        async with pool.acquire() as conn, conn.transaction():
            payment = await _payment_of(conn, intent, now)
            if not await store.remember_event(conn, *seen, payment.deal_id, now):
                return Received.REPEAT
            if intent.failure is not None:
                await store.note_payment_failure(conn, payment.deal_id, intent.failure, now)
        return Received.APPLIED
    if kind == "charge.refunded":
        charge = await gateway.retrieve_charge(object_id)
        if charge.payment_intent_id is None:
            raise UnknownPaymentEvent(f"no deal of ours was paid by {charge.id}")
        intent = await gateway.retrieve_payment_intent(charge.payment_intent_id)
        reference = (charge.refund_id or charge.id) if charge.refunded else None
        refunded = await _apply_refund(pool, gateway, after, intent, reference,
                                       event=seen, now=now)  # fmt: skip
        return Received.APPLIED if refunded else Received.REPEAT
    return await _apply_account_update(pool, gateway, after, object_id, seen, now=now)


async def _apply_account_update(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, account_id: str, seen: tuple[str, str],
    *, now: datetime,
) -> Received:  # fmt: skip
    account = await gateway.retrieve_account(account_id)
    async with pool.acquire() as conn, conn.transaction():
        organisation_id = await store.organisation_of_account(conn, account_id)
        if organisation_id is None:
            return Received.IGNORED  # an account made outside the marketplace
        if not await store.remember_event(conn, *seen, None, now):
            return Received.REPEAT
        await store.save_account(conn, _stored(organisation_id, account), now)
    if account.can_receive_transfers:
        await _schedule_waiting(pool, after, now)
    return Received.APPLIED


# ---- refunds -----------------------------------------------------------------------------------


async def refund_deal(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, caller: Principal, deal_id: UUID,
    *, now: datetime,
) -> Deal:  # fmt: skip
    """Refund the buyer in full (the seller's decision): transfers are reversed and the licence revoked."""
    async with pool.acquire() as conn, conn.transaction():
        deal = await deals.get_deal(conn, deal_id)
        if not (caller.acts_for(deal.buyer) or caller.acts_for(deal.seller)):
            raise deals.DealNotFound(f"no deal {deal_id}")
        if not caller.acts_for(deal.seller):
            raise PermissionError("only the selling organisation can refund a deal")
        payment = await store.card_payment(conn, deal_id, for_update=True)
        if (
            deal.state not in {DealState.PAID, DealState.LICENSED}
            or payment is None
            or payment.payment_intent_id is None
        ):
            raise PaymentConflict(
                f"this deal is {_said(deal.state)}; only a deal paid by card can be refunded"
            )
        effect = await store.claim_side_effect(
            conn, idempotency_key=refund_key(deal_id), deal_id=deal_id, kind=SideEffectKind.REFUND,
            organisation_id=None, amount=payment.amount, now=now,
        )  # fmt: skip
    refund_id = effect.stripe_id or await gateway.refund(
        payment.payment_intent_id, idempotency_key=effect.idempotency_key
    )
    intent = await gateway.retrieve_payment_intent(payment.payment_intent_id)
    await _apply_refund(pool, gateway, after, intent, refund_id, event=None, now=now)
    async with pool.acquire() as conn:
        return await deals.get_deal(conn, deal_id)


async def _apply_refund(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, intent: Intent, reference: str | None,
    *, event: tuple[str, str] | None, now: datetime,
) -> bool:  # fmt: skip
    """Record a full refund once (`reference` None: only part refunded, nothing to do); False for a repeat.

    Transfers to payees are reversed first, as the ledger asks; a reversal Stripe refuses leaves the
    refund unrecorded (409) and visible, so a retry or a person can finish it.
    """
    async with pool.acquire() as conn:
        payment = await _payment_of(conn, intent, now)
    if reference is not None and payment.status is CardPaymentStatus.SUCCEEDED:
        await reverse_transfers(pool, gateway, payment.deal_id, now=now)
    async with pool.acquire() as conn, conn.transaction():
        payment = await _payment_of(conn, intent, now)
        if event is not None and not await store.remember_event(conn, *event, payment.deal_id, now):
            return False
        if reference is None or payment.status is not CardPaymentStatus.SUCCEEDED:
            return event is not None
        effect = await store.claim_side_effect(
            conn, idempotency_key=refund_key(payment.deal_id), deal_id=payment.deal_id, kind=SideEffectKind.REFUND,
            organisation_id=None, amount=payment.amount, now=now,
        )  # fmt: skip
        reference = effect.stripe_id or reference
        await store.side_effect_done(conn, effect.idempotency_key, reference, now)
        deal = await deals.record_refund(conn, payment.deal_id, reference=reference, now=now)
        await store.mark_refunded(conn, payment.deal_id, now)
        update = await _update_of(conn, deal)
    await after.deal_changed(update)
    return True


async def reverse_transfers(
    pool: asyncpg.Pool, gateway: StripeGateway, deal_id: UUID, *, now: datetime
) -> int:
    """Take back every transfer a refunded deal made; a refused reversal stays visible as failed."""
    async with pool.acquire() as conn:
        transfers = await store.side_effects(conn, deal_id, SideEffectKind.TRANSFER)
    reversed_count = 0
    for transfer in transfers:
        if transfer.state is not SideEffectState.DONE or transfer.organisation_id is None:
            continue
        assert transfer.stripe_id is not None
        key = reversal_key(deal_id, transfer.organisation_id)
        async with pool.acquire() as conn, conn.transaction():
            effect = await store.claim_side_effect(
                conn, idempotency_key=key, deal_id=deal_id, kind=SideEffectKind.REVERSAL,
                organisation_id=transfer.organisation_id, amount=transfer.amount, now=now,
            )  # fmt: skip
        if effect.state is SideEffectState.DONE:
            continue
        try:
            reversal_id = await gateway.reverse_transfer(
                transfer.stripe_id, amount=transfer.amount, idempotency_key=key
            )
        except PaymentRefused as refused:
            async with pool.acquire() as conn:
                await store.side_effect_failed(conn, key, str(refused), now)
            log.error("a transfer reversal was refused", extra={"deal": str(deal_id), "reason": str(refused)})
            continue
        async with pool.acquire() as conn, conn.transaction():
            if await store.side_effect_done(conn, key, reversal_id, now):
                await deals.record_transfer(
                    conn, deal_id, organisation_id=transfer.organisation_id, amount=transfer.amount,
                    reference=reversal_id, now=now, reversal=True,
                )  # fmt: skip
                reversed_count += 1
    return reversed_count


# ---- payouts -----------------------------------------------------------------------------------


async def pay_out_deal(
    pool: asyncpg.Pool, gateway: StripeGateway, deal_id: UUID, *, now: datetime
) -> PayoutReport:
    """Transfer each payee organisation its share once the hold is over; a payee without an account waits."""
    async with pool.acquire() as conn:
        payment = await store.card_payment(conn, deal_id)
        if (
            payment is None or payment.status is not CardPaymentStatus.SUCCEEDED or payment.payouts_settled
            or payment.payouts_due_at is None or payment.payouts_due_at > now
        ):  # fmt: skip
            return PayoutReport(transferred=0, waiting_for_account=0, failed=0)
        owed = await _owed(conn, deal_id)
        accounts = await store.accounts_of(conn, list(owed))
    transferred = waiting = failed = 0
    for organisation_id, amount in owed.items():
        account = accounts.get(organisation_id)
        if account is None or not account.can_receive_transfers:
            waiting += 1
            continue
        assert payment.charge_id is not None
        done = await _transfer(
            pool, gateway, payment, organisation_id, account, Money(amount, payment.amount.currency), now=now
        )
        transferred, failed = transferred + done, failed + (not done)
    if not waiting and not failed:
        async with pool.acquire() as conn:
            await store.mark_payouts_settled(conn, deal_id, now)
    return PayoutReport(transferred=transferred, waiting_for_account=waiting, failed=failed)


async def _owed(conn: asyncpg.Connection, deal_id: UUID) -> dict[UUID, int]:
    """What each payee organisation is still to be transferred for the deal."""
    owed: dict[UUID, int] = defaultdict(int)
    for line in await deals.payable_payees(conn, deal_id):
        if line.organisation_id is not None and line.amount > 0:
            owed[line.organisation_id] += int(line.amount)  # SQL sums may come back as Decimal
    for effect in await store.side_effects(conn, deal_id, SideEffectKind.TRANSFER):
        if effect.state is SideEffectState.DONE and effect.organisation_id in owed:
            del owed[effect.organisation_id]
    return dict(owed)


async def _transfer(
    pool: asyncpg.Pool, gateway: StripeGateway, payment: CardPayment, organisation_id: UUID,
    account: StripeAccount, amount: Money, *, now: datetime,
) -> bool:  # fmt: skip
    deal_id = payment.deal_id
    key = transfer_key(deal_id, organisation_id)
    async with pool.acquire() as conn, conn.transaction():
        effect = await store.claim_side_effect(
            conn, idempotency_key=key, deal_id=deal_id, kind=SideEffectKind.TRANSFER,
            organisation_id=organisation_id, amount=amount, now=now,
        )  # fmt: skip
    assert payment.charge_id is not None
    try:
        transfer_id = await gateway.transfer(
            amount=effect.amount, destination=account.account_id, source_charge=payment.charge_id,
            transfer_group=str(deal_id), idempotency_key=key,
        )  # fmt: skip
    except PaymentRefused as refused:
        async with pool.acquire() as conn:
            await store.side_effect_failed(conn, key, str(refused), now)
        log.error("a transfer was refused", extra={"deal": str(deal_id), "reason": str(refused)})
        return False
    async with pool.acquire() as conn, conn.transaction():
        current = await store.card_payment(conn, deal_id, for_update=True)  # a refund locks it too
        refunded = current is not None and current.status is CardPaymentStatus.REFUNDED
        if await store.side_effect_done(conn, key, transfer_id, now) and not refunded:
            await deals.record_transfer(
                conn,
                deal_id,
                organisation_id=organisation_id,
                amount=effect.amount,
                reference=transfer_id,
                now=now,
            )
    if refunded:  # the buyer was refunded while this transfer was in flight: take it straight back
        await _take_back(pool, gateway, deal_id, organisation_id, transfer_id, effect.amount, now=now)
        return False
    return True


async def _take_back(
    pool: asyncpg.Pool, gateway: StripeGateway, deal_id: UUID, organisation_id: UUID, transfer_id: str,
    amount: Money, *, now: datetime,
) -> None:  # fmt: skip
    """Reverse a transfer the ledger never recorded (it arrived after the refund), so neither is posted."""
    key = reversal_key(deal_id, organisation_id)
    async with pool.acquire() as conn:
        await store.claim_side_effect(
            conn, idempotency_key=key, deal_id=deal_id, kind=SideEffectKind.REVERSAL,
            organisation_id=organisation_id, amount=amount, now=now,
        )  # fmt: skip
    try:
        reversal_id = await gateway.reverse_transfer(transfer_id, amount=amount, idempotency_key=key)
    except PaymentRefused as refused:
        async with pool.acquire() as conn:
            await store.side_effect_failed(conn, key, str(refused), now)
        log.error("a transfer made after a refund could not be reversed", extra={"deal": str(deal_id)})
        return
    async with pool.acquire() as conn:
        await store.side_effect_done(conn, key, reversal_id, now)


async def pay_out_due(pool: asyncpg.Pool, gateway: StripeGateway, *, now: datetime) -> int:
    """The sweep: every deal whose hold is over and whose payees are not all paid (timers can be lost)."""
    async with pool.acquire() as conn:
        due = await store.payouts_due(conn, now)
    transferred = 0
    for deal_id in due:
        transferred += (await pay_out_deal(pool, gateway, deal_id, now=now)).transferred
    return transferred


async def schedule_payouts(jobs: ArqRedis, deal_id: UUID, at: datetime) -> None:
    """One timer per deal and due time (arq drops a second job with the same id); the sweep backs it up."""
    await jobs.enqueue_job(
        PAY_OUT_JOB, str(deal_id), _job_id=f"payouts:{deal_id}:{int(at.timestamp())}", _defer_until=at
    )


async def _schedule_waiting(pool: asyncpg.Pool, after: AfterCommit, now: datetime) -> None:
    async with pool.acquire() as conn:
        due = await store.payouts_due(conn, now)
    for deal_id in due:
        await after.payouts_due(deal_id, now)


# ---- connected accounts ------------------------------------------------------------------------


def _stored(organisation_id: UUID, account: ConnectedAccount) -> StripeAccount:
    return StripeAccount(
        organisation_id=organisation_id, account_id=account.id, charges_enabled=account.charges_enabled,
        payouts_enabled=account.payouts_enabled, details_submitted=account.details_submitted,
    )  # fmt: skip


async def connect_account(
    pool: asyncpg.Pool, gateway: StripeGateway, caller: Principal, *, return_url: str, refresh_url: str,
    now: datetime,
) -> Onboarding:  # fmt: skip
    """The organisation's connected account (made once) and a fresh onboarding link for it."""
    async with pool.acquire() as conn:
        account = await store.account_of(conn, caller.organisation_id)
    if account is None:
        made = await gateway.create_account(
            organisation_id=str(caller.organisation_id), idempotency_key=account_key(caller.organisation_id)
        )
        async with pool.acquire() as conn:
            account = await store.save_account(conn, _stored(caller.organisation_id, made), now)
    url = await gateway.onboarding_link(account.account_id, return_url=return_url, refresh_url=refresh_url)
    return Onboarding(account_id=account.account_id, url=url)


async def account_status(
    pool: asyncpg.Pool, gateway: StripeGateway, after: AfterCommit, caller: Principal, *, now: datetime
) -> AccountView:
    """The account as Stripe has it now; when it has just become able to receive, waiting payouts go."""
    async with pool.acquire() as conn:
        stored = await store.account_of(conn, caller.organisation_id)
    if stored is not None:
        fresh = _stored(caller.organisation_id, await gateway.retrieve_account(stored.account_id))
        async with pool.acquire() as conn:
            stored = await store.save_account(conn, fresh, now)
            waiting = await _waiting_for(conn, caller.organisation_id)
        if stored.can_receive_transfers and waiting:
            await _schedule_waiting(pool, after, now)
    else:
        async with pool.acquire() as conn:
            waiting = await _waiting_for(conn, caller.organisation_id)
    return AccountView(
        connected=stored is not None, account_id=stored.account_id if stored else None,
        charges_enabled=bool(stored and stored.charges_enabled), payouts_enabled=bool(stored and stored.payouts_enabled),
        details_submitted=bool(stored and stored.details_submitted), waiting=waiting,
    )  # fmt: skip


async def _waiting_for(conn: asyncpg.Connection, organisation_id: UUID) -> list[WaitingPayout]:
    """The organisation's shares of paid deals not transferred yet (the hold, or no account to pay into)."""
    waiting = []
    for payment in await store.unsettled_payments(conn):
        owed = (await _owed(conn, payment.deal_id)).get(organisation_id)
        if owed:
            waiting.append(
                WaitingPayout(deal_id=payment.deal_id, amount=Money(owed, payment.amount.currency))
            )
    return waiting
