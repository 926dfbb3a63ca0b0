"""My rounds and offers over HTTP: a buyer's own bids and every move of its negotiations, read from the server."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.auction import live
from tests.auction.live import eur, open_round, sealed
from tests.conftest import SignIn

timers = live.timers  # an arq worker running in the test's event loop
HTML = {"Accept": "text/html"}
TERMS = {
    "mechanism": "negotiation", "floor": eur(5_000), "ceiling": eur(20_000), "auto_accept_at": eur(18_000),
    "max_rounds": 6, "response_seconds": 600, "counter": {"strategy": "split_the_difference"},
}  # fmt: skip


async def test_a_buyer_sees_its_bids_and_every_move_of_its_negotiation(
    sign_in: SignIn, pg_pool: asyncpg.Pool, timers: Any
) -> None:
    seller, buyer, other = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    auction = await open_round(pg_pool, seller, sealed("vickrey", reserve=1_000), duration=600)
    talks = await open_round(pg_pool, seller, TERMS, duration=600)
    bid = await buyer.client.post(f"/api/rounds/{auction['id']}/bids", json={"amount": eur(15_000)})
    assert bid.status_code == 201, bid.text
    assert (
        await other.client.post(f"/api/rounds/{auction['id']}/bids", json={"amount": eur(16_000)})
    ).status_code == 201
    started = (
        await buyer.client.post(f"/api/rounds/{talks['id']}/negotiations", json={"amount": eur(8_000)})
    ).json()
    await buyer.client.post(f"/api/negotiations/{started['id']}/counter", json={"amount": eur(12_000)})

    page = (await buyer.client.get("/my-rounds", headers=HTML)).text
    assert page.count('class="card deal"') == 2
    assert "€150.00" in page and "€160.00" not in page, "another buyer's bid is not shown"
    moves = [
        "You offered €80.00", "The rights holder countered automatically with €130.00",
        "You offered €120.00", "The rights holder countered automatically with €125.00",
    ]  # fmt: skip
    positions = [page.index(m) for m in moves]
    assert positions == sorted(positions)
    assert "Negotiation · your turn to answer" in page and "Answer due by" in page
    assert (await seller.client.get("/my-rounds", headers=HTML)).status_code == 403
