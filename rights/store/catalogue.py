"""The catalogue's `tracks` table (owned by the foundation, written only through rights.service)."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

import asyncpg

from rights.model import Track

_COLUMNS = "id, owner_organisation_id, title, artist, description, created_at"


def _track(row: asyncpg.Record) -> Track:
    return Track(**dict(row))


async def insert_track(
    conn: asyncpg.Connection, *, owner_organisation_id: UUID, title: str, artist: str, description: str
) -> Track:
    row = await conn.fetchrow(
        f"""INSERT INTO tracks (owner_organisation_id, title, artist, description) VALUES ($1, $2, $3, $4)
            RETURNING {_COLUMNS}""",
        owner_organisation_id, title, artist, description,
    )  # fmt: skip
    assert row is not None
    return _track(row)


async def track(conn: asyncpg.Connection, track_id: UUID) -> Track | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tracks WHERE id = $1", track_id)
    return _track(row) if row else None


async def tracks(
    conn: asyncpg.Connection, *, ids: Collection[UUID] | None = None, owner_organisation_id: UUID | None = None,
    limit: int = 100, offset: int = 0,
) -> list[Track]:  # fmt: skip
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM tracks
             WHERE ($1::uuid[] IS NULL OR id = ANY($1)) AND ($2::uuid IS NULL OR owner_organisation_id = $2)
             ORDER BY created_at, id LIMIT $3 OFFSET $4""",
        list(ids) if ids is not None else None, owner_organisation_id, limit, offset,
    )  # fmt: skip
    return [_track(r) for r in rows]
