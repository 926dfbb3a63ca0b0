"""The audit chain's global head anchored on the Settlement contract beside the signed file, read back,
and shown to admins. Only real checkpoints are anchored: the session's contract is the app's too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from contracts.chain import service
from contracts.chain.client import ChainClient, ChainReverted
from contracts.chain.model import Deployment
from marketplace.anchors import Anchor, AnchorSink
from marketplace.audit import GlobalHead, anchor_sinks, checkpoint_and_anchor, read_anchors
from rights.audit import append_audit


async def _new_head(pg_pool: asyncpg.Pool, sinks: Sequence[AnchorSink]) -> GlobalHead:
    async with pg_pool.acquire() as conn:
        await append_audit(conn, "round", uuid4(), "opened", {"by": "anchoring test"}, None)
    head = await checkpoint_and_anchor(pg_pool, sinks)
    assert head is not None
    return head


async def test_each_global_head_is_anchored_in_the_file_and_on_chain_and_shows_in_the_overview(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    sinks = anchor_sinks(tmp_path, pg_pool, chain)
    assert [sink.name for sink in sinks] == ["signed anchors file", "Settlement contract on-chain"]

    heads = [await _new_head(pg_pool, sinks) for _ in range(2)]

    on_chain = await sinks[1].anchors()
    assert [(a.seq, a.hash) for a in on_chain[-2:]] == [(h.seq, h.hash) for h in heads]
    assert (await sinks[1].newest()) == on_chain[-1]
    held = {found.sink: found.anchors[-1] for found in await read_anchors(sinks)}
    assert {(anchor.seq, anchor.hash) for anchor in held.values()} == {(heads[1].seq, heads[1].hash)}
    overview = await service.overview(pg_pool, chain)
    assert (overview.anchored_seq, overview.anchored_head) == (heads[1].seq, heads[1].hash)
    assert {d.currency for d in overview.deployments} == {"EUR", "USD"}


async def test_an_anchor_that_does_not_move_forward_is_refused(
    pg_pool: asyncpg.Pool, chain: ChainClient, deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    sinks = anchor_sinks(tmp_path, pg_pool, chain)
    head = await _new_head(pg_pool, sinks)
    with pytest.raises(ChainReverted, match="forward"):
        await sinks[1].publish(Anchor(seq=head.seq, hash="cd" * 32, taken_at=head.taken_at))
