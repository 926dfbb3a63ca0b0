"""Every migration, in every package branch, goes up and down cleanly on a fresh database."""

import asyncpg

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
