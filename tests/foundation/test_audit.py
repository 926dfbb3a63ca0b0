"""The audit chain: append-only by the database's own rules, tampering found by `marketplace audit verify`."""

import asyncio
import os
import sys
import uuid

import asyncpg
import pytest

from marketplace.audit import verify_chain
from marketplace.migrations import upgrade_async

APPEND = "SELECT audit_append($1, $2, $3, $4::jsonb, $5)"


async def test_each_event_links_to_its_predecessor(db: asyncpg.Connection) -> None:
    first = await db.fetchval(APPEND, "round", "r1", "bid_placed", {"amount": 1000}, None)
    second = await db.fetchval(APPEND, "round", "r1", "round_closed", {"winner": "b"}, uuid.uuid4())
    rows = await db.fetch(
        "SELECT seq, prev_hash, hash FROM audit_events WHERE seq IN ($1, $2) ORDER BY seq", first, second
    )
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert (await verify_chain(db)).intact


async def test_update_and_delete_are_refused_by_the_database(db: asyncpg.Connection) -> None:
    seq = await db.fetchval(APPEND, "deal", "d1", "agreed", {"price": 5}, None)
    # Each attempt runs in a savepoint, so the refusal does not end the test's transaction.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only: UPDATE is refused"):
        async with db.transaction():
            await db.execute("UPDATE audit_events SET payload = '{}' WHERE seq = $1", seq)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only: DELETE is refused"):
        async with db.transaction():
            await db.execute("DELETE FROM audit_events WHERE seq = $1", seq)


async def test_verify_names_the_first_tampered_row(db: asyncpg.Connection) -> None:
    await db.fetchval(APPEND, "deal", "d2", "agreed", {"price": 100}, None)
    tampered = await db.fetchval(APPEND, "deal", "d2", "paid", {"price": 100}, None)
    await db.fetchval(APPEND, "deal", "d2", "payout", {"price": 100}, None)
    # Someone with superuser rights bypasses the trigger and rewrites history.
    await db.execute("SET LOCAL session_replication_role = replica")
    await db.execute("UPDATE audit_events SET payload = '{\"price\": 1}' WHERE seq = $1", tampered)
    report = await verify_chain(db)
    assert report.first_broken_seq == tampered
    assert report.problem == "contents changed after it was written"


async def _audit_verify(database_url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "marketplace.cli", "audit", "verify",
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_cli_audit_verify_exits_non_zero_on_a_tampered_chain(scratch_database: str) -> None:
    await upgrade_async(scratch_database)
    conn = await asyncpg.connect(scratch_database)
    try:
        for kind in ("opened", "bid", "closed"):
            await conn.execute(APPEND, "round", "r9", kind, "{}", None)
        code, out, err = await _audit_verify(scratch_database)
        assert code == 0, err
        assert "intact: 3 events verified" in out

        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        await conn.execute("DELETE FROM audit_events WHERE seq = 2")
        code, out, err = await _audit_verify(scratch_database)
        assert code == 1
        assert "BROKEN at event 2: row is missing" in err
    finally:
        await conn.close()
