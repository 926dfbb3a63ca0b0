"""The Settled-event listener as an arq job: a step every two seconds, and on demand after a demo payment."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from arq import cron

from contracts.chain import service
from contracts.chain.client import ChainUnavailable
from contracts.service import Notifier

log = logging.getLogger("contracts.chain.jobs")


async def follow_settlements(ctx: dict[str, Any]) -> dict[str, Any]:
    """One listener step; an unreachable node changes nothing, and the next step catches up."""
    client = ctx.get("chain")
    if client is None:
        return {"skipped": "no chain node"}
    try:
        report = await service.follow_settlements(ctx["pool"], client, now=datetime.now(UTC))
    except ChainUnavailable as unavailable:
        log.warning(
            "chain node unavailable; Settled events will be caught up later",
            extra={"error": str(unavailable)},
        )
        return {"skipped": str(unavailable)}
    if report is None:
        return {"skipped": "no contracts deployed, or another worker stepped first"}
    await Notifier(publish=ctx["redis"].publish, jobs=ctx["redis"]).updates(report.updates)
    if report.paid or report.flagged or report.dropped:
        log.info(
            "chain listener step",
            extra={"paid": len(report.paid), "flagged": len(report.flagged), "dropped": len(report.dropped)},
        )
    return {"head": report.head, "applied_to": report.applied_to, "paid": [str(d) for d in report.paid]}


functions: list[Any] = [follow_settlements]
cron_jobs: list[Any] = [
    cron(follow_settlements, second=set(range(0, 60, 2)), run_at_startup=True, timeout=30, keep_result=0)
]
