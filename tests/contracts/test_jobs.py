"""The deal deadline job and the sweep, run as the worker runs them (real PostgreSQL and Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from arq import create_pool
from arq.connections import RedisSettings

from contracts import jobs, service
from contracts.model import DealState
from tests.contracts.world import round_deal, world


@pytest.fixture
async def ctx(pg_pool: asyncpg.Pool, redis_url: str) -> AsyncIterator[dict[str, Any]]:
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    yield {"pool": pg_pool, "redis": redis}
    await redis.aclose()


async def _deal_agreed(pg_pool: asyncpg.Pool, ago: timedelta, **options: Any) -> service.Deal:
    """A deal agreed `ago` before now (the world's deals are agreed at a fixed time: move them)."""
    async with pg_pool.acquire() as conn:
        w = await world(conn, **options)
        deal = await round_deal(conn, w)
        shift = deal.created_at - (datetime.now(UTC) - ago)
        await conn.execute(
            """UPDATE deals SET created_at = created_at - $2::interval, consent_due_at = consent_due_at - $2::interval,
                                payment_due_at = payment_due_at - $2::interval WHERE id = $1""",
            deal.id, shift,
        )  # fmt: skip
        return await service.get_deal(conn, deal.id)


async def test_the_deadline_job_expires_an_overdue_unpaid_deal_and_leaves_a_timely_one(
    ctx: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    overdue = await _deal_agreed(pg_pool, timedelta(hours=73))
    timely = await _deal_agreed(pg_pool, timedelta(hours=1))
    for deal in (overdue, timely):
        await jobs.deal_deadline(ctx, str(deal.id))
        await jobs.deal_deadline(ctx, str(deal.id))  # a timer that fires twice does nothing more
    async with pg_pool.acquire() as conn:
        assert (await service.get_deal(conn, overdue.id)).state is DealState.EXPIRED
        assert (await service.get_deal(conn, timely.id)).state is DealState.AWAITING_PAYMENT


async def test_the_sweep_cancels_a_deal_whose_co_owner_never_answered(
    ctx: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    waiting = await _deal_agreed(pg_pool, timedelta(hours=49), publisher_policy=False)
    assert waiting.state is DealState.AWAITING_CONSENT
    assert await jobs.sweep(ctx) >= 1
    async with pg_pool.acquire() as conn:
        assert (await service.get_deal(conn, waiting.id)).state is DealState.CANCELLED
