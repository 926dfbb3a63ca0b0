"""Deals settled end to end per second: quote → accepted deal → payment → ledger → signed licence.

`python -m benchmarks.settlement [--quick]` starts an embedded PostgreSQL in a temporary directory,
builds one co-owned track (a label with the master and half the publishing, a publisher with the
other half, both with list prices), then settles deals through the same service calls the API and
the payment paths make: one buyer after another, then several at once (one connection each), and
prints a Markdown table. The pure fee split is timed on its own for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg

from contracts import service
from contracts.model import Payee
from contracts.payouts import payout_lines
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.licensing import configure_licensing
from marketplace.migrations import upgrade_async
from rights.identity import Role
from rights.terms import Money
from tests.contracts.world import USAGE, World, borrowed, member, world


async def settle_one(conn: asyncpg.Connection, w: World, buyer_name: str) -> float:
    """Seconds to settle one deal for a new buyer; each step in its own transaction, as in production."""
    buyer = await member(conn, buyer_name, Role.BUYER, "agency")
    notifier = service.Notifier(publish=_nowhere, jobs=_NoJobs())
    started = time.perf_counter()
    now = datetime.now(UTC)
    quote = await service.request_quote(conn, buyer, w.track_id, USAGE, now)
    deal = await service.accept_quote(
        borrowed(conn), notifier, buyer, quote.id, idempotency_key=str(uuid4()), now=now
    )
    async with conn.transaction():
        settled = await service.record_payment(
            conn, deal.id, method="card", reference=f"pi_{uuid4().hex}", amount=deal.price, now=now
        )
    assert settled.state == "licensed"
    return time.perf_counter() - started


async def _nowhere(channel: str, data: bytes) -> None:
    """Nobody listens in a benchmark: publishing is timed by benchmarks.live_rounds."""


class _NoJobs:
    async def enqueue_job(self, *args: object, **options: object) -> None:
        """No worker in a benchmark: deadlines are not what is measured."""


async def sequential(pool: asyncpg.Pool, w: World, deals: int) -> list[float]:
    async with pool.acquire() as conn:
        return [await settle_one(conn, w, f"Sequential buyer {i}") for i in range(deals)]


async def concurrent(pool: asyncpg.Pool, w: World, deals: int, workers: int) -> tuple[float, list[float]]:
    async def worker(index: int) -> list[float]:
        async with pool.acquire() as conn:
            return [await settle_one(conn, w, f"Buyer {index}-{i}") for i in range(deals // workers)]

    started = time.perf_counter()
    results = await asyncio.gather(*(worker(i) for i in range(workers)))
    return time.perf_counter() - started, [seconds for run in results for seconds in run]


def split_rate(runs: int) -> float:
    payees = [
        Payee(organisation_id=uuid4(), party_id=uuid4(), party_name=f"Party {i}", side="publishing",
              territory="worldwide", share_bps=1_000)
        for i in range(10)
    ]  # fmt: skip
    started = time.perf_counter()
    for i in range(runs):
        payout_lines(Money(100_000 + i, "EUR"), payees, 1_500)
    return runs / (time.perf_counter() - started)


def row(what: str, seconds: list[float], wall: float | None = None) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(ordered) / (wall if wall is not None else sum(ordered))
    return (
        f"| {what} | {len(ordered):,} | {rate:,.1f} | {statistics.median(ordered) * 1000:.1f} | "
        f"{p99 * 1000:.1f} |"
    )


async def main(quick: bool) -> None:
    deals, workers = (40, 4) if quick else (400, 4)
    with tempfile.TemporaryDirectory(prefix="bench-settlement-") as data_dir:
        settings = load_settings({**os.environ, "MARKETPLACE_DATA_DIR": data_dir})
        configure_licensing(settings.data_dir)
        urls = store_urls(settings)
        await upgrade_async(urls.database_url)
        pool = await create_pool(urls.database_url)
        async with pool.acquire() as conn:
            w = await world(conn)
        one_by_one = await sequential(pool, w, deals // 2)
        wall, together = await concurrent(pool, w, deals, workers)
        async with pool.acquire() as conn:
            assert (await service.verify_ledger(conn)).balanced
        await pool.close()
    print("\n| what | deals | deals per second | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
    print(row("quote → deal → payment → ledger → licence, one at a time", one_by_one))
    print(row(f"the same, {workers} buyers at once", together, wall))
    print(f"\nPure fee split (payout_lines, 10 payees): {split_rate(100_000):,.0f} per second")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    asyncio.run(main(parser.parse_args().quick))
