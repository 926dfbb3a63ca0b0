"""arq jobs for live rounds: close at the deadline, expire lapsed offers, sweep, re-schedule at start-up.

Each job is idempotent by a state check in PostgreSQL, so a timer that fires twice, late, or for a
deadline that has since moved does nothing; the sweep closes anything overdue whatever became of its
timer (rights.timers says how timer jobs are kept).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from arq import Retry

from auction import service
from auction.service import CLOSE_JOB, EXPIRE_JOB, Fired, Relay
from rights import timers

log = logging.getLogger("auction.jobs")

SWEEP_EVERY_SECONDS = 2


def _relay(ctx: dict[str, Any]) -> Relay:
    redis = ctx["redis"]
    return Relay(publish=redis.publish, jobs=redis)


async def close_round(ctx: dict[str, Any], round_id: str, deadline_version: int) -> None:
    fired, wait = await service.close_round(
        ctx["pool"].acquire, _relay(ctx), UUID(round_id), deadline_version
    )
    if fired is Fired.EARLY:  # the queue's clock ran ahead of the database's: try again when due
        raise Retry(defer=wait)


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
        "round timers scheduled from PostgreSQL",
    )


functions = [
    timers.timer_job(close_round, name=CLOSE_JOB),
    timers.timer_job(expire_negotiation, name=EXPIRE_JOB),
]
cron_jobs = [timers.sweep_job(sweep, name="auction.sweep", every_seconds=SWEEP_EVERY_SECONDS)]
