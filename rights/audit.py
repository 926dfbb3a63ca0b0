"""The one write into the audit log, shared by every package (the database chains and guards it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def append_audit(
    conn: asyncpg.Connection, stream: str, stream_id: UUID, kind: str, payload: Any, actor: UUID | None
) -> None:
    """Append an event inside the caller's transaction; `audit_append` hashes it onto the chain."""
    await conn.execute(
        "SELECT audit_append($1::text, $2::text, $3::text, $4::jsonb, $5::uuid)",
        stream, str(stream_id), kind, payload, actor,
    )  # fmt: skip
