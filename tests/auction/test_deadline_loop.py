"""The worker's deadline loop: many rounds due at the same moment, each closed once and heard by its watcher."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from hypothesis import given
from hypothesis import strategies as st

from auction.deadlines import HELD_ROUND_RETRY_SECONDS, LONGEST_SLEEP_SECONDS, sleep_before_next_look
from tests.auction import live
from tests.auction.live import eur, open_round, sealed, wait_for, watching
from tests.conftest import SignIn

timers = live.timers  # an arq worker running in the test's event loop, its deadline loop with it

ROUNDS = 12


async def test_rounds_due_in_the_same_second_are_each_closed_once_and_heard_by_their_watchers(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, watcher = await sign_in("rights_holder"), await sign_in("buyer")
    buyers = [await sign_in("buyer") for _ in range(ROUNDS)]  # each within its own rate limit
    rounds = await asyncio.gather(
        *(open_round(pg_pool, seller, sealed(reserve=1_000), duration=4) for _ in range(ROUNDS))
    )
    async with contextlib.AsyncExitStack() as stack:
        rooms = [await stack.enter_async_context(watching(live_server, watcher, r["id"])) for r in rounds]
        for buyer, opened in zip(buyers, rounds, strict=True):
            response = await buyer.client.post(
                f"/api/rounds/{opened['id']}/bids", json={"amount": eur(2_000)}
            )
            assert response.status_code == 201, response.text
        closes = [(await room.event("closed", within=30))["event"] for room in rooms]

    ids = [UUID(opened["id"]) for opened in rounds]
    for opened, closed in zip(rounds, closes, strict=True):
        assert closed["outcome"]["winner"]["price"] == eur(1_000), "one bid pays the reserve"
        late = datetime.fromisoformat(closed["closed_at"]) - datetime.fromisoformat(opened["closes_at"])
        # The loop sleeps until the close; the margin is for a shared two-core machine under load.
        assert timedelta(0) <= late < timedelta(seconds=2), f"closed {late} after its deadline"
    closed_once = await pg_pool.fetchval(
        """SELECT count(*) FROM unnest($1::uuid[]) AS r(id)
            WHERE (SELECT count(*) FROM round_events e WHERE e.round_id = r.id AND e.kind = 'closed') = 1""",
        ids,
    )
    assert closed_once == ROUNDS
    deals = await wait_for(
        lambda: _deals_when_all_made(pg_pool, ids), what="the winners' deals, made right after the closes"
    )
    announced = {
        UUID(opened["id"]): UUID(closed["deal_id"]) for opened, closed in zip(rounds, closes, strict=True)
    }
    assert deals == announced, "one deal for each round's winner, with the id its close announced"


async def _deals_when_all_made(pg_pool: asyncpg.Pool, round_ids: list[UUID]) -> dict[UUID, UUID] | None:
    rows = await pg_pool.fetch("SELECT source_id, id FROM deals WHERE source_id = ANY($1)", round_ids)
    return {row["source_id"]: row["id"] for row in rows} if len(rows) == len(round_ids) else None


async def test_a_round_opened_while_the_loop_sleeps_is_closed_at_its_own_deadline(
    sign_in: SignIn, pg_pool: asyncpg.Pool, live_server: str, timers: Any
) -> None:
    seller, watcher = await sign_in("rights_holder"), await sign_in("buyer")
    await open_round(pg_pool, seller, sealed(reserve=1_000), duration=3_600)  # the loop sleeps towards this
    soon = await open_round(pg_pool, seller, sealed(reserve=1_000), duration=1)
    async with watching(live_server, watcher, soon["id"]) as room:
        closed = (await room.event("closed", within=30))["event"]
    late = datetime.fromisoformat(closed["closed_at"]) - datetime.fromisoformat(soon["closes_at"])
    assert timedelta(0) <= late < timedelta(seconds=2), f"closed {late} after its deadline"


@given(st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)))
def test_the_loop_never_sleeps_past_the_next_close_nor_longer_than_a_lost_wake_up_may_cost(
    seconds: float | None,
) -> None:
    sleep = sleep_before_next_look(seconds)
    assert 0 < sleep <= LONGEST_SLEEP_SECONDS
    if seconds is not None and seconds > 0:
        assert sleep <= seconds


def test_a_round_due_but_held_elsewhere_is_looked_at_again_soon() -> None:
    assert sleep_before_next_look(0.0) == sleep_before_next_look(-3.0) == HELD_ROUND_RETRY_SECONDS
