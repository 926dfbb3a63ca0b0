"""Fan-out across processes: two server processes and one worker share one PostgreSQL and one Redis."""

from __future__ import annotations

import json

import asyncpg
from websockets.asyncio.client import connect

from marketplace.embedded import StoreUrls
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, ws_url
from tests.conftest import SignedIn, SignIn, free_port


async def test_a_bid_through_one_server_reaches_a_watcher_on_the_other_and_the_worker_closes_for_both(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls, test_env: dict[str, str]
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    env = live.process_env(test_env, urls)
    ports = [free_port(), free_port()]
    servers = [live.start_server(env, port) for port in ports]
    worker = live.start_worker(env)
    first, second = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        for base in (first, second):
            await live.until_healthy(base)
        await live.until_worker_started(worker)
        opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=1_000), duration=6)
        headers = {"Authorization": f"Bearer {bob.token}"}
        async with (
            connect(ws_url(second, opened["id"]), additional_headers=headers) as socket,
            live.watching(first, seller, opened["id"]) as on_first,
        ):
            watcher = live.Watcher(socket)
            await watcher.until(lambda w: w.frames and w.frames[0]["type"] == "round")
            await watcher.until(lambda w: w.watchers() == 2, what="the watcher on the other server counted")
            await on_first.until(lambda w: w.watchers() == 2, what="the watcher on the other server counted")
            async with live.client_for(first, alice) as through_first:
                response = await through_first.post(
                    f"/api/rounds/{opened['id']}/bids", json={"amount": eur(7_000)}
                )
                assert response.status_code == 201, response.text
            await watcher.until(lambda w: w.bids() == 1, what="the bid from the other server")
            assert "7000" not in json.dumps(watcher.frames), "sealed, as on one server"
            closed = await watcher.event("closed")
        assert closed["event"]["outcome"]["winner"]["bidder"] == str(alice.principal.organisation_id)
        assert closed["event"]["outcome"]["winner"]["price"] == eur(1_000), "alone: pays the reserve"
        await wait_for(lambda: _closed(second, bob, opened["id"]), what="the other server to show the close")
    finally:
        for process in (*servers, worker):
            live.stop(process)


async def _closed(base: str, who: SignedIn, round_id: str) -> bool:
    async with live.client_for(base, who) as client:
        return bool((await client.get(f"/api/rounds/{round_id}")).json()["state"] == "closed")
