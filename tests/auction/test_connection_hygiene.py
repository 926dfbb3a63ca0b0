"""A write gives its database connection back when it commits, before it waits on Redis: a stalled
Redis (a real one, paused with CLIENT PAUSE) delays the fan-out, never the pool."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest
from redis.asyncio import Redis

from auction import service
from auction.service import Relay
from marketplace.db import create_pool
from marketplace.embedded import StoreUrls
from rights.terms import Money
from tests.auction.live import open_round, sealed
from tests.conftest import SignIn

STALL_MS = 20_000  # far longer than the test: only the UNPAUSE in its `finally` ends the stall


@pytest.fixture
async def one_connection(urls: StoreUrls) -> AsyncIterator[asyncpg.Pool]:
    """A pool of a single connection: taking it at all shows the write gave it back."""
    pool = await create_pool(urls.database_url, min_size=1, max_size=1)
    yield pool
    await pool.close()


@contextlib.asynccontextmanager
async def stalled(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the session's Redis, which answers no write (PUBLISH among them) until the block ends."""
    client, admin = Redis.from_url(redis_url), Redis.from_url(redis_url)
    await client.ping()  # connected before the pause, so only its commands wait
    await admin.execute_command("CLIENT", "PAUSE", STALL_MS, "WRITE")
    try:
        yield client
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await client.aclose()


async def test_a_bids_connection_is_back_in_the_pool_before_its_event_is_published(
    sign_in: SignIn, pg_pool: asyncpg.Pool, one_connection: asyncpg.Pool, redis_url: str
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
    round_id = UUID(opened["id"])
    published = asyncio.Event()
    async with stalled(redis_url) as redis:

        async def publish(channel: str, data: bytes) -> None:
            await redis.publish(channel, data)
            published.set()

        relay = Relay(publish=publish, jobs=redis)
        placing = asyncio.create_task(
            service.place_bid(
                one_connection.acquire, relay, buyer.principal, round_id, Money(2_000, "EUR"), None
            )
        )
        deadline = time.monotonic() + 10
        while not await pg_pool.fetchval("SELECT count(*) FROM bids WHERE round_id = $1", round_id):
            assert time.monotonic() < deadline, "the bid never committed"
        async with one_connection.acquire(timeout=10):
            assert not published.is_set() and not placing.done(), "the publish is still waiting on Redis"
    receipt = await asyncio.wait_for(placing, 10)
    assert published.is_set()
    assert receipt.seq == 2
