"""arq jobs for deal deadlines: a timer per waiting deal, a sweep, and timers set again at start-up.

Each job is idempotent by a state check in PostgreSQL (`service.enforce_deadline` leaves a deal
that moved on, or whose deadline is still ahead, alone), so a timer that fires twice or late does
nothing wrong, and the sweep enforces any deadline whose timer was lost.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from arq import cron, func

from contracts import service
from contracts.service import DEADLINE_JOB, Notifier

log = logging.getLogger("contracts.jobs")

TIMER_TIMEOUT_SECONDS = 10
SWEEP_EVERY_SECONDS = 10


def _notifier(ctx: dict[str, Any]) -> Notifier:
    redis = ctx["redis"]
    return Notifier(publish=redis.publish, jobs=redis)


async def deal_deadline(ctx: dict[str, Any], deal_id: str) -> None:
    async with ctx["pool"].acquire() as conn:
        update = await service.enforce_deadline(conn, UUID(deal_id), datetime.now(UTC))
    if update is not None:
        await _notifier(ctx).updates([update])


async def sweep(ctx: dict[str, Any]) -> int:
    done = await service.sweep(ctx["pool"].acquire, _notifier(ctx), datetime.now(UTC))
    if done:
        log.info("the deal sweep enforced deadlines", extra={"count": done})
    return done


async def startup(ctx: dict[str, Any]) -> None:
    timers = await service.reschedule_deadlines(ctx["pool"].acquire, _notifier(ctx))
    log.info("deal deadline timers scheduled from PostgreSQL", extra={"timers": timers})


functions = [
    func(deal_deadline, name=DEADLINE_JOB, keep_result=0, timeout=TIMER_TIMEOUT_SECONDS, max_tries=20)
]
cron_jobs = [
    cron(
        sweep,
        name="contracts.sweep",
        second=set(range(0, 60, SWEEP_EVERY_SECONDS)),
        run_at_startup=True,
        keep_result=0,
        timeout=TIMER_TIMEOUT_SECONDS * 2,
    ),
]
