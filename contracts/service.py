"""Deal use cases: make deals (from rounds, negotiations, quotes), consent, payment, refunds, transfers, earnings.

Every transition is one transaction that locks the deal, asks `contracts.deals.transition`, writes
the new state, appends the deal's numbered event and its audit record. Functions that other
packages call inside their own transaction (`create_deal`, `record_payment`, `record_refund`,
`record_transfer`) open a savepoint and leave publishing to the caller; the use cases this package
serves itself publish through a `Notifier` after their commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
from arq.constants import default_queue_name

from contracts import licences, store
from contracts.consent import consents_needed
from contracts.deals import FINAL_STATES, DealTransitionRefused, transition
from contracts.model import (
    ConsentRequest,
    ConsentStatus,
    Deal,
    DealEvent,
    DealSource,
    DealState,
    HoldSource,
    PayoutLine,
    Quote,
    SettlementTerms,
    UsageHold,
)
from contracts.payees import payees_for
from contracts.payouts import split_fee
from rights import service as rights
from rights.audit import append_audit
from rights.clearance import Outcome, clear, policy_for
from rights.identity import Principal
from rights.model import Mechanism, TrackRights
from rights.overlap import describe_usage, exclusive_conflict
from rights.pooling import Connect
from rights.pricing import Demand, PriceLine, PriceQuote, list_price, with_demand
from rights.terms import Money, TermsError, Usage

log = logging.getLogger("contracts.service")

DEADLINE_JOB = "contracts.deal_deadline"


class DealNotFound(LookupError):
    """No deal with that id, or none the caller is a party to (404)."""

    status_code = 404


class DealConflict(ValueError):
    """The deal's state does not allow this, or the payment does not match it (409)."""

    status_code = 409


class QuoteNotFound(LookupError):
    """No quote with that id for the caller's organisation (404)."""

    status_code = 404


class NotYourConsent(PermissionError):
    """The caller's organisation is not a co-owner asked about this deal (403)."""


@dataclass
class _Configured:
    terms: SettlementTerms


_configured = _Configured(SettlementTerms())


def configure(terms: SettlementTerms) -> None:
    """Set the settlement settings once at start-up (the composition root reads them from the environment)."""
    _configured.terms = terms


def settlement_terms() -> SettlementTerms:
    """The settlement settings in force (the platform fee the chain's split must use, among others)."""
    return _configured.terms


# ---------------------------------------------------------------- after the commit


def deal_channel(deal_id: UUID) -> str:
    return f"deals:{deal_id}"


def organisation_channel(organisation_id: UUID) -> str:
    return f"organisations:{organisation_id}:deals"


class DealUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """What the parties are told after a deal changed: the event, its number and the deal as it now stands."""

    deal_id: UUID
    seq: int
    kind: str
    at: datetime
    deal: Deal


Publish = Callable[[str, bytes], Awaitable[Any]]


@dataclass(frozen=True)
class Notifier:
    """Publishes committed deal updates to the deal's and its organisations' channels and sets deadline timers.

    Failures are logged, not raised: the commit is the truth, clients re-read the deal, and the sweep
    enforces every deadline whatever became of its timer.
    """

    publish: Publish
    jobs: Any  # arq.ArqRedis

    async def updates(self, updates: Sequence[DealUpdate]) -> None:
        for update in updates:
            for name, frame in self.frames(update):
                try:
                    await self.publish(name, frame)
                except Exception:
                    log.warning("publishing a deal update failed", exc_info=True, extra={"channel": name})
            await self.deadline(update.deal)

    @staticmethod
    def frames(update: DealUpdate) -> list[tuple[str, bytes]]:
        """The update for the deal's channel and each of its organisations' (channel, frame)."""
        frame = msgspec.json.encode(update)
        names = [
            deal_channel(update.deal_id),
            *map(organisation_channel, sorted(update.deal.organisations())),
        ]
        return [(name, frame) for name in names]

    async def deadline(self, deal: Deal) -> None:
        due = _due(deal)
        if due is None:
            return
        try:
            # Always the default queue: a pool borrowed from a worker on another queue (a burst worker
            # draining one) would otherwise park a days-long timer there and never finish.
            await self.jobs.enqueue_job(
                DEADLINE_JOB,
                str(deal.id),
                _job_id=f"deal-deadline:{deal.id}:{deal.state}",
                _defer_until=due,
                _queue_name=default_queue_name,
            )
        except Exception:
            log.warning("scheduling a deal deadline failed", exc_info=True, extra={"deal_id": str(deal.id)})


def _due(deal: Deal) -> datetime | None:
    if deal.state is DealState.AWAITING_CONSENT:
        return deal.consent_due_at
    if deal.state is DealState.AWAITING_PAYMENT:
        return deal.payment_due_at
    return None


# ---------------------------------------------------------------- transitions


async def _locked(conn: asyncpg.Connection, deal_id: UUID) -> Deal:
    found = await store.deal(conn, deal_id, for_update=True)
    if found is None:
        raise DealNotFound(f"no deal {deal_id}")
    return found


async def _record(
    conn: asyncpg.Connection,
    deal: Deal,
    kind: DealEvent | str,
    payload: Any,
    actor: UUID | None,
    now: datetime,
) -> DealUpdate:
    """The deal's numbered event and its audit record, for a change already written."""
    seq = await store.append_event(conn, deal.id, kind, deal.state, payload, actor, now)
    await append_audit(conn, "deal", deal.id, str(kind), {"state": deal.state, "seq": seq, **payload}, actor)
    return DealUpdate(deal_id=deal.id, seq=seq, kind=str(kind), at=now, deal=deal)


async def _move(
    conn: asyncpg.Connection, deal: Deal, event: DealEvent, now: datetime, actor: UUID | None,
    payload: dict[str, Any] | None = None,
) -> tuple[Deal, DealUpdate]:  # fmt: skip
    """Apply `event` to a locked deal: the pure transition, the new state, its event."""
    try:
        state = transition(deal.state, event)
    except DealTransitionRefused as refused:
        raise DealConflict(str(refused)) from refused
    payment_due = None
    if state is DealState.AWAITING_PAYMENT:
        payment_due = now + timedelta(hours=_configured.terms.payment_hours)
    moved = await store.set_state(conn, deal.id, state, now, payment_due_at=payment_due)
    if state in FINAL_STATES:
        await release_hold(conn, HoldSource.DEAL, deal.id)  # frees any exclusivity the deal held
    return moved, await _record(conn, moved, event, payload or {}, actor, now)


# ---------------------------------------------------------------- usage holds
# One rule keeps an exclusive licence from being sold twice: every sale path takes a usage hold
# through `hold_usage` when it opens, the deal it makes keeps the hold, and a sale that ends
# without a deal, or a deal that is cancelled, expires or is refunded, lets go with `release_hold`.


class UsageUnavailable(ValueError):
    """The usage cannot be put on sale: clearance does not allow it now, or another sale or deal holds it (409)."""

    status_code = 409


_HELD_BY = {
    HoldSource.ROUND: "on sale in round {}",
    HoldSource.NEGOTIATION: "under negotiation in {}",
    HoldSource.QUOTE: "quoted in quote {}",
    HoldSource.SALE: "on sale at a fixed price in sale {}",
    HoldSource.DEAL: "already agreed in deal {}",
}


async def hold_usage(
    conn: asyncpg.Connection, track_id: UUID, usage: Usage, source: HoldSource, source_id: UUID, now: datetime,
    *, mechanism: Mechanism | None = None,
) -> UsageHold:  # fmt: skip
    """Reserve `usage` of the track for a sale that opens now, inside the caller's transaction.

    Refused (409, with a sentence) unless clearance says the usage is clearable now (by `mechanism`, when
    named) and no live sale or deal holds an overlapping usage where either side is exclusive. The track
    is locked while deciding, so two sales opening at once cannot both pass.
    """
    async with conn.transaction():
        await store.lock_track_holds(conn, track_id)
        clearance = await rights.clearance(conn, track_id, usage)
        if clearance.outcome is not Outcome.CLEARABLE_NOW:
            raise UsageUnavailable(
                f"{_capitalised(describe_usage(usage))} cannot be sold now: {'; '.join(clearance.reasons)}"
            )
        if mechanism is not None and mechanism not in clearance.mechanisms:
            offered = ", ".join(m.value.replace("_", " ") for m in clearance.mechanisms)
            raise UsageUnavailable(
                f"the rights holders license {usage.media.value.replace('_', ' ')} by {offered}, "
                f"not by {mechanism.value.replace('_', ' ')}"
            )
        return await _take_hold(conn, track_id, usage, source, source_id, now)


async def release_hold(conn: asyncpg.Connection, source: HoldSource, source_id: UUID) -> None:
    """Let go of the usage a sale or deal held: a round closed with no winner, a negotiation or quote ended
    without a deal, or a deal was cancelled, expired or refunded. Releasing twice does nothing."""
    await store.release_hold(conn, source, source_id, None)


async def _take_hold(
    conn: asyncpg.Connection, track_id: UUID, usage: Usage, source: HoldSource, source_id: UUID, now: datetime
) -> UsageHold:
    await store.lock_track_holds(conn, track_id)
    for held in await store.live_holds(conn, track_id):
        if exclusive_conflict(usage, held.usage):
            raise UsageUnavailable(
                f"{_capitalised(describe_usage(usage))} cannot be sold: it overlaps {describe_usage(held.usage)} "
                f"{_HELD_BY[held.source].format(held.source_id)}"
            )
    hold = UsageHold(
        id=uuid4(), track_id=track_id, usage=usage, source=source, source_id=source_id, created_at=now
    )
    await store.insert_hold(conn, hold)
    return hold


async def _pass_hold_to_deal(
    conn: asyncpg.Connection, deal: Deal, held_by: tuple[HoldSource, UUID] | None
) -> None:
    """The deal keeps the usage its sale held (an exclusive sale's hold ends there: it sold its one licence).
    When the sale's hold is gone already, the deal takes one of its own through the same overlap rule.

    Taking over decides no overlap (the usage is held already), so it locks the sale's hold alone, not
    the track's holds: deals from many rounds on one track are made side by side."""
    sale_hold = None if held_by is None else await store.lock_live_hold(conn, *held_by)
    if sale_hold is None:
        await _take_hold(conn, deal.track_id, deal.usage, HoldSource.DEAL, deal.id, deal.created_at)
        return
    hold = UsageHold(id=uuid4(), track_id=deal.track_id, usage=deal.usage, source=HoldSource.DEAL, source_id=deal.id,
                     created_at=deal.created_at)  # fmt: skip
    await store.insert_hold(conn, hold)
    if deal.usage.exclusive:
        await store.release_hold(conn, sale_hold.source, sale_hold.source_id, deal.created_at)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------- making deals


async def create_deal(
    conn: asyncpg.Connection,
    *,
    source: DealSource,
    source_id: UUID,
    track_id: UUID,
    seller: UUID,
    buyer: UUID,
    price: Money,
    usage: Usage,
    mechanism: Mechanism,
    agreed_at: datetime,
    actor: UUID | None,
    held_by: tuple[HoldSource, UUID] | None = None,
    deal_id: UUID | None = None,
) -> Deal:
    """Record a deal a round's close, an accepted negotiation or an accepted quote struck (with `deal_id`
    when its id was announced before it was made).

    Runs inside the caller's transaction (a savepoint), so the deal exists exactly when what made it
    does; a second call for the same source returns the deal already recorded. The payees are a
    snapshot of the ownership picture now; co-owners whose policy does not cover the deal are asked,
    and the deal waits for them (or, when nobody needs asking, for payment). The deal takes over the
    usage hold of the sale `held_by` names, or takes one of its own (409 when another sale or deal
    holds an overlapping exclusive usage).
    """
    async with conn.transaction():
        existing = await store.deal_from(conn, source, source_id)
        if existing is not None:
            return existing
        track_rights = await rights.track_rights(conn, track_id)
        seller_name = (await store.organisation_names(conn, [seller])).get(seller, "the seller")
        terms = _configured.terms
        payees = payees_for(
            track_rights,
            usage,
            master_share_bps=terms.master_share_bps,
            seller=seller,
            seller_name=seller_name,
        )
        needs = consents_needed(
            payees, track_rights, seller=seller, usage=usage, mechanism=mechanism, price=price
        )
        asking = any(need.status is ConsentStatus.REQUESTED for need in needs)
        consent_due = agreed_at + timedelta(hours=terms.consent_hours) if asking else None
        deal = await store.insert_deal(
            conn,
            Deal(
                id=deal_id or uuid4(), source=source, source_id=source_id, track_id=track_id, seller=seller, buyer=buyer,
                price=price, usage=usage, created_at=agreed_at, payees=payees, consent_due_at=consent_due,
                state=DealState.AWAITING_CONSENT if asking else DealState.AWAITING_PAYMENT,
                payment_due_at=None if asking else agreed_at + timedelta(hours=terms.payment_hours),
            ),
        )  # fmt: skip
        consents = [
            ConsentRequest(
                id=uuid4(), deal_id=deal.id, party_id=need.party_id, party_name=need.party_name,
                organisation_id=need.organisation_id, status=need.status, reason=need.reason,
                due_at=consent_due if need.status is ConsentStatus.REQUESTED else None,
                answered_at=None if need.status is ConsentStatus.REQUESTED else agreed_at,
            )
            for need in needs
        ]  # fmt: skip
        await store.insert_consents(conn, consents)
        await _pass_hold_to_deal(conn, deal, held_by)
        await _record(
            conn, deal, "created",
            {"source": source, "source_id": source_id, "track_id": track_id, "buyer": buyer, "seller": seller,
             "mechanism": mechanism, "price": price, "usage": usage, "payees": payees,
             "consents": [msgspec.to_builtins(c) for c in consents]},
            actor, agreed_at,
        )  # fmt: skip
    return deal


async def deal_created(conn: asyncpg.Connection, deal_id: UUID) -> DealUpdate:
    """The update that announces a new deal (a round's close, a negotiation, a quote) to its parties and
    sets its timer (`Notifier.updates`). Read inside the transaction that made the deal, so it is told
    after the commit without holding a connection while Redis answers."""
    deal = await get_deal(conn, deal_id)
    return DealUpdate(deal_id=deal.id, seq=1, kind="created", at=deal.created_at, deal=deal)


# ---------------------------------------------------------------- reading deals


class DealView(msgspec.Struct, frozen=True, kw_only=True):
    """A deal as its parties see it: the deal, each co-owner's consent, and its licence once issued
    (the id anyone verifies at /api/licences/{id}/verify)."""

    deal: Deal
    consents: tuple[ConsentRequest, ...]
    licence_id: UUID | None = None


async def get_deal(conn: asyncpg.Connection, deal_id: UUID) -> Deal:
    """The deal, whoever asks (for other packages; handlers use `deal_for`)."""
    found = await store.deal(conn, deal_id)
    if found is None:
        raise DealNotFound(f"no deal {deal_id}")
    return found


async def deals_disagreeing_with_audit(
    conn: asyncpg.Connection, limit: int = 100
) -> tuple[int, list[tuple[str, str]]]:
    """(deals checked, those that differ from their audited `created` event with the reason)."""
    return await store.deal_count(conn), await store.deals_disagreeing_with_audit(conn, limit)


async def deal_for(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> DealView:
    """A deal the caller's organisation is party to, with its consents; 404 to anyone else."""
    found = await store.deal(conn, deal_id)
    if found is None or not found.is_read_by(caller):
        raise DealNotFound(f"no deal {deal_id}")
    issued = await store.licence_of_deal(conn, deal_id)
    return DealView(
        deal=found,
        consents=tuple(await store.consents_of(conn, deal_id)),
        licence_id=None if issued is None else issued.id,
    )


async def deal_made_by(
    conn: asyncpg.Connection, caller: Principal, source: DealSource, source_id: UUID
) -> Deal | None:
    """The deal a round, negotiation or quote made, if the caller is party to it (None otherwise or before it)."""
    found = await store.deal_from(conn, source, source_id)
    return found if found is not None and found.is_read_by(caller) else None


async def deals_for(conn: asyncpg.Connection, caller: Principal, *, limit: int, offset: int) -> list[Deal]:
    """The deals the caller's organisation buys, sells or is paid by, newest first."""
    return await store.deals_of(conn, caller.organisation_id, limit=limit, offset=offset)


# ---------------------------------------------------------------- consent


async def answer_consent(
    connect: Connect, notifier: Notifier, caller: Principal, deal_id: UUID, *, approve: bool, now: datetime
) -> DealView:
    """A co-owner approves or declines a deal it was asked about.

    Only the organisation of an asked co-owner may answer, and it answers for every party of its
    own that was asked. A decline cancels the deal; the last approval moves it to awaiting payment.
    """
    async with connect() as conn, conn.transaction():
        deal = await _locked(conn, deal_id)
        if not deal.is_read_by(caller):
            raise DealNotFound(f"no deal {deal_id}")
        consents = await store.consents_of(conn, deal_id)
        asked = [c for c in consents if c.status is not ConsentStatus.BY_POLICY and _answers_for(caller, c)]
        if not asked:
            raise NotYourConsent("your organisation was not asked to consent to this deal")
        if deal.state is not DealState.AWAITING_CONSENT:
            raise DealConflict(
                f"this deal is {deal.state.value.replace('_', ' ')}: consent can no longer change"
            )
        open_requests = [c for c in asked if c.status is ConsentStatus.REQUESTED]
        if not open_requests:
            raise DealConflict("your organisation has already answered for this deal")
        status = ConsentStatus.APPROVED if approve else ConsentStatus.DECLINED
        await store.answer_consents(
            conn, deal_id, [c.party_id for c in open_requests], status, now, caller.user_id
        )
        names = [c.party_name for c in open_requests]
        payload = {"parties": names, "organisation_id": caller.organisation_id}
        update = await _record(conn, deal, "consent_approved" if approve else "consent_declined", payload,
                               caller.user_id, now)  # fmt: skip
        updates = [update]
        still_asked = [
            c for c in await store.consents_of(conn, deal_id) if c.status is ConsentStatus.REQUESTED
        ]
        if not approve:
            deal, moved = await _move(conn, deal, DealEvent.DECLINED, now, caller.user_id, payload)
            updates.append(moved)
        elif not still_asked:
            deal, moved = await _move(conn, deal, DealEvent.CONSENTED, now, caller.user_id)
            updates.append(moved)
        view = DealView(deal=deal, consents=tuple(await store.consents_of(conn, deal_id)))
    await notifier.updates(updates)
    return view


def _answers_for(caller: Principal, consent: ConsentRequest) -> bool:
    """The one rule for consent: only the co-owner's own organisation answers for it."""
    return consent.organisation_id is not None and caller.acts_for(consent.organisation_id)


# ---------------------------------------------------------------- deadlines


async def enforce_deadline(conn: asyncpg.Connection, deal_id: UUID, now: datetime) -> DealUpdate | None:
    """Cancel a deal whose co-owners did not all answer in time, or expire one left unpaid; else nothing.

    Idempotent: a deal that moved on, or whose deadline is still ahead, is left alone.
    """
    async with conn.transaction():
        deal = await _locked(conn, deal_id)
        due = _due(deal)
        if due is None or now < due:
            return None
        if deal.state is DealState.AWAITING_CONSENT:
            await store.answer_consents(conn, deal_id, None, ConsentStatus.TIMED_OUT, now, None)
            _, update = await _move(conn, deal, DealEvent.CONSENT_TIMED_OUT, now, None)
        else:
            _, update = await _move(conn, deal, DealEvent.PAYMENT_TIMED_OUT, now, None)
    return update


async def sweep(connect: Connect, notifier: Notifier, now: datetime, limit: int = 200) -> int:
    """Enforce every deadline that has passed, straight from PostgreSQL, whatever became of its timer."""
    updates = []
    async with connect() as conn:
        for state in (DealState.AWAITING_CONSENT, DealState.AWAITING_PAYMENT):
            for deal_id in await store.overdue(conn, state, now, limit):
                update = await enforce_deadline(conn, deal_id, now)
                if update is not None:
                    updates.append(update)
    await notifier.updates(updates)
    return len(updates)


async def reschedule_deadlines(connect: Connect, notifier: Notifier) -> int:
    """Set every waiting deal's deadline timer again (at worker start-up)."""
    async with connect() as conn:
        waiting = await store.waiting(conn)
        found = [await store.deal(conn, deal_id) for deal_id in {deal_id for deal_id, _, _ in waiting}]
    for deal in found:
        if deal is not None:
            await notifier.deadline(deal)
    return len(waiting)


# ---------------------------------------------------------------- payment, refund, transfers


async def record_payment(
    conn: asyncpg.Connection, deal_id: UUID, *, method: str, reference: str, amount: Money, now: datetime
) -> Deal:
    """Record the buyer's payment, post it to the ledger, issue the licence: awaiting payment → paid → licensed.

    Runs inside the caller's transaction. The same `reference` again returns the deal unchanged.
    A deal not awaiting payment, or an amount or currency that is not the deal's, is refused (409).
    """
    if method not in {"card", "chain"}:
        raise ValueError(f"method must be card or chain, got {method!r}")
    async with conn.transaction():
        deal = await _locked(conn, deal_id)
        seen = await store.payment(conn, reference)
        if seen is not None:
            if seen != (deal_id, "payment"):
                raise DealConflict(f"payment {reference} was already recorded for another deal")
            return deal
        if amount != deal.price:
            raise DealConflict(f"the deal costs {deal.price.display()}, not {amount.display()}")
        if deal.state is not DealState.AWAITING_PAYMENT:
            raise DealConflict(f"a deal that is {deal.state.value.replace('_', ' ')} cannot be paid")
        await store.insert_payment(conn, reference, deal_id, "payment", method, amount, now)
        paid, _ = await _move(conn, deal, DealEvent.PAYMENT_RECEIVED, now, None,
                              {"method": method, "reference": reference, "amount": amount})  # fmt: skip
        await _post_payment(conn, paid, reference, now)
        licence = await licences.issue_licence(conn, paid, now=now)
        licensed, _ = await _move(conn, paid, DealEvent.LICENCE_ISSUED, now, None,
                                  {"licence_id": licence.id, "terms_sha256": licence.terms_sha256})  # fmt: skip
    return licensed


async def _post_payment(conn: asyncpg.Connection, deal: Deal, reference: str, now: datetime) -> None:
    """Receipts debited with the price; each payee credited its gross less its part of the fee; the fee."""
    currency = deal.price.currency
    fee, splits = split_fee(deal.price, deal.payees, _configured.terms.platform_fee_bps)
    entries = [store.Entry(account_id=await store.account(conn, "receipts", currency), amount=deal.price.amount,
                           purpose="receipt")]  # fmt: skip
    for split in splits:
        payee = split.payee
        account = await store.account(
            conn, "payee", currency, party_id=payee.party_id, organisation_id=payee.organisation_id
        )
        where = {"side": payee.side, "territory": payee.territory}
        if split.gross:
            entries.append(store.Entry(account_id=account, amount=-split.gross, purpose="gross", **where))
        if split.gross != split.net:
            entries.append(
                store.Entry(
                    account_id=account, amount=split.gross - split.net, purpose="platform_fee", **where
                )
            )
    if fee:
        entries.append(store.Entry(account_id=await store.account(conn, "platform_fees", currency), amount=-fee,
                                   purpose="platform_fee"))  # fmt: skip
    await store.post_transaction(conn, "payment", deal.id, reference, currency, now, entries)


async def record_refund(conn: asyncpg.Connection, deal_id: UUID, *, reference: str, now: datetime) -> Deal:
    """The buyer was refunded in full: paid or licensed → refunded, the payment's entries reversed, the licence revoked.

    Runs inside the caller's transaction; the same `reference` again returns the deal unchanged. A
    payee's share that was already transferred must be reversed first (`record_transfer(reversal=True)`).
    """
    async with conn.transaction():
        deal = await _locked(conn, deal_id)
        seen = await store.payment(conn, reference)
        if seen is not None:
            if seen != (deal_id, "refund"):
                raise DealConflict(f"refund {reference} was already recorded for another deal")
            return deal
        payment_entries = await store.entries_of(conn, deal_id, "payment")
        if payment_entries and any((await _transferred(conn, deal_id)).values()):
            raise DealConflict("shares of this deal were already transferred: reverse the transfers first")
        refunded, _ = await _move(conn, deal, DealEvent.REFUNDED, now, None, {"reference": reference})
        await store.insert_payment(conn, reference, deal_id, "refund", None, deal.price, now)
        if payment_entries:
            reversal = [msgspec.structs.replace(e, amount=-e.amount) for e in reversed(payment_entries)]
            await store.post_transaction(
                conn, "refund", deal_id, reference, deal.price.currency, now, reversal
            )
        await licences.revoke_licence(conn, deal_id, now=now)
    return refunded


async def _transferred(conn: asyncpg.Connection, deal_id: UUID) -> dict[UUID | None, int]:
    """Per organisation, how much of the deal was transferred out and not reversed."""
    owed = {org: amount for org, _, amount in await _earned(conn, deal_id)}
    held: dict[UUID | None, int] = {}
    for org, _, amount in await store.held_for_deal(conn, deal_id):
        held[org] = held.get(org, 0) + amount
    return {org: amount - held.get(org, 0) for org, amount in owed.items()}


async def _earned(conn: asyncpg.Connection, deal_id: UUID) -> list[tuple[UUID | None, UUID, int]]:
    """Per payee account, the net the deal's payment credited it."""
    earned: dict[UUID, int] = {}
    for entry in await store.entries_of(conn, deal_id, "payment"):
        earned[entry.account_id] = earned.get(entry.account_id, 0) - entry.amount
    deal = await get_deal(conn, deal_id)
    result = []
    for payee in {(p.organisation_id, p.party_id) for p in deal.payees}:
        account = await store.account(
            conn, "payee", deal.price.currency, party_id=payee[1], organisation_id=payee[0]
        )
        result.append((payee[0], payee[1], earned.get(account, 0)))
    return result


async def record_transfer(
    conn: asyncpg.Connection, deal_id: UUID, *, organisation_id: UUID, amount: Money, reference: str,
    now: datetime, reversal: bool = False,
) -> None:  # fmt: skip
    """A payout to the organisation was made (a Stripe transfer): its held share of the deal becomes paid
    out; or, with `reversal`, a payout was taken back (a transfer reversal): the amount is held again.

    Idempotent by `reference`. More than the organisation holds of the deal (or, reversed, was paid out
    of it) is refused (409).
    """
    kind = "transfer_reversal" if reversal else "transfer"
    async with conn.transaction():
        deal = await _locked(conn, deal_id)
        if await store.posted(conn, kind, reference):
            return
        if amount.currency != deal.price.currency or amount.amount <= 0:
            raise DealConflict(f"a payout of this deal is a positive amount in {deal.price.currency}")
        if deal.state not in (DealState.PAID, DealState.LICENSED) and not reversal:
            raise DealConflict(
                f"this deal is {deal.state.value.replace('_', ' ')}: nothing of it can be paid out"
            )
        held = {
            party: left
            for org, party, left in await store.held_for_deal(conn, deal_id)
            if org == organisation_id
        }
        earned = {party: net for org, party, net in await _earned(conn, deal_id) if org == organisation_id}
        # A transfer takes from what is held; a reversal gives back what was taken.
        room = held if not reversal else {p: net - held.get(p, 0) for p, net in earned.items()}
        if amount.amount > sum(room.values()):
            what = "held for" if not reversal else "paid out to"
            raise DealConflict(
                f"only {Money(sum(room.values()), amount.currency).display()} of this deal is {what} that organisation"
            )
        receipts = await store.account(conn, "receipts", amount.currency)
        sign = 1 if not reversal else -1
        entries, left = [], amount.amount
        for party, available in sorted(room.items(), key=lambda item: str(item[0])):
            part = min(available, left)
            if part:
                account = await store.account(conn, "payee", amount.currency, party_id=party,
                                              organisation_id=organisation_id)  # fmt: skip
                entries.append(store.Entry(account_id=account, amount=sign * part, purpose="transfer"))
                left -= part
        entries.append(store.Entry(account_id=receipts, amount=-sign * amount.amount, purpose="transfer"))
        if await store.post_transaction(conn, kind, deal_id, reference, amount.currency, now, entries):
            payload = {"organisation_id": organisation_id, "amount": amount, "reference": reference}
            await _record(conn, deal, kind, payload, None, now)


async def payable_payees(conn: asyncpg.Connection, deal_id: UUID) -> list[PayoutLine]:
    """What the ledger holds of the deal for each member organisation (to transfer), one line each.

    `party_id` is the party when one party of the organisation is paid, None when several are.
    Parties with no organisation are left out: their share waits in the ledger.
    """
    lines: dict[UUID, list[tuple[UUID, int]]] = {}
    for organisation, party, amount in await store.held_for_deal(conn, deal_id):
        if organisation is not None:
            lines.setdefault(organisation, []).append((party, amount))
    return [
        PayoutLine(organisation_id=org, party_id=parts[0][0] if len(parts) == 1 else None,
                   amount=sum(amount for _, amount in parts))
        for org, parts in sorted(lines.items(), key=lambda item: str(item[0]))
    ]  # fmt: skip


# ---------------------------------------------------------------- quotes


class QuoteConflict(DealConflict):
    """The quote cannot be accepted (again): accepted already, expired, or its terms changed (409)."""


class QuoteRefused(DealConflict):
    """The track cannot be bought now at a fixed price for this usage (409); the message says why."""


def policy_fingerprint(track_rights: TrackRights) -> str:
    """A digest of every policy on the track: a quote stands only while none of them changes."""
    policies = sorted(track_rights.policies, key=lambda p: str(p.id))
    return hashlib.sha256(msgspec.json.encode(policies)).hexdigest()


async def request_quote(
    conn: asyncpg.Connection, caller: Principal, track_id: UUID, usage: Usage, now: datetime
) -> Quote:
    """The price to buy the usage now: the list price (or the dynamic price where the policy asks), valid 15 minutes.

    Refused (409) unless clearance says "clearable now" with a fixed price.
    """
    track = await rights.get_track(conn, track_id)
    if caller.acts_for(track.owner_organisation_id):
        raise QuoteRefused("this is your own track: you cannot buy a licence from yourself")
    track_rights = await rights.track_rights(conn, track_id)
    priced, dynamic = await _price(conn, track_rights, track.owner_organisation_id, usage, now)
    terms = _configured.terms
    quote = Quote(
        id=uuid4(), track_id=track_id, buyer=caller.organisation_id, usage=usage, price=priced.price,
        breakdown=priced.breakdown, dynamic=dynamic,
        policy_fingerprint=policy_fingerprint(track_rights), created_at=now,
        expires_at=now + timedelta(minutes=terms.quote_minutes),
    )  # fmt: skip
    async with conn.transaction():
        stored = await store.insert_quote(conn, quote)
        await append_audit(conn, "quote", stored.id, "quoted", stored, caller.user_id)
    return stored


async def price_for(conn: asyncpg.Connection, track_id: UUID, usage: Usage, now: datetime) -> PriceQuote:
    """What buying the usage now would cost and how the price is made, without making a quote.

    QuoteRefused (409) says why it cannot be bought at a fixed price.
    """
    track = await rights.get_track(conn, track_id)
    priced, _ = await _price(
        conn, await rights.track_rights(conn, track_id), track.owner_organisation_id, usage, now
    )
    return priced


async def _price(
    conn: asyncpg.Connection, track_rights: TrackRights, seller: UUID, usage: Usage, now: datetime
) -> tuple[PriceQuote, bool]:
    """Clearance's list price with each rights holder's card price, times demand where the seller's policy asks.

    Whether the price is dynamic is said by the result's second part.
    """
    cleared = clear(track_rights, usage)
    if cleared.outcome is not Outcome.CLEARABLE_NOW:
        raise QuoteRefused("this use cannot be bought now: " + "; ".join(cleared.reasons))
    if (
        Mechanism.FIXED_PRICE not in cleared.mechanisms
        or cleared.price is None
        or cleared.price.list_price is None
    ):
        raise QuoteRefused("the rights holders do not sell this use at a fixed price; make an offer instead")
    listed = cleared.price.list_price
    lines: list[PriceLine] = []
    controllers = sorted(
        {h.controller_id for s in cleared.ownership for h in s.holdings}, key=track_rights.party_name
    )
    for controller in controllers:
        policy = policy_for(controller, track_rights.track_id, track_rights.policies)
        if policy is None or policy.rate_card is None:
            continue
        try:
            card = list_price(policy.rate_card, usage)
        except TermsError:
            continue
        lines.append(PriceLine(label=f"List price of {track_rights.party_name(controller)} for this use",
                               multiplier_bp=None, subtotal=card.price))  # fmt: skip
    lines.append(PriceLine(label="List price: each rights holder's price times its share", multiplier_bp=None,
                           subtotal=listed))  # fmt: skip
    quote = PriceQuote(price=listed, breakdown=tuple(lines))
    dynamic = any(
        p.dynamic_pricing and (party := track_rights.parties.get(p.party_id)) is not None
        and party.organisation_id == seller
        for p in track_rights.policies if p.track_id in (None, track_rights.track_id)
    )  # fmt: skip
    high = cleared.price.high
    if dynamic and high is not None:
        requests, buyers, sold = await store.demand(
            conn, track_rights.track_id, now - timedelta(days=_configured.terms.demand_days)
        )
        demand = Demand(recent_requests=requests, watchers=buyers, licences=sold)
        floor = cleared.price.low if cleared.price.low.amount > 0 else Money(1, listed.currency)
        return with_demand(quote, demand, floor, high), True
    return quote, False


async def accept_quote(
    connect: Connect, notifier: Notifier, caller: Principal, quote_id: UUID, *, idempotency_key: str,
    now: datetime,
) -> Deal:  # fmt: skip
    """Make the deal a quote offered. The same key again returns the same deal; anything else after is 409."""
    if not 1 <= len(idempotency_key) <= 200:
        raise ValueError("the Idempotency-Key header must be 1 to 200 characters")
    async with connect() as conn, conn.transaction():
        found = await store.quote(conn, quote_id, for_update=True)
        if found is None or not caller.acts_for(found[0].buyer):
            raise QuoteNotFound(f"no quote {quote_id} for your organisation")
        quote, key = found
        if key is not None:
            if key == idempotency_key and quote.deal_id is not None:
                return await get_deal(conn, quote.deal_id)
            raise QuoteConflict("this quote was already accepted; its deal is in your deals")
        if now >= quote.expires_at:
            raise QuoteConflict(f"this quote expired at {quote.expires_at:%H:%M} UTC; ask for a new quote")
        track_rights = await rights.track_rights(conn, quote.track_id)
        if policy_fingerprint(track_rights) != quote.policy_fingerprint:
            raise QuoteConflict(
                "the rights holders changed their licensing policy since this quote; ask for a new quote"
            )
        cleared = await rights.clearance(conn, quote.track_id, quote.usage)
        if cleared.outcome is not Outcome.CLEARABLE_NOW:
            raise QuoteConflict("this use can no longer be bought now: " + "; ".join(cleared.reasons))
        track = await rights.get_track(conn, quote.track_id)
        deal = await create_deal(
            conn, source=DealSource.QUOTE, source_id=quote.id, track_id=quote.track_id,
            seller=track.owner_organisation_id, buyer=quote.buyer, price=quote.price, usage=quote.usage,
            mechanism=Mechanism.FIXED_PRICE, agreed_at=now, actor=caller.user_id,
        )  # fmt: skip
        await store.mark_quote_accepted(conn, quote.id, deal.id, idempotency_key)
        created = await deal_created(conn, deal.id)
    await notifier.updates([created])
    return deal


# ---------------------------------------------------------------- earnings


class Earnings(msgspec.Struct, frozen=True, kw_only=True):
    """What a rights holder earned in one group (a track, a territory or a month), in one currency."""

    key: str
    label: str
    currency: str
    deals: int
    gross: int
    platform_fee: int
    net: int


class StatementLine(msgspec.Struct, frozen=True, kw_only=True):
    isrc: str
    title: str
    territory: str
    side: str
    media: str
    currency: str
    gross: int
    platform_fee: int
    net: int
    deal_id: UUID
    payment_reference: str
    paid_at: datetime


async def statement(
    conn: asyncpg.Connection,
    caller: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StatementLine]:
    """Every payee line the caller's organisation earned (refunded deals left out), oldest first."""
    rows = [row for row in await store.earnings(conn, caller.organisation_id, since=since, until=until)
            if not row.refunded]  # fmt: skip
    identities: dict[UUID, tuple[str, str]] = {}
    for track_id in {row.track_id for row in rows}:
        track = await rights.get_track(conn, track_id)
        recording = (await rights.track_rights(conn, track_id)).recording
        identities[track_id] = (recording.isrc or "" if recording else "", track.title)
    return [
        StatementLine(
            isrc=identities[row.track_id][0], title=identities[row.track_id][1], territory=row.territory or "",
            side=row.side or "", media=row.media, currency=row.currency, gross=row.gross,
            platform_fee=row.platform_fee, net=row.net, deal_id=row.deal_id,
            payment_reference=row.payment_reference, paid_at=row.paid_at,
        )
        for row in rows
    ]  # fmt: skip


GROUPINGS = ("track", "territory", "month")


async def earnings(conn: asyncpg.Connection, caller: Principal, group_by: str) -> list[Earnings]:
    """The caller's organisation's earnings grouped by track, territory or month, per currency."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}, got {group_by!r}")
    groups: dict[tuple[str, str], tuple[str, set[UUID], list[int]]] = {}
    for line in await statement(conn, caller):
        if group_by == "track":
            key, label = line.isrc or line.title, f"{line.title}" + (f" ({line.isrc})" if line.isrc else "")
        elif group_by == "territory":
            key, label = line.territory, line.territory
        else:
            key = label = f"{line.paid_at:%Y-%m}"
        _, deals, sums = groups.setdefault((key, line.currency), (label, set(), [0, 0, 0]))
        deals.add(line.deal_id)
        sums[0] += line.gross
        sums[1] += line.platform_fee
        sums[2] += line.net
    return [
        Earnings(key=key, label=label, currency=currency, deals=len(deals), gross=sums[0], platform_fee=sums[1],
                 net=sums[2])
        for (key, currency), (label, deals, sums) in sorted(groups.items())
    ]  # fmt: skip


# ---------------------------------------------------------------- the ledger's own check


class LedgerReport(msgspec.Struct, frozen=True, kw_only=True):
    balanced: bool
    unbalanced_transactions: tuple[str, ...]
    drifted_accounts: tuple[str, ...]


async def verify_ledger(conn: asyncpg.Connection) -> LedgerReport:
    """Every ledger transaction sums to zero and every kept balance equals the sum of its entries."""
    unbalanced = await store.unbalanced_transactions(conn)
    drifted = await store.drifted_balances(conn)
    return LedgerReport(
        balanced=not unbalanced and not drifted,
        unbalanced_transactions=tuple(f"{tx} (off by {off})" for tx, off in unbalanced),
        drifted_accounts=tuple(str(account) for account in drifted),
    )
