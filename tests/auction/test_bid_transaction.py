"""A bid's transaction in fewer round trips keeps what it promised: bids taken one at a time under the
round's lock, each counting every bid before it, numbered in order, timed after the lock, audited with it."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg

from auction import service
from auction.model import DuplicateBid
from auction.service import AlreadyDone, Relay
from rights.terms import Money
from tests.auction.live import open_round, sealed
from tests.conftest import SignIn

BIDDERS = 12


async def _nowhere(channel: str, data: bytes) -> None:
    """Fan-out is not what these tests look at."""


async def test_bids_placed_at_once_are_counted_numbered_timed_and_audited_one_after_another(
    sign_in: SignIn, pg_pool: asyncpg.Pool
) -> None:
    seller = await sign_in("rights_holder")
    buyers = [await sign_in("buyer") for _ in range(BIDDERS)]
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
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
    seller, alice, bob = await sign_in("rights_holder"), await sign_in("buyer"), await sign_in("buyer")
    opened = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=60)
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
