"""arq jobs for live rounds: close at the deadline, expire lapsed offers, sweep, re-schedule at start-up.

Each job is idempotent by a state check in PostgreSQL, so a timer that fires twice, late, or for a
deadline that has since moved does nothing. Timer jobs keep no result, so their ids (which carry the
deadline version) are free again at once, and a short timeout lets a crashed worker's job rerun soon;
the sweep closes anything overdue whatever became of its timer.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from arq import Retry, cron, func

from auction import service
from auction.service import CLOSE_JOB, EXPIRE_JOB, Fired, Relay

log = logging.getLogger("auction.jobs")

TIMER_TIMEOUT_SECONDS = 10
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
    done = await service.sweep(ctx["pool"].acquire, _relay(ctx))
    if done:
        log.warning("the sweep closed or expired what its timers had not", extra={"count": done})
    return done


async def startup(ctx: dict[str, Any]) -> None:
    timers = await service.reschedule_timers(ctx["pool"].acquire, _relay(ctx))
    log.info("round timers scheduled from PostgreSQL", extra={"timers": timers})


functions = [
    func(close_round, name=CLOSE_JOB, keep_result=0, timeout=TIMER_TIMEOUT_SECONDS, max_tries=20),
    func(expire_negotiation, name=EXPIRE_JOB, keep_result=0, timeout=TIMER_TIMEOUT_SECONDS, max_tries=20),
]
cron_jobs = [
    cron(
        sweep,
        name="auction.sweep",
        second=set(range(0, 60, SWEEP_EVERY_SECONDS)),
        run_at_startup=True,
        keep_result=0,
        timeout=TIMER_TIMEOUT_SECONDS * 2,
    ),
]
