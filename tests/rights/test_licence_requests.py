"""Licence requests over HTTP: a buyer asks for a use clearance cannot sell at once; the owner's inbox lists it."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.conftest import SignedIn, SignIn
from tests.contracts.world import World, world

USAGE = {"media": "online_ads", "territories": ["WORLD"], "term_months": 12, "start": "2027-01-01"}


async def _world(pg_pool: asyncpg.Pool, sign_in: SignIn, **options: Any) -> tuple[World, SignedIn, SignedIn]:
    label, publisher, buyer = (
        await sign_in("rights_holder"),
        await sign_in("rights_holder"),
        await sign_in("buyer"),
    )
    async with pg_pool.acquire() as conn:
        built = await world(conn, label=label.principal, publisher=publisher.principal, buyer=buyer.principal,
                            **options)  # fmt: skip
    return built, label, buyer


async def test_a_request_for_a_use_needing_one_reaches_the_track_owners_inbox_once(
    pg_pool: asyncpg.Pool, sign_in: SignIn
) -> None:
    w, label, buyer = await _world(pg_pool, sign_in, publisher_policy=False)
    body = {"track_id": str(w.track_id), "usage": USAGE, "message": "For a spring campaign"}
    first = await buyer.client.post("/api/rights/licence-requests", json=body)
    assert first.status_code == 201, first.text
    again = await buyer.client.post("/api/rights/licence-requests", json=body)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]

    inbox = (await label.client.get("/api/rights/licence-requests")).json()
    assert [r["id"] for r in inbox] == [first.json()["id"]]
    request = inbox[0]
    assert request["track_title"] == "Night Drive" and request["message"] == "For a spring campaign"
    async with pg_pool.acquire() as conn:
        agency = await conn.fetchval(
            "SELECT name FROM organisations WHERE id = $1", buyer.principal.organisation_id
        )
    assert request["requester_name"] == agency
    assert any("has not set a licensing policy" in reason for reason in request["reasons"])
    mine = (await buyer.client.get("/api/rights/licence-requests/mine")).json()
    assert [r["id"] for r in mine] == [first.json()["id"]]


async def test_a_use_that_can_be_bought_now_is_not_requested(pg_pool: asyncpg.Pool, sign_in: SignIn) -> None:
    w, label, buyer = await _world(pg_pool, sign_in)
    refused = await buyer.client.post(
        "/api/rights/licence-requests", json={"track_id": str(w.track_id), "usage": USAGE}
    )
    assert refused.status_code == 409 and "can be licensed now" in refused.json()["detail"]
    assert (await label.client.get("/api/rights/licence-requests")).json() == []
