"""Values that used to crash the service are each a 400 naming the field: NUL characters in text,
numbers past what the service or PostgreSQL can hold."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.auction.live import eur, open_round, sealed
from tests.conftest import SignIn


def _refused(response: httpx.Response, field: str) -> str:
    assert response.status_code == 400, response.text
    problem: dict[str, Any] = response.json()
    said = problem["detail"] + " " + str(problem.get("errors", ""))
    assert field in said, said
    return said


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/rights/tracks/", {"title": "Harbour\x00Lights", "artist": "The Testers"}, "`title`"),
        ("/api/rights/parties", {"name": "Ada\x00Writer"}, "`name`"),
        (f"/api/discovery/tracks/{uuid.uuid4()}/tags", {"value": "calm\x00"}, "`value`"),
        ("/api/auth/tokens", {"name": "ci\x00token"}, "`name`"),
    ],
)
async def test_a_nul_character_in_stored_text_is_refused_naming_the_field(
    sign_in: SignIn, path: str, body: dict[str, str], field: str
) -> None:
    holder = await sign_in("rights_holder")
    said = _refused(await holder.client.post(path, json=body), field)
    assert "NUL" in said


async def test_a_nul_in_the_search_text_is_refused_naming_the_parameter(client: httpx.AsyncClient) -> None:
    said = _refused(await client.get("/api/discovery/search", params={"q": "calm\x00piano"}), "`q`")
    assert "query parameter" in said


async def test_a_nul_in_a_form_field_of_an_upload_is_refused_naming_the_field(sign_in: SignIn) -> None:
    holder = await sign_in("rights_holder")
    response = await holder.client.post(
        "/api/discovery/tracks",
        data={"title": "Harbour\x00", "artist": "The Testers"},
        files={"file": ("a.wav", b"RIFF\x00\x00\x00\x00WAVE", "audio/wav")},
    )
    _refused(response, "`title`")


async def test_a_duration_past_a_day_in_search_is_refused(client: httpx.AsyncClient) -> None:
    _refused(await client.get("/api/discovery/search", params={"duration_max": "1e39"}), "duration_max")


@pytest.mark.parametrize("amount", [2**63, 10**12 + 1, -(2**63) - 1])
async def test_bid_amounts_past_the_money_bound_are_refused_naming_the_amount(
    sign_in: SignIn, pg_pool: asyncpg.Pool, amount: int
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed("vickrey", reserve=1_000), duration=120)
    response = await buyer.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(amount)})
    _refused(response, "amount.amount")


async def test_a_reserve_of_ten_to_the_thirty_is_refused(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    seller = await sign_in("rights_holder")
    track = (await seller.client.post("/api/rights/tracks/", json={"title": "Huge", "artist": "A"})).json()
    response = await seller.client.post(
        "/api/rounds",
        json={
            "track_id": track["id"],
            "usage": {
                "media": "online_ads",
                "territories": ["WORLD"],
                "term_months": 12,
                "start": "2027-01-01",
            },
            "params": sealed("vickrey", reserve=10**30),
            "duration_seconds": 60,
        },
    )
    _refused(response, "reserve.amount")


async def test_paging_numbers_past_a_postgresql_integer_are_refused(sign_in: SignIn) -> None:
    """Found by the fuzzing: `offset=1.7e29` on the deals list was a 500."""
    buyer = await sign_in("buyer")
    _refused(await buyer.client.get("/api/deals", params={"offset": str(10**30)}), "offset")
    _refused(
        await buyer.client.get(f"/api/rounds/{uuid.uuid4()}/events", params={"after": str(10**30)}), "after"
    )
