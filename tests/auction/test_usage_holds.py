"""One exclusive licence is sold once, over HTTP: a round opens only when clearance says clearable now,
never beside a live sale of an overlapping exclusive usage, nor over an exclusive deal already agreed."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from rights import service as rights
from rights.model import LicensingPolicy, Mechanism, Period, Right
from rights.terms import Media
from rights.territories import TerritoryScope
from tests.auction import live
from tests.auction.live import eur, new_track, sealed, wait_for
from tests.conftest import SignedIn, SignIn

timers = live.timers

EXCLUSIVE_WORLD = {**live.USAGE, "exclusive": True}


async def _open(seller: SignedIn, track: UUID, usage: dict[str, Any], duration: int = 60) -> Any:
    return await seller.client.post("/api/rounds", json={
        "track_id": str(track), "usage": usage, "params": sealed("vickrey", reserve=10_000),
        "duration_seconds": duration,
    })  # fmt: skip


async def _closed(pg_pool: asyncpg.Pool, round_id: str) -> bool:
    state = await pg_pool.fetchval("SELECT state FROM rounds WHERE id = $1", UUID(round_id))
    return bool(state == "closed")


async def test_a_round_is_refused_while_clearance_says_the_track_is_blocked(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    track = await new_track(pg_pool, seller, clearable=False)
    refused = await _open(seller, track, EXCLUSIVE_WORLD)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail.startswith(
        "An exclusive online ads licence worldwide from 2027-01-01 to 2027-12-31 cannot be sold now"
    )
    assert "has no known owner" in detail


async def test_two_rounds_for_an_overlapping_exclusive_usage_cannot_both_open(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    track = await new_track(pg_pool, seller)
    first = await _open(seller, track, EXCLUSIVE_WORLD)
    assert first.status_code == 201, first.text
    second = await _open(seller, track, {**live.USAGE, "territories": ["US"], "start": "2027-06-01"})
    assert second.status_code == 409
    assert f"on sale in round {first.json()['id']}" in second.json()["detail"]
    assert second.json()["detail"].startswith("A non-exclusive online ads licence in US")

    other_medium = await _open(seller, track, {**EXCLUSIVE_WORLD, "media": "film"})
    later_term = await _open(seller, track, {**EXCLUSIVE_WORLD, "start": "2028-01-01"})
    assert (other_medium.status_code, later_term.status_code) == (201, 201)


async def test_non_exclusive_rounds_for_the_same_usage_run_side_by_side(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    track = await new_track(pg_pool, seller)
    assert (await _open(seller, track, live.USAGE)).status_code == 201
    assert (await _open(seller, track, live.USAGE)).status_code == 201


async def test_a_round_that_closes_without_a_winner_frees_the_usage(
    sign_in: SignIn, pg_pool: asyncpg.Pool, timers: Any
) -> None:
    seller = await sign_in("rights_holder")
    track = await new_track(pg_pool, seller)
    unsold = (await _open(seller, track, EXCLUSIVE_WORLD, duration=2)).json()
    await wait_for(lambda: _closed(pg_pool, unsold["id"]), within=20, what="the round's close")
    assert (await _open(seller, track, EXCLUSIVE_WORLD)).status_code == 201


async def test_an_exclusive_deal_blocks_later_sales_that_overlap_it(
    sign_in: SignIn, pg_pool: asyncpg.Pool, timers: Any
) -> None:
    seller, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    track = await new_track(pg_pool, seller)
    sold = (await _open(seller, track, EXCLUSIVE_WORLD, duration=3)).json()
    bid = await buyer.client.post(f"/api/rounds/{sold['id']}/bids", json={"amount": eur(20_000)})
    assert bid.status_code == 201, bid.text
    await wait_for(lambda: _closed(pg_pool, sold["id"]), within=20, what="the round's close")
    deal_id = await wait_for(
        lambda: pg_pool.fetchval(
            "SELECT id FROM deals WHERE source = 'round' AND source_id = $1", UUID(sold["id"])
        ),
        what="the deal, made right after the close",
    )

    again = await _open(seller, track, {**live.USAGE, "territories": ["DE"]})
    assert again.status_code == 409
    assert f"already agreed in deal {deal_id}" in again.json()["detail"]


async def test_a_round_by_a_mechanism_some_rights_holder_does_not_offer_is_refused(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    track = await new_track(pg_pool, seller, clearable=False)
    async with pg_pool.acquire() as conn:
        master = await rights.create_party(conn, seller.principal, name="Master Owner")
        publishing = await rights.create_party(conn, seller.principal, name="Publishing Owner")
        for party, right in ((master, Right.MASTER), (publishing, Right.PUBLISHING)):
            await rights.add_share(conn, seller.principal, track, party_id=party.id, right=right, share_bp=10_000,
                                   territories=TerritoryScope(), period=Period(start=date(2020, 1, 1)))  # fmt: skip
        await rights.set_policy(conn, seller.principal, LicensingPolicy(
            id=uuid4(), party_id=master.id, track_id=track, mechanisms={m: tuple(Mechanism) for m in Media},
            automated_media=frozenset(Media)))  # fmt: skip
        await rights.set_policy(conn, seller.principal, LicensingPolicy(
            id=uuid4(), party_id=publishing.id, mechanisms={m: (Mechanism.NEGOTIATION,) for m in Media},
            automated_media=frozenset(Media)))  # fmt: skip
    refused = await _open(seller, track, live.USAGE)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "the rights holders license online ads by negotiation, not by vickrey"


async def test_rounds_opened_at_once_for_one_exclusive_usage_open_exactly_once(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    track = await new_track(pg_pool, seller)
    answers = await asyncio.gather(*(_open(seller, track, EXCLUSIVE_WORLD) for _ in range(5)))
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409, 409]
