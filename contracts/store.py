"""The SQL for deals."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from contracts.model import Deal, DealSource, DealState, HoldSource, UsageHold
from rights.terms import Money, Usage

_COLUMNS = (
    "id, source, source_id, track_id, seller_id, buyer_id, price_amount, currency, usage, state, created_at"
)


def _deal(row: asyncpg.Record) -> Deal:
    return Deal(
        id=row["id"], source=DealSource(row["source"]), source_id=row["source_id"], track_id=row["track_id"],
        seller=row["seller_id"], buyer=row["buyer_id"], price=Money(row["price_amount"], row["currency"]),
        usage=msgspec.convert(row["usage"], Usage), state=DealState(row["state"]), created_at=row["created_at"],
    )  # fmt: skip


async def insert_deal(conn: asyncpg.Connection, deal: Deal) -> Deal:
    row = await conn.fetchrow(
        f"""INSERT INTO deals ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            RETURNING {_COLUMNS}""",
        deal.id, deal.source.value, deal.source_id, deal.track_id, deal.seller, deal.buyer, deal.price.amount,
        deal.price.currency, deal.usage, deal.state.value, deal.created_at,
    )  # fmt: skip
    assert row is not None
    return _deal(row)


async def deal(conn: asyncpg.Connection, deal_id: UUID) -> Deal | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM deals WHERE id = $1", deal_id)
    return None if row is None else _deal(row)


async def deal_from(conn: asyncpg.Connection, source: DealSource, source_id: UUID) -> Deal | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM deals WHERE source = $1 AND source_id = $2", source.value, source_id
    )
    return None if row is None else _deal(row)


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


async def live_hold(conn: asyncpg.Connection, source: HoldSource, source_id: UUID) -> UsageHold | None:
    row = await conn.fetchrow(
        """SELECT id, track_id, usage, source, source_id, created_at FROM usage_holds
            WHERE source = $1 AND source_id = $2 AND released_at IS NULL""",
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
    """Deals whose row is not what their `deal_pending` audit event recorded, and audited deals with no row."""
    rows = await conn.fetch(
        """SELECT record_id, problem FROM (
           WITH audited AS (
               SELECT stream_id AS deal_id, payload FROM audit_events WHERE stream = 'deal' AND kind = 'deal_pending'
           )
           SELECT d.id::text AS record_id,
                  CASE WHEN a.deal_id IS NULL THEN 'has no audited deal_pending event'
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
