"""arq worker settings, one asyncpg pool per worker process, for two kinds of worker:

- the general worker: timers, payments, chain, audit (every package's jobs but discovery's), many at once;
- analysis workers: discovery's CPU-bound jobs on their own queue, one job at a time, one worker per core.
"""

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
from discovery.service import ANALYSIS_QUEUE
from marketplace.audit import anchor_sinks, checkpoint_and_anchor, read_anchors, verify_audit
from marketplace.chain import chain_client
from marketplace.chain import prepare as prepare_chain
from marketplace.config import Settings, load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls, stripe_gateway
from marketplace.heartbeat import beat_forever
from marketplace.licensing import configure_licensing
from marketplace.logs import configure_logging
from marketplace.supervisor import SUPERVISOR_PID, stop_when_orphaned

log = logging.getLogger("marketplace.worker")

# Each package's `jobs.functions` and `jobs.startup`/`jobs.shutdown` hooks are listed here, by the queue they serve.
JOB_MODULES: list[Any] = [
    auction.jobs,
    contracts.jobs,
    contracts.stripe_jobs,
    contracts.chain.jobs,
]
ANALYSIS_JOB_MODULES: list[Any] = [discovery.jobs]


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
    settings = _start(ctx)
    ctx["pool"] = await create_pool(store_urls(settings).database_url)
    # /health and the servers' fallback sweep judge whether any worker is alive by this heartbeat.
    ctx["heartbeat"] = asyncio.create_task(
        beat_forever(ctx["redis"], f"{socket.gethostname()}:{os.getpid()}")
    )
    ctx["payments"] = stripe_gateway(settings)
    ctx["chain"] = chain_client(settings)
    await prepare_chain(ctx["pool"], ctx["chain"])
    for module in JOB_MODULES:
        hook = getattr(module, "startup", None)
        if hook is not None:
            await hook(ctx)


async def analysis_startup(ctx: dict[str, Any]) -> None:
    """Only what analysis needs: no heartbeat (that says whether rounds get closed), no payments, no chain."""
    settings = _start(ctx)
    ctx["pool"] = await create_pool(store_urls(settings).database_url, min_size=1, max_size=2)
    for module in ANALYSIS_JOB_MODULES:
        await module.startup(ctx)


def _start(ctx: dict[str, Any]) -> Settings:
    settings = load_settings()
    ctx["settings"] = settings
    ctx["data_dir"] = settings.data_dir
    configure_licensing(settings.data_dir)
    contracts_service.configure(settings.settlement)
    supervisor = os.environ.get(SUPERVISOR_PID)
    ctx["orphan_watch"] = asyncio.create_task(stop_when_orphaned(int(supervisor))) if supervisor else None
    return settings


async def shutdown(ctx: dict[str, Any]) -> None:
    for module in JOB_MODULES:
        hook = getattr(module, "shutdown", None)
        if hook is not None:
            await hook(ctx)
    for task in ("heartbeat", "orphan_watch"):
        if ctx.get(task) is not None:
            ctx[task].cancel()
    await ctx["pool"].close()
    if "payments" in ctx:
        await ctx["payments"].close()
    if ctx.get("chain") is not None:
        await ctx["chain"].close()


def worker_settings() -> dict[str, Any]:
    """Settings for the general worker, built at call time so the store URLs are known."""
    configure_logging()
    urls = store_urls(load_settings())
    return {
        "functions": [function for module in JOB_MODULES for function in module.functions],
        "cron_jobs": [
            cron(verify_audit_chain, hour={3}, minute={17}, run_at_startup=False),
            cron(anchor_audit_head, second={30}, run_at_startup=True, keep_result=0, timeout=60),
            # Every package's periodic jobs, the analysis queue's too: they wait on the database, not a core.
            *(
                job
                for module in (*JOB_MODULES, *ANALYSIS_JOB_MODULES)
                for job in getattr(module, "cron_jobs", [])
            ),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(urls.redis_url),
        "poll_delay": 0.1,
        "max_jobs": 20,
    }


def analysis_worker_settings() -> dict[str, Any]:
    """Settings for an analysis worker: one CPU-bound job at a time, so N workers keep N cores busy and a
    job's timeout counts only its own work."""
    configure_logging()
    urls = store_urls(load_settings())
    return {
        "functions": [function for module in ANALYSIS_JOB_MODULES for function in module.functions],
        "queue_name": ANALYSIS_QUEUE,
        "on_startup": analysis_startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(urls.redis_url),
        "poll_delay": 0.2,
        "max_jobs": 1,
    }
