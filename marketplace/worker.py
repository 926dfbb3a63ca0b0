"""arq worker settings: every package's jobs, one asyncpg pool per worker process."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings

import auction.jobs
import contracts.chain.jobs
import contracts.jobs
import discovery.jobs
from contracts import service as contracts_service
from marketplace.audit import verify_chain
from marketplace.chain import chain_client
from marketplace.chain import prepare as prepare_chain
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.licensing import configure_licensing
from marketplace.logs import configure_logging

log = logging.getLogger("marketplace.worker")

# Each package's `jobs.functions` and `jobs.startup` hooks are listed here.
JOB_MODULES: list[Any] = [auction.jobs, contracts.jobs, contracts.chain.jobs, discovery.jobs]


async def verify_audit_chain(ctx: dict[str, Any]) -> dict[str, Any]:
    """Nightly: a broken chain is logged as an error for the operators' alerting."""
    async with ctx["pool"].acquire() as conn:
        report = await verify_chain(conn)
    if report.intact:
        log.info("audit chain intact", extra={"rows": report.rows_checked})
    else:
        log.error("audit chain broken", extra={"seq": report.first_broken_seq, "problem": report.problem})
    return {"rows": report.rows_checked, "first_broken_seq": report.first_broken_seq}


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    urls = store_urls(settings)
    ctx["settings"] = settings
    ctx["data_dir"] = settings.data_dir
    configure_licensing(settings.data_dir)
    contracts_service.configure(settings.settlement)
    ctx["pool"] = await create_pool(urls.database_url)
    ctx["chain"] = chain_client(settings)
    await prepare_chain(ctx["pool"], ctx["chain"])
    for module in JOB_MODULES:
        hook = getattr(module, "startup", None)
        if hook is not None:
            await hook(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["pool"].close()
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
            *(job for module in JOB_MODULES for job in getattr(module, "cron_jobs", [])),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(urls.redis_url),
        "poll_delay": 0.1,
        "max_jobs": 20,
    }
