"""A server stopping while a round's queued bids are committed tells each bidder what PostgreSQL did."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg

from auction import service
from auction.live import BidReceipt
from auction.service import Relay
from rights.identity import Principal
from rights.terms import Money
from tests.auction.live import open_round, sealed, wait_for
from tests.conftest import SignIn

# A COMMIT of a bid on the round waits for that bid's advisory lock, taken by the test. PostgreSQL may
# complete a COMMIT whose sender gave up waiting for it (the cancel arrives after the commit record is
# written); the trigger stands in for that moment by shrugging the cancel off and waiting on.
COMMIT_WAITS_FOR_THE_TEST = """
CREATE FUNCTION test_bid_commit_waits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext(NEW.id::text));
    EXCEPTION WHEN query_canceled THEN
        PERFORM pg_advisory_xact_lock(hashtext(NEW.id::text));
    END;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER test_bid_commit_waits AFTER INSERT ON bids DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.round_id = '{round_id}') EXECUTE FUNCTION test_bid_commit_waits();
"""


async def _nowhere(channel: str, data: bytes) -> None:
    """Fan-out is not what these tests look at."""


@contextlib.asynccontextmanager
async def _commits_held(
    pg_pool: asyncpg.Pool, round_id: UUID, bid_ids: list[UUID]
) -> AsyncIterator[asyncpg.Connection]:
    """While inside: a COMMIT of any of these bids waits until the yielded connection unlocks its id."""
    await pg_pool.execute(COMMIT_WAITS_FOR_THE_TEST.format(round_id=round_id))
    try:
        async with pg_pool.acquire() as holder:
            for bid_id in bid_ids:
                await holder.execute("SELECT pg_advisory_lock(hashtext($1::text))", str(bid_id))
            try:
                yield holder
            finally:
                await holder.execute("SELECT pg_advisory_unlock_all()")
    finally:
        await pg_pool.execute(
            "DROP TRIGGER test_bid_commit_waits ON bids; DROP FUNCTION test_bid_commit_waits()"
        )


async def _until_commits_wait(pg_pool: asyncpg.Pool, count: int) -> None:
    async def waiting() -> bool:
        found = await pg_pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query ILIKE 'COMMIT%'"""
        )
        return bool(found == count)

    await wait_for(waiting, what=f"{count} COMMIT waiting for the test's lock")


async def test_a_taker_stopped_while_its_commit_is_in_flight_answers_each_bidder_by_the_commit(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    first, taker, waiter = [await sign_in("buyer") for _ in range(3)]
    round_id = UUID((await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60))["id"])
    first_bid, taker_bid, waiter_bid = uuid4(), uuid4(), uuid4()
    relay = Relay(publish=_nowhere, jobs=None)

    def bid(who: Principal, bid_id: UUID) -> asyncio.Task[BidReceipt]:
        return asyncio.create_task(
            service.place_bid(pg_pool.acquire, relay, who, round_id, Money(2_000, "EUR"), bid_id)
        )

    async with _commits_held(pg_pool, round_id, [first_bid, taker_bid]) as holder:
        placing_first = bid(first.principal, first_bid)
        await _until_commits_wait(pg_pool, 1)
        # Queued behind the first bid's turn (each task runs up to its queue before the next query
        # returns), these two are taken together by the taker's task.
        placing_taker, placing_waiter = bid(taker.principal, taker_bid), bid(waiter.principal, waiter_bid)
        await holder.execute("SELECT pg_advisory_unlock(hashtext($1::text))", str(first_bid))
        assert (await placing_first).bid_id == first_bid
        await _until_commits_wait(pg_pool, 1)

        placing_taker.cancel()  # the server stops the taker's request while its COMMIT is in flight
        await holder.execute("SELECT pg_advisory_unlock(hashtext($1::text))", str(taker_bid))
        receipt = await placing_waiter
        assert receipt.bid_id == waiter_bid, "a committed bid is answered with its receipt"
        try:
            await placing_taker
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the taker's request was stopped, and says so once its batch is answered")

    stored = await pg_pool.fetch("SELECT id, committed_at FROM bids WHERE round_id = $1", round_id)
    committed = {row["id"]: row["committed_at"] for row in stored}
    assert set(committed) == {first_bid, taker_bid, waiter_bid}
    assert committed[taker_bid] == committed[waiter_bid] == receipt.committed_at, "one transaction"
