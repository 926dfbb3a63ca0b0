"""arq jobs for deal deadlines: a timer per waiting deal, a sweep, and timers set again at start-up.

Each job is idempotent by a state check in PostgreSQL (`service.enforce_deadline` leaves a deal
that moved on, or whose deadline is still ahead, alone), so a timer that fires twice or late does
nothing wrong, and the sweep enforces any deadline whose timer was lost (rights.timers).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from contracts import service
from contracts.service import DEADLINE_JOB, Notifier
from rights import timers

log = logging.getLogger("contracts.jobs")

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
    return await timers.run_sweep(
        ctx, lambda connect: service.sweep(connect, _notifier(ctx), datetime.now(UTC)),
        log, logging.INFO, "the deal sweep enforced deadlines",
    )  # fmt: skip


async def startup(ctx: dict[str, Any]) -> None:
    await timers.reschedule(
        ctx, lambda connect: service.reschedule_deadlines(connect, _notifier(ctx)),
        log, "deal deadline timers scheduled from PostgreSQL",
    )  # fmt: skip


functions = [timers.timer_job(deal_deadline, name=DEADLINE_JOB)]
cron_jobs = [timers.sweep_job(sweep, name="contracts.sweep", every_seconds=SWEEP_EVERY_SECONDS)]
