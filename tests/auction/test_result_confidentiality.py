"""What a sealed round's close tells whom, over HTTP and the websocket: everyone learns the winner and the
price, only the winner and the rights holder the winning bid; commit–reveal rounds say up front that
their commitments and reveals will be published."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import httpx

from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, watching
from tests.conftest import SignIn

timers = live.timers


async def _closed(pg_pool: asyncpg.Pool, round_id: str) -> bool:
    return bool(await pg_pool.fetchval("SELECT state = 'closed' FROM rounds WHERE id = $1", UUID(round_id)))


def _listed(response: httpx.Response, round_id: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(r for r in response.json() if r["id"] == round_id)
    return found


async def test_vickrey_close_publishes_winner_and_price_but_the_winning_bid_only_to_winner_and_seller(
    sign_in: SignIn, pg_pool: asyncpg.Pool, client: httpx.AsyncClient, live_server: str, timers: Any
) -> None:
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=10_000), duration=3)
    round_id = opened["id"]
    assert "the winning bid itself is shown only to the winner and the rights holder" in opened["disclosure"]
    assert (
        await alice.client.post(f"/api/rounds/{round_id}/bids", json={"amount": eur(15_000)})
    ).status_code == 201
    assert (
        await bob.client.post(f"/api/rounds/{round_id}/bids", json={"amount": eur(12_000)})
    ).status_code == 201
    async with (
        watching(live_server, bob, round_id) as bobs_room,
        watching(live_server, alice, round_id) as alices_room,
    ):
        bob_saw = (await bobs_room.event("closed"))["event"]["outcome"]["winner"]
        alice_saw = (await alices_room.event("closed"))["event"]["outcome"]["winner"]
    await wait_for(lambda: _closed(pg_pool, round_id), what="the close")

    anonymous = _listed(await client.get("/api/rounds", params={"state": "closed", "limit": 500}), round_id)
    winner = anonymous["outcome"]["winner"]
    assert winner["bidder"] == str(alice.principal.organisation_id) and winner["price"] == eur(12_000)
    assert winner["bid"] is None
    assert bob_saw["bid"] is None and bob_saw["price"] == eur(12_000)
    assert (await bob.client.get(f"/api/rounds/{round_id}")).json()["outcome"]["winner"]["bid"] is None
    assert alice_saw["bid"] == eur(15_000)
    for party in (alice, seller):
        assert (await party.client.get(f"/api/rounds/{round_id}")).json()["outcome"]["winner"]["bid"] == eur(
            15_000
        )


async def test_commit_reveal_round_says_before_any_bid_that_commitments_and_reveals_are_published(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=10_000, reveal_seconds=60))
    seen = (await buyer.client.get(f"/api/rounds/{opened['id']}")).json()
    assert seen["bids"] == 0
    assert "every commitment and every reveal is published" in seen["disclosure"]
    room = await buyer.client.get(f"/rounds/{opened['id']}", headers={"accept": "text/html"})
    assert room.status_code == 200
    assert "every commitment and every reveal is published" in room.text
