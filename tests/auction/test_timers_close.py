"""Deadlines: soft-close extensions, stale timers, closers racing, and workers (and servers) that die mid-round."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from auction import service
from auction.service import Relay
from marketplace.db import create_pool as create_db_pool
from marketplace.embedded import StoreUrls
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, watching
from tests.conftest import SignedIn, SignIn, free_port

timers = live.timers  # an arq worker running in the test's event loop


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _closed_events(pg_pool: asyncpg.Pool, round_id: str) -> int:
    count: int = await pg_pool.fetchval(
        "SELECT count(*) FROM round_events WHERE round_id = $1 AND kind = 'closed'", UUID(round_id)
    )
    return count


async def test_a_late_bid_extends_the_deadline_once_and_the_round_closes_once_after_it(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
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
    await service.close_due_rounds(pg_pool.acquire, Relay(publish=_nowhere, jobs=None), closers=2)
    assert await _closed_events(pg_pool, opened["id"]) == 1


async def test_two_workers_closing_the_same_due_rounds_close_each_once(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    rounds = [
        await open_round(pg_pool, seller, sealed(reserve=1_000), duration=2) for _ in range(4)
    ]  # bids within the rate limit
    for opened in rounds:
        for who, amount in ((alice, 3_000), (bob, 2_000)):
            response = await who.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(amount)})
            assert response.status_code == 201, response.text
    await live.until_server_time_passes(pg_pool, max(_at(opened["closes_at"]) for opened in rounds))

    pools = [await create_db_pool(urls.database_url, min_size=1, max_size=3) for _ in range(2)]
    relay = Relay(publish=_nowhere, jobs=None)
    try:
        await asyncio.gather(*(service.close_due_rounds(pool.acquire, relay, closers=3) for pool in pools))
        await asyncio.gather(*(service.make_awarded_deals(pool.acquire, relay, makers=3) for pool in pools))
    finally:
        for pool in pools:
            await pool.close()
    for opened in rounds:
        assert await _closed_events(pg_pool, opened["id"]) == 1
        deals = await pg_pool.fetchval("SELECT count(*) FROM deals WHERE source_id = $1", UUID(opened["id"]))
        assert deals == 1


async def test_a_round_held_by_a_closer_that_dies_is_closed_by_another(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls
) -> None:
    opened, _ = await _a_due_round_with_one_bid(sign_in, pg_pool)
    relay = Relay(publish=_nowhere, jobs=None)

    dying = await asyncpg.connect(urls.database_url)
    try:
        closing = dying.transaction()
        await closing.start()
        await dying.execute("SELECT 1 FROM rounds WHERE id = $1 FOR UPDATE", UUID(opened["id"]))
        # Another closer passes the held round by rather than waiting behind it.
        await asyncio.wait_for(service.close_due_rounds(pg_pool.acquire, relay, closers=2), 10)
        assert await _closed_events(pg_pool, opened["id"]) == 0
        # The holder dies mid-close, as a worker killed with -9 would: PostgreSQL rolls its transaction back.
        await pg_pool.execute("SELECT pg_terminate_backend($1)", dying.get_server_pid())
    finally:
        dying.terminate()

    await wait_for(
        lambda: _closed_by_another(pg_pool, relay, opened["id"]), what="another closer to close it"
    )
    assert await _closed_events(pg_pool, opened["id"]) == 1
    assert await pg_pool.fetchval("SELECT count(*) FROM deals WHERE source_id = $1", UUID(opened["id"])) == 1


async def _closed_by_another(pg_pool: asyncpg.Pool, relay: Relay, round_id: str) -> bool:
    await service.close_due_rounds(pg_pool.acquire, relay, closers=2)
    await service.make_awarded_deals(pg_pool.acquire, relay, makers=2)
    return await _closed_events(pg_pool, round_id) == 1


async def test_a_worker_killed_between_a_close_and_its_deal_still_leaves_exactly_one_deal(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls
) -> None:
    opened, alice = await _a_due_round_with_one_bid(sign_in, pg_pool)
    relay = Relay(publish=_nowhere, jobs=None)
    round_id = UUID(opened["id"])

    await service.close_due_rounds(pg_pool.acquire, relay, closers=2)  # the close commits, the worker dies
    closed = await pg_pool.fetchval(
        "SELECT payload FROM round_events WHERE round_id = $1 AND kind = 'closed'", round_id
    )
    assert await pg_pool.fetchval("SELECT count(*) FROM deals WHERE source_id = $1", round_id) == 0
    assert await pg_pool.fetchval("SELECT deal_id FROM round_awards WHERE round_id = $1", round_id) == UUID(
        closed["deal_id"]
    ), "the close announced the deal's id and left its award"
    held = await pg_pool.fetchval(
        "SELECT count(*) FROM usage_holds WHERE source = 'round' AND source_id = $1 AND released_at IS NULL",
        round_id,
    )
    assert held == 1, "the round keeps the usage until its deal takes it over"

    dying = await asyncpg.connect(urls.database_url)
    try:  # the next worker dies too, halfway through making the deal
        making = dying.transaction()
        await making.start()
        await dying.execute("SELECT 1 FROM round_awards WHERE round_id = $1 FOR UPDATE", round_id)
        await asyncio.wait_for(service.make_awarded_deals(pg_pool.acquire, relay, makers=2), 10)
        await pg_pool.execute("SELECT pg_terminate_backend($1)", dying.get_server_pid())
    finally:
        dying.terminate()

    async def made_by_others() -> bool:  # two at once, as two workers would
        await asyncio.gather(
            *(service.make_awarded_deals(pg_pool.acquire, relay, makers=2) for _ in range(2))
        )
        return bool(await pg_pool.fetchval("SELECT count(*) FROM deals WHERE source_id = $1", round_id))

    await wait_for(made_by_others, what="another worker to make the deal once the dying one's lock is gone")
    deals = await pg_pool.fetch("SELECT id, buyer_id FROM deals WHERE source_id = $1", round_id)
    assert [(row["id"], row["buyer_id"]) for row in deals] == [
        (UUID(closed["deal_id"]), alice.principal.organisation_id)
    ]
    assert await pg_pool.fetchval("SELECT count(*) FROM round_awards WHERE round_id = $1", round_id) == 0


async def _a_due_round_with_one_bid(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> tuple[dict[str, Any], SignedIn]:
    """A sealed round with one buyer's bid, its close time passed by the database's clock; and the buyer."""
    seller, alice = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=1)
    response = await alice.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(3_000)})
    assert response.status_code == 201, response.text
    await live.until_server_time_passes(pg_pool, _at(opened["closes_at"]))
    return opened, alice


async def _nowhere(name: str, frame: bytes) -> None:
    """Publishing is not what these tests are about."""


async def test_server_and_worker_killed_mid_round_still_close_on_time_counting_every_acknowledged_bid(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls, test_env: dict[str, str]
) -> None:
    seller = await sign_in("rights_holder")
    buyers = [await sign_in("buyer") for _ in range(6)]
    env = live.process_env(test_env, urls)
    base = f"http://127.0.0.1:{free_port()}"
    port = int(base.rsplit(":", 1)[1])
    server, worker = live.start_server(env, port), live.start_worker(env)
    try:
        await live.until_healthy(base)
        await live.until_worker_started(worker)
        # Long enough for two process restarts on a busy shared machine.
        opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=45)
        acknowledged = await _bid_through(base, opened["id"], buyers[:3], first_amount=10_000)

        live.kill(server)
        live.kill(worker)
        # No timer for the round waits in Redis: only PostgreSQL knows when it closes.

        server, worker = live.start_server(env, port), live.start_worker(env)
        await live.until_healthy(base)
        await live.until_worker_started(worker)
        acknowledged += await _bid_through(base, opened["id"], buyers[3:], first_amount=20_000)

        view = await wait_for(lambda: _closed_view(base, seller, opened["id"]), within=60, what="the close")
    finally:
        live.stop(server)
        live.stop(worker)
    assert view["outcome"]["counted"] == len(acknowledged) == 6
    assert view["outcome"]["winner"]["bid"] == eur(max(acknowledged))
    late = _at(view["closed_at"]) - _at(view["closes_at"])
    # The worker sleeps until the close; the margin is for a shared two-core machine under load.
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
