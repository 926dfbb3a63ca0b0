"""Every migration, in every package branch, goes up and down cleanly on a fresh database."""

import itertools

import asyncpg
import pytest

from marketplace.audit import verify_audit
from marketplace.db import create_pool
from marketplace.migrations import downgrade_async, upgrade_async


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def test_upgrade_downgrade_and_upgrade_again(scratch_database: str) -> None:
    await upgrade_async(scratch_database)
    tables = await _tables(scratch_database)
    assert {"organisations", "users", "api_tokens", "audit_events", "tracks"} <= tables

    await downgrade_async(scratch_database, "base")
    assert await _tables(scratch_database) == {"alembic_version"}

    await upgrade_async(scratch_database)
    assert await _tables(scratch_database) == tables


OLD_APPEND = "SELECT audit_append($1, $2, $3, $4::jsonb, NULL)"


async def test_per_stream_chains_are_built_from_an_intact_global_chain_and_undone_again(
    scratch_database: str,
) -> None:
    await upgrade_async(scratch_database, "0001_foundation")
    conn = await asyncpg.connect(scratch_database)
    try:
        for stream_id, kind in (
            ("a", "opened"),
            ("b", "opened"),
            ("a", "bid"),
            ("b", "closed"),
            ("a", "closed"),
        ):
            await conn.execute(OLD_APPEND, "round", stream_id, kind, "{}")
        await upgrade_async(scratch_database)
        await _verified(scratch_database, events=5, streams=2)
        rows = await conn.fetch("SELECT stream_id, stream_seq FROM audit_events ORDER BY seq")
        assert [(row["stream_id"], row["stream_seq"]) for row in rows] == [
            ("a", 1),
            ("b", 1),
            ("a", 2),
            ("b", 2),
            ("a", 3),
        ]

        await conn.execute(OLD_APPEND, "deal", "c", "agreed", "{}")  # appended per stream, then undone
        await downgrade_async(scratch_database, "0001_foundation")
        rows = await conn.fetch("SELECT seq, prev_hash, hash FROM audit_events ORDER BY seq")
        assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5, 6]
        assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(rows))
        assert await conn.fetchval(
            """SELECT bool_and(hash = sha256(prev_hash
                      || audit_canonical(seq, stream, stream_id, kind, payload, actor_id, occurred_at)))
                 FROM audit_events"""
        )
    finally:
        await conn.close()


async def test_the_upgrade_refuses_to_rechain_a_tampered_history(scratch_database: str) -> None:
    await upgrade_async(scratch_database, "0001_foundation")
    conn = await asyncpg.connect(scratch_database)
    try:
        for kind in ("opened", "bid", "closed"):
            await conn.execute(OLD_APPEND, "round", "a", kind, "{}")
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE audit_events SET payload = '{\"amount\": 1}' WHERE seq = 2")
        with pytest.raises(Exception, match="the audit chain is broken at event 2"):
            await upgrade_async(scratch_database)
    finally:
        await conn.close()


async def _verified(database_url: str, *, events: int, streams: int) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            report = await verify_audit(conn, [])
    finally:
        await pool.close()
    assert report.intact, report.breaks
    assert (report.events_checked, report.streams_checked) == (events, streams)
