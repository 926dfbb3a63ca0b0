"""The SQL for deals."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from contracts.model import Deal, DealSource, DealState, Licence, LicenceStatus, LicenceTerms
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
