"""Wiring for on-chain settlement: the node client from the settings, deployment at start, the demo's wallets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from contracts.chain import service
from contracts.chain.client import ChainClient, ChainUnavailable
from contracts.chain.model import ChainNode
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


A = TypeVar("A")


class ChainAnchorSink(Generic[A]):
    """The Settlement contract's `anchor(head_hash, seq)` as an audit anchor sink beside the signed file.

    Shaped like `marketplace.anchors.AnchorSink`: anchors are published with `seq` and hex `hash` and
    read back from the contract's Anchored events, built with `make_anchor(seq=…, hash=…, anchored_at=…)`.
    """

    name = "Settlement contract on-chain"

    def __init__(self, pool: asyncpg.Pool, client: ChainClient, make_anchor: Callable[..., A]) -> None:
        self.pool = pool
        self.client = client
        self.make_anchor = make_anchor

    async def publish(self, anchor: Any) -> None:
        await service.anchor_head(self.pool, self.client, bytes.fromhex(anchor.hash), anchor.seq)

    async def anchors(self) -> list[A]:
        heads = await service.anchored_heads(self.pool, self.client)
        return [self.make_anchor(seq=h.seq, hash=h.hash, anchored_at=h.anchored_at) for h in heads]

    async def newest(self) -> A | None:
        head = await service.newest_anchored_head(self.pool, self.client)
        return (
            None
            if head is None
            else self.make_anchor(seq=head.seq, hash=head.hash, anchored_at=head.anchored_at)
        )
