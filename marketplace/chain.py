"""Wiring for on-chain settlement: the node client from the settings, deployment at start, the demo's wallets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from contracts.chain import service
from contracts.chain.client import ChainClient, ChainUnavailable
from contracts.chain.model import ChainNode
from marketplace.anchors import Anchor
from marketplace.anvil import AnvilUnavailable, chain_url
from marketplace.config import Settings

log = logging.getLogger("marketplace.chain")

# Demo organisations and the Anvil development account each signs with (0 is the platform).
DEMO_WALLETS = {"agency": 1, "studio": 2, "label": 3, "publisher": 4}


def chain_client(settings: Settings) -> ChainClient | None:
    """The client of the configured node, or of the embedded Anvil (started now); None when neither is available."""
    try:
        url = chain_url(settings)
    except AnvilUnavailable as missing:
        log.warning("on-chain settlement is off: %s", missing)
        return None
    node = ChainNode(
        rpc_url=url, embedded=settings.chain_rpc_url is None, confirmations=settings.chain_confirmations
    )
    return ChainClient(node)


async def prepare(pool: asyncpg.Pool, client: ChainClient | None) -> None:
    """Deploy the contracts if this chain lacks them; an unreachable node is logged, not fatal."""
    if client is None:
        return
    try:
        async with pool.acquire() as conn:
            await service.ensure_deployed(conn, client, now=datetime.now(UTC))
    except ChainUnavailable as unavailable:
        log.warning("on-chain settlement is unavailable until the node answers: %s", unavailable)


async def seed_demo_wallets(
    conn: asyncpg.Connection, client: ChainClient | None, organisations: dict[str, UUID]
) -> None:
    """Each demo buyer and rights holder signs with (and is paid at) an Anvil account; buyers get stablecoins."""
    if client is None or not client.node.embedded:
        return
    deployments = await service.ensure_deployed(conn, client, now=datetime.now(UTC))
    for key, index in DEMO_WALLETS.items():
        if key not in organisations:
            continue
        address = await service.give_demo_wallet(conn, organisations[key], index, now=datetime.now(UTC))
        if key in {"agency", "studio"}:
            await service.fund_demo_wallet(client, deployments, address)


class ChainAnchorSink:
    """The Settlement contract's `anchor(head_hash, seq)` as an audit anchor sink beside the signed file
    (`marketplace.anchors.AnchorSink`). An anchor read back is dated by the block that holds it."""

    name = "Settlement contract on-chain"

    def __init__(self, pool: asyncpg.Pool, client: ChainClient) -> None:
        self.pool = pool
        self.client = client

    async def publish(self, anchor: Anchor) -> None:
        await service.anchor_head(self.pool, self.client, bytes.fromhex(anchor.hash), anchor.seq)

    async def anchors(self) -> list[Anchor]:
        heads = await service.anchored_heads(self.pool, self.client)
        return [Anchor(seq=h.seq, hash=h.hash, taken_at=h.anchored_at) for h in heads]

    async def newest(self) -> Anchor | None:
        head = await service.newest_anchored_head(self.pool, self.client)
        return None if head is None else Anchor(seq=head.seq, hash=head.hash, taken_at=head.anchored_at)
