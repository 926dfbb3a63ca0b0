"""The audit trail: one chain per stream, a checkpoint chain over their heads, anchors outside the database.

Tampering runs the way an attacker with database rights would: triggers bypassed
(`session_replication_role = replica`), later hashes recomputed, heads moved to match.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.anchors import AnchorSink, SignedFileSink
from marketplace.audit import (
    GENESIS,
    ChainBreak,
    GlobalHead,
    checkpoint_and_anchor,
    read_anchors,
    take_checkpoint,
    verify_audit,
)
from marketplace.keys import load_or_create_platform_key
from marketplace.migrations import upgrade_async
from tests.auction.live import wait_for

APPEND = "SELECT audit_append($1, $2, $3, $4::jsonb, $5)"


def _stream() -> str:
    return f"r-{secrets.token_hex(4)}"


async def _breaks_in(
    conn: asyncpg.Connection, chain: str, sinks: list[AnchorSink] | None = None
) -> list[ChainBreak]:
    report = await verify_audit(conn, await read_anchors(sinks or []))
    return [found for found in report.breaks if found.chain == chain]


async def _as_attacker(conn: asyncpg.Connection) -> None:
    await conn.execute("SET LOCAL session_replication_role = replica")


async def _rechain(conn: asyncpg.Connection, stream: str, stream_id: str) -> None:
    """Recompute every hash of a stream from its (edited) contents and move its head to match."""
    previous = GENESIS
    rows = await conn.fetch(
        """SELECT seq, audit_canonical(stream_seq, stream, stream_id, kind, payload, actor_id, occurred_at) AS canonical
             FROM audit_events WHERE stream = $1 AND stream_id = $2 ORDER BY stream_seq""",
        stream, stream_id,
    )  # fmt: skip
    for row in rows:
        digest = hashlib.sha256(previous + bytes(row["canonical"])).digest()
        await conn.execute(
            "UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE seq = $1", row["seq"], previous, digest
        )
        previous = digest
    await conn.execute(
        """UPDATE audit_streams SET head_seq = (SELECT max(stream_seq) FROM audit_events WHERE stream = $1 AND stream_id = $2),
                  head_hash = $3 WHERE stream = $1 AND stream_id = $2""",
        stream, stream_id, previous,
    )  # fmt: skip


async def test_each_stream_chains_its_own_events_from_genesis(db: asyncpg.Connection) -> None:
    first, other = _stream(), _stream()
    await db.fetchval(APPEND, "round", first, "bid_placed", {"amount": 1000}, None)
    await db.fetchval(APPEND, "round", other, "bid_placed", {"amount": 7}, None)
    await db.fetchval(APPEND, "round", first, "round_closed", {"winner": "b"}, uuid.uuid4())
    rows = await db.fetch(
        "SELECT stream_id, stream_seq, prev_hash, hash FROM audit_events WHERE stream_id IN ($1, $2) ORDER BY seq",
        first, other,
    )  # fmt: skip
    assert [(row["stream_id"], row["stream_seq"]) for row in rows] == [(first, 1), (other, 1), (first, 2)]
    assert bytes(rows[1]["prev_hash"]) == GENESIS, "another stream's event is not this stream's predecessor"
    assert rows[2]["prev_hash"] == rows[0]["hash"]
    head = await db.fetchrow(
        "SELECT head_seq, head_hash FROM audit_streams WHERE stream = 'round' AND stream_id = $1", first
    )
    assert (head["head_seq"], head["head_hash"]) == (2, rows[2]["hash"])
    assert await _breaks_in(db, f"round {first}") == []


async def test_an_append_to_one_round_does_not_wait_for_an_open_transaction_on_another(
    pg_pool: asyncpg.Pool,
) -> None:
    busy, free = _stream(), _stream()
    async with pg_pool.acquire() as holder, pg_pool.acquire() as other, pg_pool.acquire() as same:
        transaction = holder.transaction()
        await transaction.start()
        try:
            await holder.fetchval(APPEND, "round", busy, "bid", {"amount": 1}, None)
            # Under one global lock this append would wait for `holder` to commit, which never comes.
            await asyncio.wait_for(
                other.fetchval(APPEND, "round", free, "bid", {"amount": 2}, None), timeout=10
            )
            # The same stream still appends one at a time: its second writer waits on the head's row lock.
            queued = asyncio.create_task(same.fetchval(APPEND, "round", busy, "bid", {"amount": 3}, None))
            await wait_for(
                lambda: pg_pool.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                    same.get_server_pid(),
                ),
                what="the second append to the busy round to wait for its lock",
            )
        finally:
            await transaction.commit()
        await asyncio.wait_for(queued, timeout=10)
    seqs = await pg_pool.fetch(
        "SELECT payload->>'amount' AS amount, stream_seq FROM audit_events WHERE stream_id = $1 ORDER BY stream_seq",
        busy,
    )
    assert [(row["amount"], row["stream_seq"]) for row in seqs] == [("1", 1), ("3", 2)]


async def test_update_delete_and_truncate_are_refused_by_the_database(db: asyncpg.Connection) -> None:
    seq = await db.fetchval(APPEND, "deal", _stream(), "agreed", {"price": 5}, None)
    await db.fetchval("SELECT audit_checkpoint()")
    # Each attempt runs in a savepoint, so the refusal does not end the test's transaction.
    for statement in (
        f"UPDATE audit_events SET payload = '{{}}' WHERE seq = {seq}",
        f"DELETE FROM audit_events WHERE seq = {seq}",
        "UPDATE audit_checkpoints SET streams = 0",
        "DELETE FROM audit_checkpoint_heads",
        "TRUNCATE audit_checkpoints",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="is append-only"):
            async with db.transaction():
                await db.execute(statement)


async def test_an_edited_event_is_named_in_its_stream(db: asyncpg.Connection) -> None:
    stream = _stream()
    for kind in ("agreed", "paid", "payout"):
        await db.fetchval(APPEND, "deal", stream, kind, {"price": 100}, None)
    await _as_attacker(db)
    await db.execute(
        "UPDATE audit_events SET payload = '{\"price\": 1}' WHERE stream_id = $1 AND stream_seq = 2", stream
    )
    assert await _breaks_in(db, f"deal {stream}") == [
        ChainBreak(chain=f"deal {stream}", seq=2, problem="contents changed after it was written")
    ]


async def test_an_edit_with_every_later_hash_recomputed_is_caught_by_the_checkpoint(
    db: asyncpg.Connection,
) -> None:
    stream = _stream()
    for amount in (100, 200, 300):
        await db.fetchval(APPEND, "round", stream, "bid", {"amount": amount}, None)
    assert await db.fetchval("SELECT audit_checkpoint()") is not None
    await _as_attacker(db)
    await db.execute(
        "UPDATE audit_events SET payload = '{\"amount\": 1}' WHERE stream_id = $1 AND stream_seq = 1", stream
    )
    await _rechain(db, "round", stream)
    breaks = await _breaks_in(db, f"round {stream}")
    assert [(found.seq, found.problem.rsplit(" but ", 1)[1]) for found in breaks] == [
        (3, "it has a different hash now")
    ]


async def test_deleting_a_streams_newest_events_is_caught_by_the_checkpoint(db: asyncpg.Connection) -> None:
    stream = _stream()
    for kind in ("opened", "bid", "closed"):
        await db.fetchval(APPEND, "round", stream, kind, {}, None)
    await db.fetchval("SELECT audit_checkpoint()")
    await _as_attacker(db)
    await db.execute("DELETE FROM audit_events WHERE stream_id = $1 AND stream_seq = 3", stream)
    await _rechain(db, "round", stream)  # the head moved back, so only the checkpoint remembers
    breaks = await _breaks_in(db, f"round {stream}")
    assert [(found.seq, found.problem.endswith("but it is gone")) for found in breaks] == [(3, True)]


async def test_a_tampered_checkpoint_is_named_in_the_checkpoint_chain(db: asyncpg.Connection) -> None:
    await db.fetchval(APPEND, "round", _stream(), "opened", {}, None)
    first = await db.fetchval("SELECT audit_checkpoint()")
    await db.fetchval(APPEND, "round", _stream(), "opened", {}, None)
    await db.fetchval("SELECT audit_checkpoint()")
    await _as_attacker(db)
    await db.execute("UPDATE audit_checkpoint_heads SET stream_seq = 99 WHERE checkpoint_seq = $1", first)
    breaks = await _breaks_in(db, "checkpoints")
    assert breaks == [
        ChainBreak(chain="checkpoints", seq=first, problem="contents changed after it was written")
    ]


async def test_a_checkpoint_takes_only_streams_that_moved(db: asyncpg.Connection) -> None:
    stream = _stream()
    await db.fetchval(APPEND, "round", stream, "opened", {}, None)
    first = await db.fetchval("SELECT audit_checkpoint()")
    assert await db.fetchval("SELECT audit_checkpoint()") is None, "nothing moved: no new checkpoint"
    await db.fetchval(APPEND, "round", stream, "closed", {}, None)
    second = await db.fetchval("SELECT audit_checkpoint()")
    heads = await db.fetch(
        "SELECT checkpoint_seq, stream_seq FROM audit_checkpoint_heads WHERE stream_id = $1 ORDER BY checkpoint_seq",
        stream,
    )
    assert [(row["checkpoint_seq"], row["stream_seq"]) for row in heads] == [(first, 1), (second, 2)]


# ---------------------------------------------------------------- anchors


@pytest.fixture
def file_sink(tmp_path: Path) -> SignedFileSink:
    return SignedFileSink(tmp_path / "anchors.jsonl", load_or_create_platform_key(tmp_path))


def test_the_platform_key_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = load_or_create_platform_key(tmp_path)
    again = load_or_create_platform_key(tmp_path)
    assert key.public_key() == again.public_key()
    assert (tmp_path / "platform-ed25519.pem").stat().st_mode & 0o777 == 0o600


async def _anchored_bid(pg_pool: asyncpg.Pool, sinks: list[AnchorSink]) -> tuple[str, GlobalHead]:
    """A committed bid event in a new round, checkpointed and anchored: only committed heads are anchored."""
    stream = _stream()
    await pg_pool.fetchval(APPEND, "round", stream, "bid", {"amount": 500}, None)
    head = await checkpoint_and_anchor(pg_pool, sinks)
    assert head is not None
    return stream, head


async def test_anchoring_inside_a_transaction_is_refused(
    db: asyncpg.Connection, file_sink: SignedFileSink
) -> None:
    with pytest.raises(RuntimeError, match="outside a transaction"):
        await take_checkpoint(db)


async def test_a_checkpoint_chain_rewritten_from_an_anchored_checkpoint_on_is_caught_by_the_anchor(
    pg_pool: asyncpg.Pool, db: asyncpg.Connection, file_sink: SignedFileSink
) -> None:
    stream, head = await _anchored_bid(pg_pool, [file_sink])
    assert [anchor.seq for anchor in await file_sink.anchors()] == [head.seq]
    assert await _breaks_in(db, "signed anchors file: checkpoint", [file_sink]) == []
    # Rewrite the bid, its stream, and the checkpoint that recorded it, hash and all.
    await _as_attacker(db)
    await db.execute("UPDATE audit_events SET payload = '{\"amount\": 5}' WHERE stream_id = $1", stream)
    await _rechain(db, "round", stream)
    await db.execute(
        "UPDATE audit_checkpoint_heads SET hash = (SELECT head_hash FROM audit_streams WHERE stream_id = $1) "
        "WHERE stream_id = $1",
        stream,
    )
    await db.execute(
        "UPDATE audit_checkpoints SET hash = sha256(prev_hash || audit_checkpoint_canonical(seq, taken_at)) WHERE seq = $1",
        head.seq,
    )
    report = await verify_audit(db, await read_anchors([file_sink]))
    assert not [found for found in report.breaks if found.chain in (f"round {stream}", "checkpoints")]
    anchored = [found for found in report.breaks if found.chain == "signed anchors file: checkpoint"]
    assert [(found.seq, "the checkpoint chain was rewritten" in found.problem) for found in anchored] == [
        (head.seq, True)
    ]


async def test_the_newest_checkpoints_deleted_are_caught_by_the_anchor(
    pg_pool: asyncpg.Pool, db: asyncpg.Connection, file_sink: SignedFileSink
) -> None:
    _, head = await _anchored_bid(pg_pool, [file_sink])
    await _as_attacker(db)
    await db.execute("DELETE FROM audit_checkpoint_heads WHERE checkpoint_seq = $1", head.seq)
    await db.execute("DELETE FROM audit_checkpoints WHERE seq = $1", head.seq)
    breaks = await _breaks_in(db, "signed anchors file: checkpoint", [file_sink])
    assert [(found.seq, found.problem.endswith("the checkpoint is gone")) for found in breaks] == [
        (head.seq, True)
    ]


async def test_an_anchor_not_signed_by_the_platform_key_is_refused(
    pg_pool: asyncpg.Pool, db: asyncpg.Connection, file_sink: SignedFileSink
) -> None:
    await _anchored_bid(pg_pool, [SignedFileSink(file_sink.path, Ed25519PrivateKey.generate())])
    breaks = await _breaks_in(db, file_sink.name, [file_sink])
    assert [found.problem.endswith("is not signed by the platform key") for found in breaks] == [True]


# ---------------------------------------------------------------- the command


async def _audit(database_url: str, data_dir: Path, action: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "marketplace.cli", "audit", action,
        env={**os.environ, "DATABASE_URL": database_url, "MARKETPLACE_DATA_DIR": str(data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_cli_audit_verify_catches_the_newest_events_deleted_after_they_were_anchored(
    scratch_database: str, tmp_path: Path
) -> None:
    await upgrade_async(scratch_database)
    conn = await asyncpg.connect(scratch_database)
    try:
        for kind in ("opened", "bid", "closed"):
            await conn.execute(APPEND, "round", "r9", kind, "{}", None)
        code, out, err = await _audit(scratch_database, tmp_path, "checkpoint")
        assert code == 0, err
        assert "global head: checkpoint 1" in out
        assert len((tmp_path / "audit-anchors.jsonl").read_text().splitlines()) == 1
        code, out, err = await _audit(scratch_database, tmp_path, "verify")
        assert code == 0, err
        assert "intact: 3 events in 1 streams, 1 checkpoints, 1 anchors" in out

        # Delete the newest event and every trace of it inside the database: only the anchor remains.
        async with conn.transaction():
            await _as_attacker(conn)
            await conn.execute("DELETE FROM audit_events WHERE stream_seq = 3")
            await conn.execute("DELETE FROM audit_checkpoint_heads")
            await conn.execute("DELETE FROM audit_checkpoints")
            await _rechain(conn, "round", "r9")
            await conn.execute("UPDATE audit_streams SET checkpointed_seq = 0")
        code, out, err = await _audit(scratch_database, tmp_path, "verify")
        assert code == 1
        assert "signed anchors file: checkpoint entry 1: anchored (taken" in err
        assert "the checkpoint is gone" in err
    finally:
        await conn.close()
