"""The SQL for deals, consents, quotes, payments, the ledger and licences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec

from contracts.model import (
    ConsentRequest,
    ConsentStatus,
    Deal,
    DealEvent,
    DealSource,
    DealState,
    HoldSource,
    Licence,
    LicenceStatus,
    LicenceTerms,
    Payee,
    Quote,
    UsageHold,
)
from rights.pricing import PriceLine
from rights.terms import Money, Usage

# Deals

_COLUMNS = (
    "id, source, source_id, track_id, seller_id, buyer_id, price_amount, currency, usage, state, created_at,"
    " payees, consent_due_at, payment_due_at,"
    " (SELECT reference FROM deal_payments p WHERE p.deal_id = deals.id AND p.kind = 'payment') AS payment_reference"
)


def _deal(row: asyncpg.Record) -> Deal:
    return Deal(
        id=row["id"], source=DealSource(row["source"]), source_id=row["source_id"], track_id=row["track_id"],
        seller=row["seller_id"], buyer=row["buyer_id"], price=Money(row["price_amount"], row["currency"]),
        usage=msgspec.convert(row["usage"], Usage), state=DealState(row["state"]), created_at=row["created_at"],
        payees=msgspec.convert(row["payees"], tuple[Payee, ...]), consent_due_at=row["consent_due_at"],
        payment_due_at=row["payment_due_at"], payment_reference=row["payment_reference"],
    )  # fmt: skip


async def insert_deal(conn: asyncpg.Connection, deal: Deal) -> Deal:
    """Store a new deal and the member organisations it pays (for "my deals")."""
    row = await conn.fetchrow(
        f"""INSERT INTO deals (id, source, source_id, track_id, seller_id, buyer_id, price_amount, currency,
                               usage, state, created_at, updated_at, payees, consent_due_at, payment_due_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14)
            RETURNING {_COLUMNS}""",
        deal.id, deal.source.value, deal.source_id, deal.track_id, deal.seller, deal.buyer, deal.price.amount,
        deal.price.currency, deal.usage, deal.state.value, deal.created_at, msgspec.to_builtins(deal.payees),
        deal.consent_due_at, deal.payment_due_at,
    )  # fmt: skip
    assert row is not None
    organisations = sorted({p.organisation_id for p in deal.payees if p.organisation_id is not None})
    await conn.executemany(
        """INSERT INTO deal_payee_organisations (deal_id, organisation_id)
           SELECT $1, id FROM organisations WHERE id = $2""",
        [(deal.id, organisation) for organisation in organisations],
    )
    return _deal(row)


async def deal(conn: asyncpg.Connection, deal_id: UUID, *, for_update: bool = False) -> Deal | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM deals WHERE id = $1{lock}", deal_id)
    return None if row is None else _deal(row)


async def deal_from(conn: asyncpg.Connection, source: DealSource, source_id: UUID) -> Deal | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM deals WHERE source = $1 AND source_id = $2", source.value, source_id
    )
    return None if row is None else _deal(row)


async def set_state(
    conn: asyncpg.Connection, deal_id: UUID, state: DealState, now: datetime, *,
    payment_due_at: datetime | None = None,
) -> Deal:  # fmt: skip
    row = await conn.fetchrow(
        f"""UPDATE deals SET state = $2, updated_at = $3, payment_due_at = COALESCE($4, payment_due_at)
            WHERE id = $1 RETURNING {_COLUMNS}""",
        deal_id, state.value, now, payment_due_at,
    )  # fmt: skip
    assert row is not None
    return _deal(row)


async def deals_of(conn: asyncpg.Connection, organisation_id: UUID, *, limit: int, offset: int) -> list[Deal]:
    """Deals the organisation buys, sells or is paid by, newest first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM deals
            WHERE buyer_id = $1 OR seller_id = $1
               OR id IN (SELECT deal_id FROM deal_payee_organisations WHERE organisation_id = $1)
            ORDER BY created_at DESC, id LIMIT $2 OFFSET $3""",
        organisation_id, limit, offset,
    )  # fmt: skip
    return [_deal(row) for row in rows]


async def append_event(
    conn: asyncpg.Connection, deal_id: UUID, kind: DealEvent | str, state: DealState, payload: Any,
    actor: UUID | None, at: datetime,
) -> int:  # fmt: skip
    """The event's sequence number within the deal (the caller holds the deal's row lock)."""
    seq: int = await conn.fetchval(
        """INSERT INTO deal_events (deal_id, seq, kind, state, payload, actor_id, at)
           SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6 FROM deal_events WHERE deal_id = $1
           RETURNING seq""",
        deal_id, str(kind), state.value, payload, actor, at,
    )  # fmt: skip
    return seq


async def overdue(conn: asyncpg.Connection, state: DealState, now: datetime, limit: int) -> list[UUID]:
    """Deals waiting for consent or payment past their deadline."""
    column = {DealState.AWAITING_CONSENT: "consent_due_at", DealState.AWAITING_PAYMENT: "payment_due_at"}[
        state
    ]
    rows = await conn.fetch(
        f"SELECT id FROM deals WHERE state = $1 AND {column} <= $2 ORDER BY {column} LIMIT $3",
        state.value, now, limit,
    )  # fmt: skip
    return [row["id"] for row in rows]


async def waiting(conn: asyncpg.Connection) -> list[tuple[UUID, DealState, datetime]]:
    """Every deal with a deadline still to come: its id, state and deadline (to set timers at start-up)."""
    rows = await conn.fetch(
        """SELECT id, state, consent_due_at AS due FROM deals
            WHERE state = 'awaiting_consent' AND consent_due_at IS NOT NULL
           UNION ALL
           SELECT id, state, payment_due_at FROM deals
            WHERE state = 'awaiting_payment' AND payment_due_at IS NOT NULL"""
    )
    return [(row["id"], DealState(row["state"]), row["due"]) for row in rows]


# Consent requests

_CONSENT_COLUMNS = "id, deal_id, party_id, party_name, organisation_id, status, reason, due_at, answered_at"


def _consent(row: asyncpg.Record) -> ConsentRequest:
    return ConsentRequest(
        id=row["id"], deal_id=row["deal_id"], party_id=row["party_id"], party_name=row["party_name"],
        organisation_id=row["organisation_id"], status=ConsentStatus(row["status"]), reason=row["reason"],
        due_at=row["due_at"], answered_at=row["answered_at"],
    )  # fmt: skip


async def insert_consents(conn: asyncpg.Connection, consents: Sequence[ConsentRequest]) -> None:
    await conn.executemany(
        f"INSERT INTO deal_consents ({_CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (c.id, c.deal_id, c.party_id, c.party_name, c.organisation_id, c.status.value, c.reason, c.due_at,
             c.answered_at)
            for c in consents
        ],
    )  # fmt: skip


async def consents_of(conn: asyncpg.Connection, deal_id: UUID) -> list[ConsentRequest]:
    rows = await conn.fetch(
        f"SELECT {_CONSENT_COLUMNS} FROM deal_consents WHERE deal_id = $1 ORDER BY party_name, party_id",
        deal_id,
    )
    return [_consent(row) for row in rows]


async def answer_consents(
    conn: asyncpg.Connection, deal_id: UUID, party_ids: Sequence[UUID] | None, status: ConsentStatus,
    now: datetime, actor: UUID | None,
) -> int:  # fmt: skip
    """Answer the deal's open requests (of `party_ids`, or all of them); how many were open."""
    result: str = await conn.execute(
        """UPDATE deal_consents SET status = $3, answered_at = $4, answered_by = $5
           WHERE deal_id = $1 AND status = 'requested' AND ($2::uuid[] IS NULL OR party_id = ANY($2))""",
        deal_id, None if party_ids is None else list(party_ids), status.value, now, actor,
    )  # fmt: skip
    return int(result.split()[-1])


# Quotes

_QUOTE_COLUMNS = (
    "id, track_id, buyer_id, usage, price_amount, currency, breakdown, dynamic, policy_fingerprint, created_at,"
    " expires_at, deal_id, idempotency_key"
)


def _quote(row: asyncpg.Record) -> Quote:
    return Quote(
        id=row["id"], track_id=row["track_id"], buyer=row["buyer_id"], usage=msgspec.convert(row["usage"], Usage),
        price=Money(row["price_amount"], row["currency"]),
        breakdown=msgspec.convert(row["breakdown"], tuple[PriceLine, ...]), dynamic=row["dynamic"],
        policy_fingerprint=row["policy_fingerprint"], created_at=row["created_at"], expires_at=row["expires_at"],
        deal_id=row["deal_id"],
    )  # fmt: skip


async def insert_quote(conn: asyncpg.Connection, quote: Quote) -> Quote:
    row = await conn.fetchrow(
        f"""INSERT INTO deal_quotes ({_QUOTE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL) RETURNING {_QUOTE_COLUMNS}""",
        quote.id, quote.track_id, quote.buyer, quote.usage, quote.price.amount, quote.price.currency,
        msgspec.to_builtins(quote.breakdown), quote.dynamic, quote.policy_fingerprint, quote.created_at,
        quote.expires_at,
    )  # fmt: skip
    assert row is not None
    return _quote(row)


async def quote(
    conn: asyncpg.Connection, quote_id: UUID, *, for_update: bool = False
) -> tuple[Quote, str | None] | None:
    """The quote and the idempotency key it was accepted with (None while it is open)."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_QUOTE_COLUMNS} FROM deal_quotes WHERE id = $1{lock}", quote_id)
    return None if row is None else (_quote(row), row["idempotency_key"])


async def mark_quote_accepted(conn: asyncpg.Connection, quote_id: UUID, deal_id: UUID, key: str) -> None:
    await conn.execute(
        "UPDATE deal_quotes SET deal_id = $2, idempotency_key = $3 WHERE id = $1 AND deal_id IS NULL",
        quote_id, deal_id, key,
    )  # fmt: skip


async def demand(conn: asyncpg.Connection, track_id: UUID, since: datetime) -> tuple[int, int, int]:
    """Quote requests, distinct interested buyers and deals paid for the track since `since`."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM deal_quotes WHERE track_id = $1 AND created_at >= $2) AS requests,
                  (SELECT count(DISTINCT buyer_id) FROM (
                      SELECT buyer_id FROM deal_quotes WHERE track_id = $1 AND created_at >= $2
                      UNION SELECT buyer_id FROM deals WHERE track_id = $1 AND created_at >= $2) AS b) AS buyers,
                  (SELECT count(*) FROM deals WHERE track_id = $1 AND created_at >= $2
                      AND state IN ('paid', 'licensed')) AS licences""",
        track_id, since,
    )  # fmt: skip
    assert row is not None
    return row["requests"], row["buyers"], row["licences"]


# Payments and refunds


async def payment(conn: asyncpg.Connection, reference: str) -> tuple[UUID, str] | None:
    """The deal and kind ('payment' or 'refund') a reference was recorded for, if it was."""
    row = await conn.fetchrow("SELECT deal_id, kind FROM deal_payments WHERE reference = $1", reference)
    return None if row is None else (row["deal_id"], row["kind"])


async def insert_payment(
    conn: asyncpg.Connection, reference: str, deal_id: UUID, kind: str, method: str | None, amount: Money,
    at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO deal_payments (reference, deal_id, kind, method, amount, currency, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        reference, deal_id, kind, method, amount.amount, amount.currency, at,
    )  # fmt: skip


# The ledger


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a ledger transaction: debits positive, credits negative."""

    account_id: UUID
    amount: int
    purpose: str
    side: str | None = None
    territory: str | None = None


async def account(
    conn: asyncpg.Connection, kind: str, currency: str, *, party_id: UUID | None = None,
    organisation_id: UUID | None = None,
) -> UUID:  # fmt: skip
    """The account's id, opened on first use (receipts are debit-normal, the rest credit-normal)."""
    normal = "debit" if kind == "receipts" else "credit"
    found: UUID = await conn.fetchval(
        """WITH opened AS (
               INSERT INTO ledger_accounts (id, kind, party_id, organisation_id, currency, normal)
               VALUES ($1, $2, $3, (SELECT id FROM organisations WHERE id = $4), $5, $6)
               ON CONFLICT (kind, party_id, currency) DO NOTHING RETURNING id)
           SELECT id FROM opened
           UNION ALL
           SELECT id FROM ledger_accounts WHERE kind = $2 AND party_id IS NOT DISTINCT FROM $3 AND currency = $5
           LIMIT 1""",
        uuid4(), kind, party_id, organisation_id, currency, normal,
    )  # fmt: skip
    return found


async def post_transaction(
    conn: asyncpg.Connection, kind: str, deal_id: UUID, reference: str, currency: str, now: datetime,
    entries: Sequence[Entry],
) -> bool:  # fmt: skip
    """Post the entries as one transaction; False (and nothing posted) if `reference` was posted before.

    The database refuses it at commit unless the entries sum to zero, and at once if any account's
    balance would go below zero.
    """
    transaction_id = uuid4()
    inserted = await conn.fetchval(
        """INSERT INTO ledger_transactions (id, kind, deal_id, reference, currency, created_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, reference) DO NOTHING RETURNING id""",
        transaction_id, kind, deal_id, reference, currency, now,
    )  # fmt: skip
    if inserted is None:
        return False
    await conn.executemany(
        """INSERT INTO ledger_entries (transaction_id, account_id, amount, purpose, side, territory)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [(transaction_id, e.account_id, e.amount, e.purpose, e.side, e.territory) for e in entries],
    )
    return True


async def posted(conn: asyncpg.Connection, kind: str, reference: str) -> bool:
    """Whether a ledger transaction of this kind was posted with this reference."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE kind = $1 AND reference = $2)",
        kind,
        reference,
    )
    return found


async def entries_of(conn: asyncpg.Connection, deal_id: UUID, kind: str) -> list[Entry]:
    """The entries of the deal's transactions of one kind, in the order they were posted."""
    rows = await conn.fetch(
        """SELECT e.account_id, e.amount, e.purpose, e.side, e.territory
             FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE t.deal_id = $1 AND t.kind = $2 ORDER BY e.id""",
        deal_id, kind,
    )  # fmt: skip
    return [Entry(**dict(row)) for row in rows]


async def held_for_deal(conn: asyncpg.Connection, deal_id: UUID) -> list[tuple[UUID | None, UUID, int]]:
    """What each payee account still holds of the deal: (organisation, party, amount), amount > 0."""
    rows = await conn.fetch(
        """SELECT a.organisation_id, a.party_id, (-sum(e.amount))::bigint AS held
             FROM ledger_entries e
             JOIN ledger_transactions t ON t.id = e.transaction_id
             JOIN ledger_accounts a ON a.id = e.account_id
            WHERE t.deal_id = $1 AND a.kind = 'payee'
            GROUP BY a.organisation_id, a.party_id HAVING -sum(e.amount) > 0
            ORDER BY a.organisation_id, a.party_id""",
        deal_id,
    )
    return [(row["organisation_id"], row["party_id"], row["held"]) for row in rows]


async def unbalanced_transactions(conn: asyncpg.Connection) -> list[tuple[UUID, int]]:
    """Every ledger transaction whose entries do not sum to zero (there should be none)."""
    rows = await conn.fetch(
        """SELECT t.id, coalesce(sum(e.amount), 0)::bigint AS off FROM ledger_transactions t
             LEFT JOIN ledger_entries e ON e.transaction_id = t.id
            GROUP BY t.id HAVING coalesce(sum(e.amount), 0) <> 0 ORDER BY t.id"""
    )
    return [(row["id"], row["off"]) for row in rows]


async def drifted_balances(conn: asyncpg.Connection) -> list[UUID]:
    """Accounts whose kept balance differs from the sum of their entries (there should be none)."""
    rows = await conn.fetch(
        """SELECT a.id FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
            GROUP BY a.id
           HAVING a.balance <> coalesce(sum(CASE WHEN a.normal = 'debit' THEN e.amount ELSE -e.amount END), 0)"""
    )
    return [row["id"] for row in rows]


class EarningRow(msgspec.Struct, frozen=True, kw_only=True):
    """One payee line of one paid deal, as a statement shows it."""

    deal_id: UUID
    track_id: UUID
    territory: str | None
    side: str | None
    media: str
    currency: str
    gross: int
    platform_fee: int
    net: int
    paid_at: datetime
    payment_reference: str
    refunded: bool


async def earnings(
    conn: asyncpg.Connection, organisation_id: UUID, *, since: datetime | None, until: datetime | None
) -> list[EarningRow]:
    """The organisation's payee lines of every payment (a refunded one is marked), oldest first."""
    rows = await conn.fetch(
        """SELECT t.deal_id, d.track_id, e.territory, e.side, d.usage ->> 'media' AS media, t.currency,
                  (-sum(e.amount) FILTER (WHERE e.purpose = 'gross'))::bigint AS gross,
                  coalesce(sum(e.amount) FILTER (WHERE e.purpose = 'platform_fee'), 0)::bigint AS platform_fee,
                  (-sum(e.amount))::bigint AS net, t.created_at AS paid_at, t.reference AS payment_reference,
                  EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.deal_id = t.deal_id AND r.kind = 'refund')
                      AS refunded
             FROM ledger_entries e
             JOIN ledger_transactions t ON t.id = e.transaction_id AND t.kind = 'payment'
             JOIN ledger_accounts a ON a.id = e.account_id AND a.kind = 'payee'
             JOIN deals d ON d.id = t.deal_id
            WHERE a.organisation_id = $1
              AND ($2::timestamptz IS NULL OR t.created_at >= $2)
              AND ($3::timestamptz IS NULL OR t.created_at < $3)
            GROUP BY t.id, t.deal_id, d.track_id, e.territory, e.side, d.usage, t.currency
            ORDER BY t.created_at, t.deal_id, e.side, e.territory""",
        organisation_id, since, until,
    )  # fmt: skip
    return [EarningRow(**dict(row)) for row in rows]


# Licences

_LICENCE_COLUMNS = (
    "id, deal_id, version, terms, terms_sha256, audio_sha256, allow_list, certificate, key_id, issued_at,"
    " revoked_at"
)


def _licence(row: asyncpg.Record) -> Licence:
    return Licence(
        id=row["id"], deal_id=row["deal_id"], version=row["version"],
        status=LicenceStatus.VALID if row["revoked_at"] is None else LicenceStatus.REVOKED,
        terms=msgspec.convert(row["terms"], LicenceTerms), terms_sha256=row["terms_sha256"],
        audio_sha256=row["audio_sha256"], allow_list=tuple(row["allow_list"]), certificate=row["certificate"],
        key_id=row["key_id"], issued_at=row["issued_at"], revoked_at=row["revoked_at"],
    )  # fmt: skip


async def insert_licence(conn: asyncpg.Connection, licence: Licence) -> Licence | None:
    """The new licence, or None when the deal already has one (a concurrent issue got there first)."""
    row = await conn.fetchrow(
        f"""INSERT INTO licences ({_LICENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (deal_id) DO NOTHING RETURNING {_LICENCE_COLUMNS}""",
        licence.id, licence.deal_id, licence.version, msgspec.to_builtins(licence.terms), licence.terms_sha256,
        licence.audio_sha256, list(licence.allow_list), licence.certificate, licence.key_id, licence.issued_at,
        licence.revoked_at,
    )  # fmt: skip
    return None if row is None else _licence(row)


async def reissue_licence(
    conn: asyncpg.Connection, licence_id: UUID, *, expected_version: int, allow_list: tuple[str, ...],
    certificate: str, key_id: str, issued_at: datetime,
) -> Licence | None:  # fmt: skip
    """Replace the certificate of a licence still at `expected_version`; None if it moved on meanwhile."""
    row = await conn.fetchrow(
        f"""UPDATE licences SET version = version + 1, allow_list = $3, certificate = $4, key_id = $5,
                                issued_at = $6
            WHERE id = $1 AND version = $2 AND revoked_at IS NULL RETURNING {_LICENCE_COLUMNS}""",
        licence_id, expected_version, list(allow_list), certificate, key_id, issued_at,
    )  # fmt: skip
    return None if row is None else _licence(row)


async def licence(conn: asyncpg.Connection, licence_id: UUID) -> Licence | None:
    row = await conn.fetchrow(f"SELECT {_LICENCE_COLUMNS} FROM licences WHERE id = $1", licence_id)
    return None if row is None else _licence(row)


async def licence_of_deal(
    conn: asyncpg.Connection, deal_id: UUID, *, for_update: bool = False
) -> Licence | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_LICENCE_COLUMNS} FROM licences WHERE deal_id = $1{lock}", deal_id)
    return None if row is None else _licence(row)


async def revoke_licence(conn: asyncpg.Connection, deal_id: UUID, revoked_at: datetime) -> Licence | None:
    """Mark the deal's licence revoked (once: a second revocation keeps the first time)."""
    row = await conn.fetchrow(
        f"""UPDATE licences SET revoked_at = COALESCE(revoked_at, $2) WHERE deal_id = $1
            RETURNING {_LICENCE_COLUMNS}""",
        deal_id, revoked_at,
    )  # fmt: skip
    return None if row is None else _licence(row)


async def allow_list(conn: asyncpg.Connection, deal_id: UUID) -> tuple[str, ...]:
    urls = await conn.fetchval("SELECT urls FROM licence_allow_lists WHERE deal_id = $1", deal_id)
    return tuple(urls or ())


async def put_allow_list(
    conn: asyncpg.Connection, deal_id: UUID, urls: tuple[str, ...], now: datetime
) -> None:
    await conn.execute(
        """INSERT INTO licence_allow_lists (deal_id, urls, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (deal_id) DO UPDATE SET urls = EXCLUDED.urls, updated_at = EXCLUDED.updated_at""",
        deal_id, list(urls), now,
    )  # fmt: skip


async def organisation_names(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, str]:
    rows = await conn.fetch("SELECT id, name FROM organisations WHERE id = ANY($1::uuid[])", ids)
    return {row["id"]: row["name"] for row in rows}


# Usage holds


def _hold(row: asyncpg.Record) -> UsageHold:
    return UsageHold(
        id=row["id"], track_id=row["track_id"], usage=msgspec.convert(row["usage"], Usage),
        source=HoldSource(row["source"]), source_id=row["source_id"], created_at=row["created_at"],
    )  # fmt: skip


async def lock_track_holds(conn: asyncpg.Connection, track_id: UUID) -> None:
    """Serialise hold changes on one track until the transaction ends (an advisory lock keyed by track)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('usage_holds:' || $1::uuid::text, 0))", track_id
    )


async def live_holds(conn: asyncpg.Connection, track_id: UUID) -> list[UsageHold]:
    rows = await conn.fetch(
        """SELECT id, track_id, usage, source, source_id, created_at FROM usage_holds
            WHERE track_id = $1 AND released_at IS NULL ORDER BY created_at, id""",
        track_id,
    )
    return [_hold(r) for r in rows]


async def lock_live_hold(conn: asyncpg.Connection, source: HoldSource, source_id: UUID) -> UsageHold | None:
    """The sale's live hold, row-locked so that nobody releases it until the transaction ends."""
    row = await conn.fetchrow(
        """SELECT id, track_id, usage, source, source_id, created_at FROM usage_holds
            WHERE source = $1 AND source_id = $2 AND released_at IS NULL FOR UPDATE""",
        source.value, source_id,
    )  # fmt: skip
    return None if row is None else _hold(row)


async def insert_hold(conn: asyncpg.Connection, hold: UsageHold) -> None:
    await conn.execute(
        """INSERT INTO usage_holds (id, track_id, usage, source, source_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        hold.id, hold.track_id, hold.usage, hold.source.value, hold.source_id, hold.created_at,
    )  # fmt: skip


async def release_hold(
    conn: asyncpg.Connection, source: HoldSource, source_id: UUID, now: datetime | None
) -> bool:
    status: str = await conn.execute(
        """UPDATE usage_holds SET released_at = coalesce($3, now())
            WHERE source = $1 AND source_id = $2 AND released_at IS NULL""",
        source.value, source_id, now,
    )  # fmt: skip
    return not status.endswith(" 0")


async def deals_disagreeing_with_audit(conn: asyncpg.Connection, limit: int) -> list[tuple[str, str]]:
    """Deals whose row is not what their `created` audit event recorded, and audited deals with no row."""
    rows = await conn.fetch(
        """SELECT record_id, problem FROM (
           WITH audited AS (
               SELECT stream_id AS deal_id, payload FROM audit_events WHERE stream = 'deal' AND kind = 'created'
           )
           SELECT d.id::text AS record_id,
                  CASE WHEN a.deal_id IS NULL THEN 'has no audited created event'
                       WHEN a.payload->'price'->>'amount' IS DISTINCT FROM d.price_amount::text
                         OR a.payload->'price'->>'currency' IS DISTINCT FROM d.currency
                           THEN 'price differs from its audited event'
                       WHEN a.payload->>'buyer' IS DISTINCT FROM d.buyer_id::text
                         OR a.payload->>'seller' IS DISTINCT FROM d.seller_id::text
                           THEN 'buyer or seller differs from its audited event'
                       WHEN a.payload->>'source' IS DISTINCT FROM d.source
                         OR a.payload->>'source_id' IS DISTINCT FROM d.source_id::text
                         OR a.payload->>'track_id' IS DISTINCT FROM d.track_id::text
                         OR a.payload->'usage' IS DISTINCT FROM d.usage
                           THEN 'what was licensed differs from its audited event'
                  END AS problem
             FROM deals d LEFT JOIN audited a ON a.deal_id = d.id::text
           UNION ALL
           SELECT a.deal_id, 'audited deal has no row in deals'
             FROM audited a WHERE NOT EXISTS (SELECT 1 FROM deals d WHERE d.id::text = a.deal_id)
           ) checked WHERE problem IS NOT NULL LIMIT $1""",
        limit,
    )
    return [(row["record_id"], row["problem"]) for row in rows]


async def deal_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM deals")
    return count
