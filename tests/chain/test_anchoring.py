"""The audit chain's head anchored on the Settlement contract, read back, and shown to admins."""

from __future__ import annotations

import hashlib
from datetime import datetime

import asyncpg
import msgspec
import pytest

from contracts.chain import service
from contracts.chain.client import ChainClient, ChainReverted
from contracts.chain.model import Deployment
from marketplace.chain import ChainAnchorSink


class Anchor(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    hash: str
    anchored_at: datetime


async def test_anchors_published_on_chain_read_back_in_order_and_show_in_the_overview(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment]
) -> None:
    sink = ChainAnchorSink(pg_pool, chain, Anchor)
    newest = await sink.newest()
    start = newest.seq if newest else 0
    heads = [hashlib.sha256(f"head {n}".encode()).hexdigest() for n in (1, 2)]
    for offset, head in enumerate(heads, start=1):
        await sink.publish(Anchor(seq=start + offset, hash=head, anchored_at=datetime.now()))

    anchors = await sink.anchors()
    assert [(a.seq, a.hash) for a in anchors[-2:]] == [(start + 1, heads[0]), (start + 2, heads[1])]
    assert (await sink.newest()) == anchors[-1]
    overview = await service.overview(pg_pool, chain)
    assert (overview.anchored_seq, overview.anchored_head) == (start + 2, heads[1])
    assert {d.currency for d in overview.deployments} == {"EUR", "USD"}


async def test_an_anchor_that_does_not_move_forward_is_refused(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment]
) -> None:
    sink = ChainAnchorSink(pg_pool, chain, Anchor)
    await sink.publish(Anchor(seq=10_000, hash="ab" * 32, anchored_at=datetime.now()))
    with pytest.raises(ChainReverted, match="forward"):
        await sink.publish(Anchor(seq=10_000, hash="cd" * 32, anchored_at=datetime.now()))
