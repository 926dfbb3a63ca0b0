"""The shape every package's deadline timers share: arq timer jobs, the sweep behind them, and timers set
again from PostgreSQL at start-up (auction rounds and offers, contracts deals).

Timer jobs keep no result, so their ids (which carry the deadline version) are free again at once, and
time out soon, so a crashed worker's job reruns soon; the sweep enforces whatever a lost timer left
overdue. Every job must be idempotent by a state check in PostgreSQL: timers fire twice, late or early.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from arq import cron, func
from arq.cron import CronJob
from arq.typing import WorkerCoroutine
from arq.worker import Function

from rights.pooling import Connect

TIMER_TIMEOUT_SECONDS = 10

Work = Callable[[Connect], Awaitable[int]]


def timer_job(coroutine: WorkerCoroutine, *, name: str) -> Function:
    return func(coroutine, name=name, keep_result=0, timeout=TIMER_TIMEOUT_SECONDS, max_tries=20)


def sweep_job(sweep: WorkerCoroutine, *, name: str, every_seconds: int) -> CronJob:
    return cron(
        sweep,
        name=name,
        second=set(range(0, 60, every_seconds)),
        run_at_startup=True,
        keep_result=0,
        timeout=TIMER_TIMEOUT_SECONDS * 2,
    )


async def run_sweep(ctx: dict[str, Any], work: Work, log: logging.Logger, level: int, message: str) -> int:
    """A sweep borrowing pooled connections; what it did is logged when it did anything."""
    done = await work(ctx["pool"].acquire)
    if done:
        log.log(level, message, extra={"count": done})
    return done


async def reschedule(ctx: dict[str, Any], work: Work, log: logging.Logger, message: str) -> None:
    """At a worker's start: every timer set again from PostgreSQL, and how many were."""
    timers = await work(ctx["pool"].acquire)
    log.info(message, extra={"timers": timers})
