"""Disputed claims (always in PostgreSQL, whichever backend keeps the graph)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from rights.model import ClaimStatus, ControlEdge, DisputedClaim

_COLUMNS = """id, claimant_organisation_id, controller_organisation_id, subject_id, subject_title, share,
              party_name, source, status, created_at, decided_at"""


def _claim(row: asyncpg.Record) -> DisputedClaim:
    return DisputedClaim(
        id=row["id"], claimant_organisation_id=row["claimant_organisation_id"],
        controller_organisation_id=row["controller_organisation_id"], subject_id=row["subject_id"],
        subject_title=row["subject_title"], share=msgspec.convert(row["share"], ControlEdge, strict=False),
        party_name=row["party_name"], source=row["source"], status=ClaimStatus(row["status"]),
        created_at=row["created_at"], decided_at=row["decided_at"],
    )  # fmt: skip


async def insert_claims(conn: asyncpg.Connection, claims: Sequence[DisputedClaim]) -> None:
    await conn.executemany(
        """INSERT INTO rights_disputed_claims (id, claimant_organisation_id, controller_organisation_id, subject_id,
                                               subject_title, share, party_name, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [(c.id, c.claimant_organisation_id, c.controller_organisation_id, c.subject_id, c.subject_title,
          msgspec.to_builtins(c.share), c.party_name, c.source) for c in claims],
    )  # fmt: skip


async def claims_on(
    conn: asyncpg.Connection, controller_organisation_id: UUID, status: ClaimStatus | None, limit: int
) -> list[DisputedClaim]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM rights_disputed_claims
             WHERE controller_organisation_id = $1 AND ($2::text IS NULL OR status = $2)
             ORDER BY created_at, id LIMIT $3""",
        controller_organisation_id, status.value if status else None, limit,
    )  # fmt: skip
    return [_claim(r) for r in rows]


async def claim_for_update(conn: asyncpg.Connection, claim_id: UUID) -> DisputedClaim | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM rights_disputed_claims WHERE id = $1 FOR UPDATE", claim_id
    )
    return _claim(row) if row else None


async def decide(
    conn: asyncpg.Connection, claim_id: UUID, status: ClaimStatus, decided_by: UUID, now: datetime
) -> None:
    await conn.execute(
        "UPDATE rights_disputed_claims SET status = $2, decided_by = $3, decided_at = $4 WHERE id = $1",
        claim_id, status.value, decided_by, now,
    )  # fmt: skip
