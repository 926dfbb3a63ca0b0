"""arq worker settings: every package's jobs, one asyncpg pool per worker process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from arq import cron
from arq.connections import RedisSettings

import auction.jobs
import contracts.chain.jobs
import contracts.jobs
import contracts.stripe_jobs
import discovery.jobs
from contracts import service as contracts_service
from marketplace.audit import anchor_sinks, checkpoint_and_anchor, read_anchors, verify_audit
from marketplace.chain import chain_client
from marketplace.chain import prepare as prepare_chain
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls, stripe_gateway
from marketplace.heartbeat import beat_forever
from marketplace.licensing import configure_licensing
from marketplace.logs import configure_logging
from marketplace.supervisor import SUPERVISOR_PID, stop_when_orphaned

log = logging.getLogger("marketplace.worker")

# Each package's `jobs.functions` and `jobs.startup` hooks are listed here.
JOB_MODULES: list[Any] = [
    auction.jobs,
    contracts.jobs,
    contracts.stripe_jobs,
    contracts.chain.jobs,
    discovery.jobs,
]


async def verify_audit_chain(ctx: dict[str, Any]) -> dict[str, Any]:
    """Nightly: a broken chain is logged as an error for the operators' alerting."""
    anchored = await read_anchors(anchor_sinks(ctx["data_dir"], ctx["pool"], ctx["chain"]))
    async with ctx["pool"].acquire() as conn:
        report = await verify_audit(conn, anchored)
    if report.intact:
        log.info("audit trail intact", extra={"events": report.events_checked})
    else:
        for found in report.breaks:
            log.error(
                "audit trail broken", extra={"chain": found.chain, "seq": found.seq, "problem": found.problem}
            )
    return {"events": report.events_checked, "breaks": len(report.breaks)}


async def anchor_audit_head(ctx: dict[str, Any]) -> int | None:
    """Every minute: checkpoint the streams that moved and anchor the global head outside the database."""
    head = await checkpoint_and_anchor(ctx["pool"], anchor_sinks(ctx["data_dir"], ctx["pool"], ctx["chain"]))
    return None if head is None else head.seq


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    urls = store_urls(settings)
    ctx["settings"] = settings
    ctx["data_dir"] = settings.data_dir
    configure_licensing(settings.data_dir)
    contracts_service.configure(settings.settlement)
    ctx["pool"] = await create_pool(urls.database_url)
    # /health and the servers' fallback sweep judge whether any worker is alive by this heartbeat.
    ctx["heartbeat"] = asyncio.create_task(
        beat_forever(ctx["redis"], f"{socket.gethostname()}:{os.getpid()}")
    )
    supervisor = os.environ.get(SUPERVISOR_PID)
    ctx["orphan_watch"] = asyncio.create_task(stop_when_orphaned(int(supervisor))) if supervisor else None
    ctx["payments"] = stripe_gateway(settings)
    ctx["chain"] = chain_client(settings)
    await prepare_chain(ctx["pool"], ctx["chain"])
    for module in JOB_MODULES:
        hook = getattr(module, "startup", None)
        if hook is not None:
            await hook(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    ctx["heartbeat"].cancel()
    if ctx["orphan_watch"] is not None:
        ctx["orphan_watch"].cancel()
    await ctx["pool"].close()
    await ctx["payments"].close()
    if ctx.get("chain") is not None:
        await ctx["chain"].close()


def worker_settings() -> dict[str, Any]:
    """Settings for `arq.run_worker`, built at call time so the store URLs are known."""
    configure_logging()
    urls = store_urls(load_settings())
    return {
        "functions": [function for module in JOB_MODULES for function in module.functions],
        "cron_jobs": [
            cron(verify_audit_chain, hour={3}, minute={17}, run_at_startup=False),
            cron(anchor_audit_head, second={30}, run_at_startup=True, keep_result=0, timeout=60),
            *(job for module in JOB_MODULES for job in getattr(module, "cron_jobs", [])),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(urls.redis_url),
        "poll_delay": 0.1,
        "max_jobs": 20,
    }
