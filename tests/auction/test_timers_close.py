"""Deadlines: soft-close extensions, stale and duplicate timers, and workers (and servers) that die mid-round."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix

from auction import service
from auction.service import CLOSE_JOB, Fired, Relay
from marketplace.db import create_pool as create_db_pool
from marketplace.embedded import StoreUrls
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, watching
from tests.conftest import SignIn, free_port

timers = live.timers  # an arq worker running in the test's event loop


async def _arq(urls: StoreUrls) -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(urls.redis_url))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _closed_events(pg_pool: asyncpg.Pool, round_id: str) -> int:
    count: int = await pg_pool.fetchval(
        "SELECT count(*) FROM round_events WHERE round_id = $1 AND kind = 'closed'", UUID(round_id)
    )
    return count


async def test_a_late_bid_extends_the_deadline_once_and_the_stale_timer_does_nothing(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, urls: StoreUrls, timers: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    soft_close = {"window_seconds": 5, "extension_seconds": 2, "max_extensions": 1}
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000, soft_close=soft_close), duration=3)
    bids = f"/api/rounds/{opened['id']}/bids"
    async with watching(live_server, bob, opened["id"]) as room:
        first = (await alice.client.post(bids, json={"amount": eur(5_000)})).json()
        assert first["deadline_version"] == 2
        assert _at(first["deadline"]) == _at(opened["deadline"]) + timedelta(seconds=2)
        shown = (await room.event("bid"))["event"]
        assert shown["extended"] and shown["deadline"] == first["deadline"] and shown["extensions"] == 1
        second = (await bob.client.post(bids, json={"amount": eur(6_000)})).json()
        assert second["deadline_version"] == 2, "extensions are capped"
        closed = (await room.event("closed"))["event"]
    assert _at(closed["closed_at"]) >= _at(first["deadline"])
    assert await _closed_events(pg_pool, opened["id"]) == 1
    arq = await _arq(urls)
    try:
        stale_job = f"close:{opened['id']}:1"
        assert not await arq.exists(job_key_prefix + stale_job, result_key_prefix + stale_job), (
            "the first deadline's timer ran, kept no result and left its id free"
        )
        relay = Relay(publish=arq.publish, jobs=arq)
        assert await service.close_round(pg_pool.acquire, relay, UUID(opened["id"]), 1) == (Fired.STALE, 0.0)
        assert await service.close_round(pg_pool.acquire, relay, UUID(opened["id"]), 2) == (Fired.STALE, 0.0)
    finally:
        await arq.aclose()


async def test_two_workers_racing_on_one_deadline_close_it_once(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=2)
    for who, amount in ((alice, 3_000), (bob, 2_000)):
        response = await who.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(amount)})
        assert response.status_code == 201, response.text
    await _until_server_time_passes(pg_pool, _at(opened["closes_at"]))

    queue = f"arq:race:{secrets.token_hex(4)}"
    arq = await _arq(urls)
    pools = [await create_db_pool(urls.database_url, min_size=1, max_size=2) for _ in range(2)]
    try:
        for copy in ("a", "b", "c", "d"):  # the same deadline scheduled over and over, as after restarts
            await arq.enqueue_job(
                CLOSE_JOB, opened["id"], 1, _job_id=f"race:{opened['id']}:{copy}", _queue_name=queue
            )
        workers = [
            live.in_process_worker(urls, pool, burst=True, queue_name=queue, cron_jobs=[], on_startup=None)
            for pool in pools
        ]
        await asyncio.gather(*(worker.async_run() for worker in workers))
        for worker in workers:
            await worker.close()
    finally:
        await arq.aclose()
        for pool in pools:
            await pool.close()
    assert sum(worker.jobs_complete for worker in workers) == 4
    assert await _closed_events(pg_pool, opened["id"]) == 1
    deals = await pg_pool.fetchval("SELECT count(*) FROM deals WHERE source_id = $1", UUID(opened["id"]))
    assert deals == 1


async def test_server_and_worker_killed_mid_round_still_close_on_time_counting_every_acknowledged_bid(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls, test_env: dict[str, str]
) -> None:
    seller = await sign_in("rights_holder")
    buyers = [await sign_in("buyer") for _ in range(6)]
    env = live.process_env(test_env, urls)
    base = f"http://127.0.0.1:{free_port()}"
    port = int(base.rsplit(":", 1)[1])
    server, worker = live.start_server(env, port), live.start_worker(env)
    arq = await _arq(urls)
    try:
        await live.until_healthy(base)
        await live.until_worker_started(worker)
        # Long enough for two process restarts on a busy shared machine.
        opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=45)
        acknowledged = await _bid_through(base, opened["id"], buyers[:3], first_amount=10_000)

        live.kill(server)
        live.kill(worker)
        # Redis loses the timer as well: only PostgreSQL still knows when the round closes.
        timer = f"close:{opened['id']}:1"
        await arq.delete(job_key_prefix + timer)
        await arq.zrem(default_queue_name, timer)

        server, worker = live.start_server(env, port), live.start_worker(env)
        await live.until_healthy(base)
        await live.until_worker_started(worker)
        acknowledged += await _bid_through(base, opened["id"], buyers[3:], first_amount=20_000)

        view = await wait_for(lambda: _closed_view(base, seller, opened["id"]), within=60, what="the close")
    finally:
        await arq.aclose()
        live.stop(server)
        live.stop(worker)
    assert view["outcome"]["counted"] == len(acknowledged) == 6
    assert view["outcome"]["winner"]["bid"] == eur(max(acknowledged))
    late = _at(view["closed_at"]) - _at(view["closes_at"])
    # The worker polls every 0.1 s; the margin is for a shared two-core machine under load.
    assert timedelta(0) <= late < timedelta(seconds=2), f"closed {late} after its deadline"


async def _bid_through(base: str, round_id: str, buyers: list[Any], first_amount: int) -> list[int]:
    amounts = []
    for offset, buyer in enumerate(buyers):
        async with live.client_for(base, buyer) as client:
            response = await client.post(
                f"/api/rounds/{round_id}/bids", json={"amount": eur(first_amount + offset)}
            )
        assert response.status_code == 201, response.text
        amounts.append(first_amount + offset)
    return amounts


async def _closed_view(base: str, who: Any, round_id: str) -> dict[str, Any] | None:
    async with live.client_for(base, who) as client:
        view: dict[str, Any] = (await client.get(f"/api/rounds/{round_id}")).json()
    return view if view["state"] == "closed" else None


async def _until_server_time_passes(pg_pool: asyncpg.Pool, moment: datetime) -> None:
    async def passed() -> bool:
        return bool(await pg_pool.fetchval("SELECT clock_timestamp() >= $1", moment))

    await wait_for(passed, what=f"the database's clock to pass {moment.isoformat()}")
