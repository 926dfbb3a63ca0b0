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
