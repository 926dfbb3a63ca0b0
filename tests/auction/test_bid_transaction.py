"""A bid's transaction in fewer round trips keeps what it promised: bids taken one at a time under the
round's lock, each counting every bid before it, numbered in order, timed after the lock, audited with it."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg

from auction import service
from auction.model import DuplicateBid
from auction.service import AlreadyDone, Relay
from marketplace.config import Settings
from marketplace.db import create_pool
from marketplace.embedded import StoreUrls
from rights.terms import Money
from tests.auction.live import eur, open_round, sealed
from tests.conftest import SignIn

BIDDERS = 12


async def _nowhere(channel: str, data: bytes) -> None:
    """Fan-out is not what these tests look at."""


async def _a_sealed_round(sign_in: SignIn, pg_pool: asyncpg.Pool) -> dict[str, Any]:
    """A sealed round a new rights holder has opened for a minute, reserve 1,000."""
    return await open_round(pg_pool, await sign_in("rights_holder"), sealed(reserve=1_000), duration=60)


async def test_bids_placed_at_once_are_counted_numbered_timed_and_audited_one_after_another(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    opened = await _a_sealed_round(sign_in, pg_pool)
    buyers = [await sign_in("buyer") for _ in range(BIDDERS)]
    round_id = UUID(opened["id"])
    relay = Relay(publish=_nowhere, jobs=None)
    receipts = await asyncio.gather(
        *(
            service.place_bid(
                pg_pool.acquire, relay, buyer.principal, round_id, Money(2_000 + i, "EUR"), None
            )
            for i, buyer in enumerate(buyers)
        )
    )
    events = await pg_pool.fetch(
        "SELECT seq, payload, occurred_at FROM round_events WHERE round_id = $1 AND kind = 'bid' ORDER BY seq",
        round_id,
    )
    assert [event["seq"] for event in events] == list(range(2, BIDDERS + 2)), "numbered after the opening"
    assert [event["payload"]["bids"] for event in events] == list(range(1, BIDDERS + 1))
    times = [event["occurred_at"] for event in events]
    assert times == sorted(times), (
        "each bid's time is read after the lock, so later seqs never have earlier times"
    )
    assert sorted(receipt.seq for receipt in receipts) == [event["seq"] for event in events]
    audited = await pg_pool.fetch(
        """SELECT (payload->>'seq')::bigint AS seq FROM audit_events
            WHERE stream = 'round' AND stream_id = $1 AND kind = 'bid' ORDER BY seq""",
        str(round_id),
    )
    assert [row["seq"] for row in audited] == [event["seq"] for event in events]


async def test_a_bid_id_used_before_is_refused_and_stores_nothing(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    opened = await _a_sealed_round(sign_in, pg_pool)
    alice, bob = await sign_in("buyer"), await sign_in("buyer")
    round_id = UUID(opened["id"])
    relay = Relay(publish=_nowhere, jobs=None)
    first = await service.place_bid(
        pg_pool.acquire, relay, alice.principal, round_id, Money(2_000, "EUR"), None
    )
    try:
        await service.place_bid(
            pg_pool.acquire, relay, bob.principal, round_id, Money(3_000, "EUR"), first.bid_id
        )
    except AlreadyDone as refused:
        assert isinstance(refused.__cause__, DuplicateBid)
    else:
        raise AssertionError("a reused bid id was taken")
    stored = await pg_pool.fetchval("SELECT count(*) FROM round_events WHERE round_id = $1", round_id)
    assert stored == 2, "the opening and the first bid only"


async def test_a_bid_sends_four_statements_and_its_connection_goes_back_without_a_reset_query(
    sign_in: SignIn, pg_pool: asyncpg.Pool, urls: StoreUrls
) -> None:
    round_id = UUID((await _a_sealed_round(sign_in, pg_pool))["id"])
    first, second = await sign_in("buyer"), await sign_in("buyer")
    sent: list[str] = []
    pool = await create_pool(urls.database_url, min_size=1, max_size=1)  # the app's pool settings
    relay = Relay(publish=_nowhere, jobs=None)
    try:
        # The connection's first bid also reads the types it returns, once; the second is every bid.
        await service.place_bid(pool.acquire, relay, first.principal, round_id, Money(2_000, "EUR"), None)
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda query: sent.append(" ".join(query.query.split())))
        await service.place_bid(pool.acquire, relay, second.principal, round_id, Money(3_000, "EUR"), None)
    finally:
        await pool.close()
    assert len(sent) == 4, sent
    begin, lock_and_check, insert, commit = sent
    assert (begin, commit) == ("BEGIN;", "COMMIT;")
    assert "round_locked_for_bid" in lock_and_check, "the lock and the bid check in one round trip"
    assert insert.startswith("WITH bid AS (INSERT INTO bids"), "the bid, its event and its audit in one"


async def test_a_buyer_bidding_faster_than_the_limit_is_refused_with_429_naming_the_wait(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings
) -> None:
    opened = await _a_sealed_round(sign_in, pg_pool)
    buyer = await sign_in("buyer")
    # Twice the limit at once: however the requests fall across the one-second windows, some are refused.
    attempts = 4 * settings.bids_per_second
    answers = await asyncio.gather(
        *(
            buyer.client.post(f"/api/rounds/{opened['id']}/bids", json={"amount": eur(2_000 + i)})
            for i in range(attempts)
        )
    )
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(201) == 1, "a sealed round takes one bid a buyer; the rest are 409 or 429"
    refused = [answer for answer in answers if answer.status_code == 429]
    assert refused, statuses
    assert all(answer.headers["Retry-After"] == "1" for answer in refused)
    assert all("too many bids attempts: try again in 1 s" in answer.json()["detail"] for answer in refused)


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back_before_its_next_use(
    urls: StoreUrls,
) -> None:
    pool = await create_pool(urls.database_url, min_size=1, max_size=1)  # the app's pool settings
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMPORARY TABLE left_behind (x int) ON COMMIT DROP")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_behind')") is None
    finally:
        await pool.close()


async def test_bids_posted_at_once_are_each_answered_on_their_own_and_a_repeat_alone_is_refused(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    opened = await _a_sealed_round(sign_in, pg_pool)
    buyers = [await sign_in("buyer") for _ in range(BIDDERS)]
    path = f"/api/rounds/{opened['id']}/bids"
    # The last buyer bids twice: however the bids queue and batch, its second is refused on its own.
    posts = [(buyer, 2_000 + i) for i, buyer in enumerate(buyers)] + [(buyers[-1], 9_000)]
    answers = await asyncio.gather(
        *(buyer.client.post(path, json={"amount": eur(amount)}) for buyer, amount in posts)
    )
    statuses = [answer.status_code for answer in answers]
    assert sorted(statuses) == [201] * BIDDERS + [409], statuses
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["detail"] == "a sealed round takes one bid per buyer, and yours is in"
    seqs = sorted(answer.json()["seq"] for answer in answers if answer.status_code == 201)
    assert seqs == list(range(2, BIDDERS + 2)), "every taken bid numbered once, after the opening"
    stored = await pg_pool.fetchval("SELECT count(*) FROM bids WHERE round_id = $1", UUID(opened["id"]))
    assert stored == BIDDERS
