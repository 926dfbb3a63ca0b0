"""The worker's side of live rounds: a deadline loop that closes rounds when due, arq jobs that expire
lapsed offers, a sweep, and offer timers set again at start-up.

The deadline loop sleeps until the soonest open round is due by PostgreSQL, then closes every due
round a few transactions at a time, each claiming the next due round that no other transaction holds;
any number of workers share the work that way, and a worker that dies mid-close leaves its round to
the others (its transaction rolls back). A close commits the winner's award with it and the deal is
made from the award after the due closes, in its own transaction, so watchers hear closes first and a
worker killed between the two leaves the award to the next (still one deal: the award goes with it).
A new close time wakes it over Redis; a lost wake-up costs at most `deadlines.LONGEST_SLEEP_SECONDS`.
The sweep (and the servers' fallback sweep, when no worker is alive) closes anything overdue whatever
became of the loop. Expiry jobs are idempotent by a state check in PostgreSQL (rights.timers says how
timer jobs are kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from arq import Retry
from redis.asyncio import Redis

from auction import service
from auction.deadlines import LONGEST_SLEEP_SECONDS, sleep_before_next_look
from auction.service import DEADLINES_CHANNEL, EXPIRE_JOB, Fired, Relay
from rights import timers

log = logging.getLogger("auction.jobs")

SWEEP_EVERY_SECONDS = 2
CLOSERS = 6
"""Close transactions at a time, each on its own pooled connection (the worker's pool has 10)."""
DEALS_BETWEEN_CLOSES = CLOSERS
"""One deal per closer's connection, then due rounds again: a batch of deals (about 50 ms on a busy
machine) is as long as a round falling due meanwhile waits."""


def _relay(ctx: dict[str, Any]) -> Relay:
    redis = ctx["redis"]

    async def publish_all(frames: Sequence[tuple[str, bytes]]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for name, frame in frames:
                pipe.publish(name, frame)
            await pipe.execute()

    return Relay(publish=redis.publish, jobs=redis, publish_all=publish_all)


async def close_rounds_when_due(ctx: dict[str, Any]) -> None:
    """The deadline loop: runs for the worker's life."""
    relay, connect = _relay(ctx), ctx["pool"].acquire
    woken = asyncio.Event()
    listening = asyncio.create_task(_wake_on_new_close_times(ctx["redis"], woken))
    try:
        while True:
            woken.clear()  # before reading the next close time, so a later announcement is not missed
            try:
                await service.close_due_rounds(connect, relay, CLOSERS)
                # Deals a few at a time, so that rounds falling due meanwhile are closed first.
                made = await service.make_awarded_deals(connect, relay, CLOSERS, limit=DEALS_BETWEEN_CLOSES)
                sleep = sleep_before_next_look(await service.seconds_until_next_close(connect))
                if made == DEALS_BETWEEN_CLOSES:
                    sleep = 0  # more deals to make
            except Exception:  # a store away for a moment must not end the loop
                log.exception("closing due rounds failed; trying again")
                sleep = LONGEST_SLEEP_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), sleep)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def _wake_on_new_close_times(redis: Redis, woken: asyncio.Event) -> None:
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(DEADLINES_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        woken.set()
        except Exception:
            log.warning("listening for new close times failed; listening again", exc_info=True)
            woken.set()  # announcements may have been missed meanwhile
            await asyncio.sleep(LONGEST_SLEEP_SECONDS)


async def expire_negotiation(ctx: dict[str, Any], negotiation_id: str, moves: int) -> None:
    fired, wait = await service.expire_negotiation(
        ctx["pool"].acquire, _relay(ctx), UUID(negotiation_id), moves
    )
    if fired is Fired.EARLY:
        raise Retry(defer=wait)


async def sweep(ctx: dict[str, Any]) -> int:
    return await timers.run_sweep(
        ctx, lambda connect: service.sweep(connect, _relay(ctx)),
        log, logging.WARNING, "the sweep closed or expired what its timers had not",
    )  # fmt: skip


async def startup(ctx: dict[str, Any]) -> None:
    await timers.reschedule(
        ctx,
        lambda connect: service.reschedule_timers(connect, _relay(ctx)),
        log,
        "offer timers scheduled from PostgreSQL",
    )
    ctx["deadline_loop"] = asyncio.create_task(close_rounds_when_due(ctx))


async def shutdown(ctx: dict[str, Any]) -> None:
    loop = ctx.pop("deadline_loop", None)
    if loop is not None:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


functions = [timers.timer_job(expire_negotiation, name=EXPIRE_JOB)]
cron_jobs = [timers.sweep_job(sweep, name="auction.sweep", every_seconds=SWEEP_EVERY_SECONDS)]
