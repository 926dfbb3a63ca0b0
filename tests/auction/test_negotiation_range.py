"""A negotiation's range stays private over HTTP: no answer states the floor or the ceiling, an offer at or
over the ceiling concludes at it, and offers under the floor are limited per buyer and audited."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from tests.auction.live import eur, open_round
from tests.conftest import SignIn

TERMS = {
    "mechanism": "negotiation", "floor": eur(100_000), "ceiling": eur(400_000), "auto_accept_at": eur(300_000),
    "max_rounds": 6, "response_seconds": 600,
}  # fmt: skip
RANGE = ("1,000.00", "4,000.00", "3,000.00")


async def _offer(buyer: Any, round_id: str, amount: int) -> Any:
    return await buyer.client.post(f"/api/rounds/{round_id}/negotiations", json={"amount": eur(amount)})


async def test_an_offer_over_the_ceiling_concludes_at_the_ceiling_and_no_answer_states_the_range(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller, generous, thrifty = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    round_id = (await open_round(pg_pool, seller, TERMS))["id"]

    over = await _offer(generous, round_id, 900_000)
    assert over.status_code == 201, over.text
    assert (over.json()["state"], over.json()["price"]) == ("accepted", eur(400_000))

    under = await _offer(thrifty, round_id, 50_000)
    assert under.status_code == 400
    assert "under the rights holder's floor" in under.json()["detail"]
    seen = [under.text, (await thrifty.client.get(f"/api/rounds/{round_id}")).text]
    assert not [amount for amount in RANGE for text in seen if amount in text]


async def test_a_buyer_waits_after_three_offers_under_the_floor_and_each_is_audited(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller, prober, patient = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    round_id = (await open_round(pg_pool, seller, TERMS))["id"]
    answers = [(await _offer(prober, round_id, amount)).status_code for amount in (10_000, 50_000, 90_000)]
    assert answers == [400, 400, 400]

    waiting = await _offer(prober, round_id, 99_999)
    assert waiting.status_code == 429
    assert "you can make another offer in 10 min" in waiting.json()["detail"]
    assert (await _offer(prober, round_id, 150_000)).status_code == 429, "the wait holds for any amount"
    assert (await _offer(patient, round_id, 150_000)).status_code == 201, "other buyers are not held up"

    audited = await pg_pool.fetch(
        """SELECT payload FROM audit_events WHERE stream = 'round' AND stream_id = $1 AND kind = 'offer_below_floor'
            ORDER BY seq""",
        round_id,
    )
    assert [row["payload"]["amount"]["amount"] for row in audited] == [10_000, 50_000, 90_000]
    assert {row["payload"]["buyer"] for row in audited} == {str(prober.principal.organisation_id)}
    counted = await pg_pool.fetchval(
        "SELECT count(*) FROM refused_offers WHERE round_id = $1", UUID(round_id)
    )
    assert counted == 3
