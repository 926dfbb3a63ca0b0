"""The asyncpg pool every request, job and command draws from, with JSON and pgvector codecs."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from pgvector.asyncpg import register_vector


def encode_json(value: Any) -> str:
    """JSON text for a json/jsonb parameter: msgspec Structs, UUIDs and datetimes included."""
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(
            json_type, schema="pg_catalog", encoder=encode_json, decoder=msgspec.json.decode
        )
    await register_vector(conn)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing beyond what asyncpg does on every release anyway (roll back an open transaction, drop
    listeners). Its default also sent `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, one
    more round trip per request that our code never needs: nothing here LISTENs on a pooled connection,
    SETs a session variable, keeps a cursor past its transaction or holds a session advisory lock past
    a `finally` (contracts' deployment lock is the only one)."""


async def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A pool on a migrated database (the vector extension must exist for its codec)."""
    pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
        database_url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"timezone": "UTC", "application_name": "marketplace"},
    )
    return pool
