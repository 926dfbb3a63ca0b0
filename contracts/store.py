"""The SQL for deals."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec

from contracts.model import Deal, DealSource, DealState
from rights.terms import Money, Usage

_COLUMNS = "id, source, source_id, track_id, seller_id, buyer_id, price_amount, currency, usage, state, created_at, updated_at"


def _deal(row: asyncpg.Record) -> Deal:
    return Deal(
        id=row["id"], source=DealSource(row["source"]), source_id=row["source_id"], track_id=row["track_id"],
        seller=row["seller_id"], buyer=row["buyer_id"], price=Money(row["price_amount"], row["currency"]),
        usage=msgspec.convert(row["usage"], Usage), state=DealState(row["state"]), created_at=row["created_at"],
    )  # fmt: skip


async def insert_deal(conn: asyncpg.Connection, deal: Deal) -> Deal:
    row = await conn.fetchrow(
        f"""INSERT INTO deals ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
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
