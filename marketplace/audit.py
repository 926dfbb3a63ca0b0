"""Walk the audit chain and name the first row whose hash or link does not hold; check the ledger balances."""

from __future__ import annotations

import hashlib

import asyncpg
import msgspec
from litestar import get

from contracts.service import LedgerReport, verify_ledger

GENESIS = bytes(32)


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    rows_checked: int
    first_broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


async def verify_chain(conn: asyncpg.Connection, batch_size: int = 5_000) -> ChainReport:
    """Recompute every row's hash from its current contents, in order, in batches."""
    previous_hash, expected_seq, checked = GENESIS, 1, 0
    while True:
        rows = await conn.fetch(
            """SELECT seq, prev_hash, hash,
                      audit_canonical(seq, stream, stream_id, kind, payload, actor_id, occurred_at) AS canonical
               FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2""",
            expected_seq,
            batch_size,
        )
        if not rows:
            return ChainReport(rows_checked=checked)
        for row in rows:
            seq = row["seq"]
            if seq != expected_seq:
                return ChainReport(
                    rows_checked=checked, first_broken_seq=expected_seq, problem="row is missing"
                )
            if bytes(row["prev_hash"]) != previous_hash:
                return ChainReport(
                    rows_checked=checked,
                    first_broken_seq=seq,
                    problem="does not link to the previous row's hash",
                )
            recomputed = hashlib.sha256(previous_hash + bytes(row["canonical"])).digest()
            if recomputed != bytes(row["hash"]):
                return ChainReport(
                    rows_checked=checked,
                    first_broken_seq=seq,
                    problem="contents changed after it was written",
                )
            previous_hash, expected_seq, checked = recomputed, seq + 1, checked + 1


class AuditReport(msgspec.Struct, frozen=True, kw_only=True):
    """The audit chain's report and the ledger's: every transaction balances, every balance adds up."""

    rows_checked: int
    first_broken_seq: int | None
    problem: str | None
    ledger: LedgerReport

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None and self.ledger.balanced


async def verify_all(conn: asyncpg.Connection) -> AuditReport:
    chain = await verify_chain(conn)
    return AuditReport(
        rows_checked=chain.rows_checked, first_broken_seq=chain.first_broken_seq, problem=chain.problem,
        ledger=await verify_ledger(conn),
    )  # fmt: skip


@get("/api/admin/audit/verify", tags=["operations"], opt={"roles": ["admin"]})
async def verify_endpoint(conn: asyncpg.Connection) -> AuditReport:
    """Walk the whole audit chain and check the ledger now (admins only: it reads every event)."""
    return await verify_all(conn)


route_handlers = [verify_endpoint]
