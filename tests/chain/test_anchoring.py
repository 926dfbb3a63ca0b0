"""The audit chain's head anchored on the Settlement contract, read back, and shown to admins."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from contracts.chain import service
from contracts.chain.client import ChainClient, ChainReverted
from contracts.chain.model import Deployment
from marketplace.anchors import Anchor
from marketplace.audit import GlobalHead, anchor, anchor_sinks, read_anchors
from marketplace.chain import ChainAnchorSink


async def test_anchors_published_on_chain_read_back_in_order_and_show_in_the_overview(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment]
) -> None:
    sink = ChainAnchorSink(pg_pool, chain)
    newest = await sink.newest()
    start = newest.seq if newest else 0
    heads = [hashlib.sha256(f"head {n}".encode()).hexdigest() for n in (1, 2)]
    for offset, head in enumerate(heads, start=1):
        await sink.publish(Anchor(seq=start + offset, hash=head, taken_at=datetime.now(UTC)))

    anchors = await sink.anchors()
    assert [(a.seq, a.hash) for a in anchors[-2:]] == [(start + 1, heads[0]), (start + 2, heads[1])]
    assert (await sink.newest()) == anchors[-1]
    overview = await service.overview(pg_pool, chain)
    assert (overview.anchored_seq, overview.anchored_head) == (start + 2, heads[1])
    assert {d.currency for d in overview.deployments} == {"EUR", "USD"}


async def test_an_anchor_that_does_not_move_forward_is_refused(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment]
) -> None:
    sink = ChainAnchorSink(pg_pool, chain)
    await sink.publish(Anchor(seq=10_000, hash="ab" * 32, taken_at=datetime.now(UTC)))
    with pytest.raises(ChainReverted, match="forward"):
        await sink.publish(Anchor(seq=10_000, hash="cd" * 32, taken_at=datetime.now(UTC)))


async def test_the_global_audit_head_is_anchored_in_the_file_and_on_chain_alike(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    sinks = anchor_sinks(tmp_path, pg_pool, chain)
    assert [sink.name for sink in sinks] == ["signed anchors file", "Settlement contract on-chain"]
    on_chain = await sinks[1].newest()
    # Past whatever earlier tests anchored on this session's contract, which only moves forward.
    head = GlobalHead(
        seq=(on_chain.seq if on_chain else 0) + 1, hash=hashlib.sha256(b"global head").hexdigest(),
        taken_at=datetime.now(UTC), streams=1,
    )  # fmt: skip

    await anchor(head, sinks)

    held = {found.sink: found.anchors[-1] for found in await read_anchors(sinks)}
    assert {(anchor.seq, anchor.hash) for anchor in held.values()} == {(head.seq, head.hash)}
