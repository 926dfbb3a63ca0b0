"""Licence requests and organisations' names (always in PostgreSQL, whichever backend keeps the graph)."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

import asyncpg
import msgspec

from rights.model import LicenceRequest
from rights.terms import Usage

_SELECT = """SELECT r.id, r.track_id, t.title AS track_title, r.owner_organisation_id, r.requester_organisation_id,
                    o.name AS requester_name, r.usage, r.message, r.reasons, r.created_at
               FROM rights_licence_requests r
               JOIN tracks t ON t.id = r.track_id
               JOIN organisations o ON o.id = r.requester_organisation_id"""


def _request(row: asyncpg.Record) -> LicenceRequest:
    return LicenceRequest(
        id=row["id"], track_id=row["track_id"], track_title=row["track_title"],
        owner_organisation_id=row["owner_organisation_id"], requester_organisation_id=row["requester_organisation_id"],
        requester_name=row["requester_name"], usage=msgspec.convert(row["usage"], Usage, strict=False),
        message=row["message"], reasons=tuple(row["reasons"]), created_at=row["created_at"],
    )  # fmt: skip


def usage_key(usage: Usage) -> str:
    """The usage as one canonical string: the same use asked twice is one request."""
    return msgspec.json.encode(usage).decode()


async def insert_request(
    conn: asyncpg.Connection, request: LicenceRequest, requested_by: UUID
) -> LicenceRequest:
    """The new request, or the one the organisation already made for the same track and use."""
    await conn.execute(
        """INSERT INTO rights_licence_requests (id, track_id, owner_organisation_id, requester_organisation_id,
                                                requested_by, usage, usage_key, message, reasons, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (requester_organisation_id, track_id, usage_key) DO NOTHING""",
        request.id, request.track_id, request.owner_organisation_id, request.requester_organisation_id,
        requested_by, msgspec.to_builtins(request.usage), usage_key(request.usage), request.message,
        list(request.reasons), request.created_at,
    )  # fmt: skip
    row = await conn.fetchrow(
        f"{_SELECT} WHERE r.requester_organisation_id = $1 AND r.track_id = $2 AND r.usage_key = $3",
        request.requester_organisation_id, request.track_id, usage_key(request.usage),
    )  # fmt: skip
    assert row is not None  # inserted or found under the same key, in this transaction
    return _request(row)


async def requests_to(
    conn: asyncpg.Connection, owner_organisation_id: UUID, limit: int
) -> list[LicenceRequest]:
    rows = await conn.fetch(
        f"{_SELECT} WHERE r.owner_organisation_id = $1 ORDER BY r.created_at DESC, r.id LIMIT $2",
        owner_organisation_id, limit,
    )  # fmt: skip
    return [_request(r) for r in rows]


async def requests_by(
    conn: asyncpg.Connection, requester_organisation_id: UUID, limit: int
) -> list[LicenceRequest]:
    rows = await conn.fetch(
        f"{_SELECT} WHERE r.requester_organisation_id = $1 ORDER BY r.created_at DESC, r.id LIMIT $2",
        requester_organisation_id, limit,
    )  # fmt: skip
    return [_request(r) for r in rows]


async def organisation_names(conn: asyncpg.Connection, ids: Collection[UUID]) -> dict[UUID, str]:
    rows = await conn.fetch("SELECT id, name FROM organisations WHERE id = ANY($1::uuid[])", list(ids))
    return {row["id"]: row["name"] for row in rows}
