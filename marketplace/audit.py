"""The audit log's integrity: each stream's chain, the checkpoint chain over their heads, its external
anchors, the business tables checked against the events that audited them, and the ledger's balance.

The database chains every event onto its stream's head (`audit_append`, one lock per stream).
`audit_checkpoint()` chains the heads of the streams that moved into the global checkpoint chain, whose
newest entry is the one global head; `checkpoint_and_anchor` publishes it to the anchor sinks. Edits
that recompute later hashes, or deletions of the newest rows, show up as a head that no longer matches
a checkpoint, or a checkpoint that no longer matches an anchor.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import asyncpg
import msgspec
from litestar import get, post
from litestar.datastructures import State

from auction import service as auction
from contracts import service as contracts
from contracts.chain.client import ChainClient, ChainReverted, ChainUnavailable
from marketplace.anchors import ANCHORS_FILE, Anchor, AnchorSink, AnchorUnreadable, SignedFileSink
from marketplace.chain import ChainAnchorSink
from marketplace.keys import load_or_create_platform_key

log = logging.getLogger("marketplace.audit")

GENESIS = bytes(32)
BATCH = 5_000
MAX_BREAKS = 100


class ChainBreak(msgspec.Struct, frozen=True, kw_only=True):
    """Where the audit trail does not hold: `chain` names the stream, checkpoint chain, sink or record."""

    chain: str
    seq: int | None
    problem: str


class AuditReport(msgspec.Struct, frozen=True, kw_only=True):
    intact: bool
    events_checked: int
    streams_checked: int
    checkpoints_checked: int
    anchors_checked: int
    records_checked: int
    breaks: list[ChainBreak]


class GlobalHead(msgspec.Struct, frozen=True, kw_only=True):
    """The newest checkpoint: the one hash that stands for the whole audit log."""

    seq: int
    hash: str
    taken_at: datetime
    streams: int


class Links:
    """Follows hash chains row by row, each chain's rows together and in order (seq 1, 2, …), each row
    hashing onto its predecessor from an all-zero genesis. After a chain's first break its later rows
    are skipped: one break per chain is what an operator needs."""

    def __init__(self) -> None:
        self.chains = 0
        self.rows = 0
        self._key: object = None
        self._previous = GENESIS
        self._expected = 1
        self._broken = False

    def check(
        self, key: object, seq: int, prev_hash: bytes, hash: bytes, canonical: bytes
    ) -> ChainBreak | None:
        if key != self._key:
            self._key, self._previous, self._expected, self._broken = key, GENESIS, 1, False
            self.chains += 1
        if self._broken:
            return None
        self.rows += 1
        if seq != self._expected:
            problem, seq = f"entry {self._expected} is missing", self._expected
        elif prev_hash != self._previous:
            problem = "does not link to the previous entry's hash"
        elif hashlib.sha256(self._previous + canonical).digest() != hash:
            problem = "contents changed after it was written"
        else:
            self._previous, self._expected = hash, seq + 1
            return None
        self._broken = True
        return ChainBreak(chain=str(key), seq=seq, problem=problem)


def anchor_sinks(
    data_dir: Path, pool: asyncpg.Pool | None = None, chain: ChainClient | None = None
) -> list[AnchorSink]:
    """Where the global head is anchored: a signed file in the data dir and, where this process has a
    chain node, the Settlement contract."""
    sinks: list[AnchorSink] = [SignedFileSink(data_dir / ANCHORS_FILE, load_or_create_platform_key(data_dir))]
    if pool is not None and chain is not None:
        sinks.append(ChainAnchorSink(pool, chain))
    return sinks


async def global_head(conn: asyncpg.Connection) -> GlobalHead | None:
    row = await conn.fetchrow(
        "SELECT seq, hash, taken_at, streams FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
    )
    if row is None:
        return None
    return GlobalHead(
        seq=row["seq"], hash=bytes(row["hash"]).hex(), taken_at=row["taken_at"], streams=row["streams"]
    )


async def take_checkpoint(conn: asyncpg.Connection) -> GlobalHead | None:
    """Chain the heads of the streams that moved; the global head after it (None before any event)."""
    if conn.is_in_transaction():  # an anchor must never outlive a checkpoint that is rolled back
        raise RuntimeError("take_checkpoint runs outside a transaction: only committed heads are anchored")
    await conn.fetchval("SELECT audit_checkpoint()")
    return await global_head(conn)


async def anchor(head: GlobalHead, sinks: Sequence[AnchorSink]) -> None:
    """Give every sink the global head unless it already holds it or a later one."""
    for sink in sinks:
        try:
            newest = await sink.newest()
            if newest is None or newest.seq < head.seq:
                await sink.publish(Anchor(seq=head.seq, hash=head.hash, taken_at=head.taken_at))
        except (
            ChainUnavailable,
            ChainReverted,
        ) as failed:  # the other sinks still anchor; this one catches up
            # (a revert is another process anchoring the same head first: the contract only moves forward)
            log.warning("audit head not anchored", extra={"sink": sink.name, "reason": str(failed)})


async def checkpoint_and_anchor(pool: asyncpg.Pool, sinks: Sequence[AnchorSink]) -> GlobalHead | None:
    """Checkpoint, then anchor with no database connection held: a sink may be slow (a chain transaction)."""
    async with pool.acquire() as conn:
        head = await take_checkpoint(conn)
    if head is not None:
        await anchor(head, sinks)
    return head


class SinkAnchors(msgspec.Struct, frozen=True, kw_only=True):
    """What one sink holds: its anchors, or why it cannot vouch for them."""

    sink: str
    anchors: list[Anchor]
    unreadable: str | None = None


async def read_anchors(sinks: Sequence[AnchorSink]) -> list[SinkAnchors]:
    found = []
    for sink in sinks:
        try:
            found.append(SinkAnchors(sink=sink.name, anchors=await sink.anchors()))
        except (AnchorUnreadable, ChainUnavailable) as exc:
            found.append(SinkAnchors(sink=sink.name, anchors=[], unreadable=str(exc)))
    return found


async def verify_audit(conn: asyncpg.Connection, anchored: Sequence[SinkAnchors]) -> AuditReport:
    """Check every stream chain, the stream heads, the checkpoint chain and the heads it recorded, the
    anchors read beforehand (`read_anchors`), and that bids, reveals and deals agree with their audited
    events."""
    breaks: list[ChainBreak] = []
    streams = await _walk_streams(conn, breaks)
    breaks += await _stream_heads_disagreeing(conn)
    checkpoints = await _walk_checkpoints(conn, breaks)
    breaks += await _checkpointed_heads_disagreeing(conn)
    anchors = 0
    for held in anchored:
        anchors += len(held.anchors)
        breaks += await _anchors_disagreeing(conn, held)
    records = 0
    for table, checked in (
        ("bids", auction.bids_disagreeing_with_audit),
        ("deals", contracts.deals_disagreeing_with_audit),
    ):
        count, disagreeing = await checked(conn, MAX_BREAKS)
        records += count
        breaks += [
            ChainBreak(chain=f"{table} row {record}", seq=None, problem=problem)
            for record, problem in disagreeing
        ]
    ledger = await contracts.verify_ledger(conn)
    breaks += [
        ChainBreak(chain="ledger", seq=None, problem=f"transaction {transaction} does not balance")
        for transaction in ledger.unbalanced_transactions
    ]
    breaks += [
        ChainBreak(
            chain="ledger", seq=None, problem=f"account {account}'s balance is not the sum of its entries"
        )
        for account in ledger.drifted_accounts
    ]
    return AuditReport(
        intact=not breaks,
        events_checked=streams.rows,
        streams_checked=streams.chains,
        checkpoints_checked=checkpoints.rows,
        anchors_checked=anchors,
        records_checked=records,
        breaks=breaks[:MAX_BREAKS],
    )


async def _walk_streams(conn: asyncpg.Connection, breaks: list[ChainBreak]) -> Links:
    links, after = Links(), ("", "", 0)
    while True:
        rows = await conn.fetch(
            """SELECT stream, stream_id, stream_seq, prev_hash, hash,
                      audit_canonical(stream_seq, stream, stream_id, kind, payload, actor_id, occurred_at) AS canonical
                 FROM audit_events WHERE (stream, stream_id, stream_seq) > ($1, $2, $3)
                ORDER BY stream, stream_id, stream_seq LIMIT $4""",
            *after, BATCH,
        )  # fmt: skip
        for row in rows:
            found = links.check(
                f"{row['stream']} {row['stream_id']}", row["stream_seq"], bytes(row["prev_hash"]),
                bytes(row["hash"]), bytes(row["canonical"]),
            )  # fmt: skip
            if found is not None:
                breaks.append(found)
        if len(rows) < BATCH:
            return links
        last = rows[-1]
        after = (last["stream"], last["stream_id"], last["stream_seq"])


async def _stream_heads_disagreeing(conn: asyncpg.Connection) -> list[ChainBreak]:
    """Each stream's recorded head must be its newest event: a lowered head hides deleted events."""
    rows = await conn.fetch(
        """SELECT coalesce(s.stream, e.stream) AS stream, coalesce(s.stream_id, e.stream_id) AS stream_id,
                  s.head_seq, e.stream_seq AS newest_seq, s.head_hash = e.hash AS same_hash
             FROM audit_streams s
             FULL JOIN (SELECT DISTINCT ON (stream, stream_id) stream, stream_id, stream_seq, hash
                          FROM audit_events ORDER BY stream, stream_id, stream_seq DESC) e
               ON e.stream = s.stream AND e.stream_id = s.stream_id
            WHERE s.head_seq IS DISTINCT FROM e.stream_seq OR NOT s.head_hash = e.hash
            LIMIT $1""",
        MAX_BREAKS,
    )
    return [
        ChainBreak(
            chain=f"{row['stream']} {row['stream_id']}",
            seq=row["head_seq"],
            problem=f"its recorded head is entry {row['head_seq']} but its newest event is {row['newest_seq']}"
            if row["head_seq"] != row["newest_seq"]
            else "its recorded head hash is not its newest event's",
        )
        for row in rows
    ]


async def _walk_checkpoints(conn: asyncpg.Connection, breaks: list[ChainBreak]) -> Links:
    links, after = Links(), 0
    while True:
        rows = await conn.fetch(
            """SELECT seq, prev_hash, hash, audit_checkpoint_canonical(seq, taken_at) AS canonical
                 FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2""",
            after, BATCH,
        )  # fmt: skip
        for row in rows:
            found = links.check(
                "checkpoints",
                row["seq"],
                bytes(row["prev_hash"]),
                bytes(row["hash"]),
                bytes(row["canonical"]),
            )
            if found is not None:
                breaks.append(found)
        if len(rows) < BATCH:
            return links
        after = rows[-1]["seq"]


async def _checkpointed_heads_disagreeing(conn: asyncpg.Connection) -> list[ChainBreak]:
    """A head a checkpoint recorded must still be in its stream, with the same hash: this finds an edit
    whose later hashes were all recomputed, and newest events deleted."""
    rows = await conn.fetch(
        """SELECT h.checkpoint_seq, h.stream, h.stream_id, h.stream_seq, e.hash IS NULL AS missing
             FROM audit_checkpoint_heads h
             LEFT JOIN audit_events e
               ON e.stream = h.stream AND e.stream_id = h.stream_id AND e.stream_seq = h.stream_seq
            WHERE e.hash IS NULL OR e.hash <> h.hash
            ORDER BY h.checkpoint_seq LIMIT $1""",
        MAX_BREAKS,
    )
    return [
        ChainBreak(
            chain=f"{row['stream']} {row['stream_id']}",
            seq=row["stream_seq"],
            problem=f"checkpoint {row['checkpoint_seq']} recorded this entry as the head but it "
            + ("is gone" if row["missing"] else "has a different hash now"),
        )
        for row in rows
    ]


async def _anchors_disagreeing(conn: asyncpg.Connection, held: SinkAnchors) -> list[ChainBreak]:
    """Every anchored head must still be in the checkpoint chain with the hash it was anchored with."""
    if held.unreadable is not None:
        return [ChainBreak(chain=held.sink, seq=None, problem=held.unreadable)]
    recorded = {
        row["seq"]: bytes(row["hash"]).hex()
        for row in await conn.fetch(
            "SELECT seq, hash FROM audit_checkpoints WHERE seq = ANY($1::bigint[])",
            [a.seq for a in held.anchors],
        )
    }
    breaks = []
    for anchor in held.anchors:
        taken = anchor.taken_at.isoformat()
        if anchor.seq not in recorded:
            problem = f"anchored (taken {taken}) but the checkpoint is gone"
        elif recorded[anchor.seq] != anchor.hash:
            problem = f"anchored (taken {taken}) with another hash: the checkpoint chain was rewritten"
        else:
            continue
        breaks.append(ChainBreak(chain=f"{held.sink}: checkpoint", seq=anchor.seq, problem=problem))
    return breaks


@get("/api/admin/audit/verify", tags=["operations"], opt={"roles": ["admin"]})
async def verify_endpoint(pool: asyncpg.Pool, data_dir: Path, state: State) -> AuditReport:
    """Check the whole audit trail now (admins only: it reads every event)."""
    anchored = await read_anchors(anchor_sinks(data_dir, pool, state.chain))
    async with pool.acquire() as conn:
        return await verify_audit(conn, anchored)


@post("/api/admin/audit/checkpoint", tags=["operations"], opt={"roles": ["admin"]})
async def checkpoint_endpoint(pool: asyncpg.Pool, data_dir: Path, state: State) -> GlobalHead | None:
    """Checkpoint the streams that moved and anchor the global head now, without waiting for the worker."""
    return await checkpoint_and_anchor(pool, anchor_sinks(data_dir, pool, state.chain))


route_handlers = [verify_endpoint, checkpoint_endpoint]
