"""Where a deadline close's milliseconds go, on embedded PostgreSQL and Redis in this process.

`python -m benchmarks.close_path [--rounds N] [--closers 1,4,8]` opens N sealed rounds with one bid
each, moves all their deadlines to now, then closes them with the worker's deadline loop
(`auction.service.close_due_rounds`) at each number of concurrent closers, and prints: how long the
whole batch took (closes a second), each close transaction's time from claim to commit, the
statements a close sends on its connection and the time spent in each kind (as PostgreSQL answered
it, `asyncpg` query logging), publishing the closes (one Redis pipeline per batch), and then the same
for making the winners' deals from the awards the closes left. No
HTTP and no websockets: the worker's own cost per close.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import msgspec
from arq import create_pool as create_arq_pool
from arq.connections import RedisSettings

from auction import service
from auction.jobs import CLOSERS
from auction.live import NewRound
from auction.service import Relay
from benchmarks.live_rounds import USAGE, make_buyers, make_seller, pct
from marketplace.accounts import service as accounts
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async
from rights.terms import Money


def statement_kind(query: str) -> str:
    """A statement named by its first words and the table it touches, so repeats group together."""
    words = re.sub(r"__asyncpg_\w+", "…", re.sub(r"\s+", " ", query)).strip()
    table = re.search(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+(\w+)", words, re.IGNORECASE)
    head = " ".join(words.split(" ")[:2])[:40]
    return f"{head} … {table.group(1)}" if table else head


class Watched:
    """Pooled connections that note each transaction's time and statements (BEGIN and COMMIT included),
    leaving out claims that found nothing (BEGIN, the claim, COMMIT)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.durations: list[float] = []
        self.statements: list[int] = []
        self.by_kind: dict[str, float] = defaultdict(float)

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[asyncpg.Connection]:
        sent: list[Any] = []
        async with self.pool.acquire() as conn:
            conn.add_query_logger(sent.append)
            started = time.perf_counter()
            try:
                yield conn
            finally:
                conn.remove_query_logger(sent.append)
        if len(sent) > 3:
            self.durations.append((time.perf_counter() - started) * 1000)
            self.statements.append(len(sent))
            for query in sent:
                self.by_kind[statement_kind(query.query)] += query.elapsed * 1000

    def figures(self) -> str:
        """Transaction p50 / p99 ms | statements (median)."""
        durations = self.durations
        return (
            f"{pct(durations, 0.5):.1f} / {pct(durations, 0.99):.1f} | {statistics.median(self.statements):g}"
        )


async def main(rounds: int, closer_counts: Sequence[int]) -> None:
    data_dir = tempfile.mkdtemp(prefix="close-path-bench-")
    settings = load_settings({"MARKETPLACE_DATA_DIR": data_dir, "SECRET_KEY": secrets.token_urlsafe(48)})
    urls = store_urls(settings)
    await upgrade_async(urls.database_url)
    pool = await create_pool(urls.database_url)
    jobs = await create_arq_pool(RedisSettings.from_dsn(urls.redis_url))

    async def publish_all(frames: Sequence[tuple[str, bytes]]) -> None:
        async with jobs.pipeline(transaction=False) as pipe:
            for name, frame in frames:
                pipe.publish(name, frame)
            await pipe.execute()

    relay = Relay(publish=jobs.publish, jobs=jobs, publish_all=publish_all)
    telling: list[float] = []

    async def publish_all_timed(frames: Sequence[tuple[str, bytes]]) -> None:
        started = time.perf_counter()
        await publish_all(frames)
        telling.append((time.perf_counter() - started) * 1000)

    timed_relay = Relay(publish=jobs.publish, jobs=jobs, publish_all=publish_all_timed)
    try:
        buyer = (await make_buyers(pool, 1))[0]
        seller_token, track_id = await make_seller(pool)
        async with pool.acquire() as conn:
            seller = await accounts.principal_for_token(conn, seller_token)
            bidder = await accounts.principal_for_token(conn, buyer.token)
        assert seller is not None and bidder is not None
        params = {"mechanism": "vickrey", "reserve": {"amount": 100, "currency": "EUR"}}
        print(f"load average before: {os.getloadavg()[0]:.2f}; {rounds} rounds, one bid each, all due\n")
        print(
            "| closers | closes/s | close transaction p50 / p99 ms | statements a close | publish p50 ms "
            "| then deals/s | deal transaction p50 / p99 ms | statements a deal |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        breakdowns = {}
        for closers in closer_counts:
            body = {"track_id": str(track_id), "usage": USAGE, "params": params, "duration_seconds": 3_600}
            new = msgspec.convert(body, NewRound)
            opened = [await service.open_round(pool.acquire, relay, seller, new) for _ in range(rounds)]
            for view in opened:
                await service.place_bid(pool.acquire, relay, bidder, view.id, Money(1_000, "EUR"), None)
            # Every deadline now, rather than waiting an hour (opening and bidding take longer than a second).
            await pool.execute(
                "UPDATE rounds SET deadline = clock_timestamp(), closes_at = clock_timestamp() WHERE id = ANY($1)",
                [view.id for view in opened],
            )
            watched = Watched(pool)
            telling.clear()
            started = time.perf_counter()
            closed = await service.close_due_rounds(watched, timed_relay, closers)
            seconds = time.perf_counter() - started
            close_figures = (
                f"| {closers} | {closed / seconds:,.0f} | {watched.figures()} | {pct(telling, 0.5):.1f} "
            )
            breakdowns[closers] = (watched.by_kind, closed)
            watched = Watched(pool)
            started = time.perf_counter()
            made = await service.make_awarded_deals(watched, timed_relay, closers)
            seconds = time.perf_counter() - started
            print(f"{close_figures}| {made / seconds:,.0f} | {watched.figures()} |")
        closers = CLOSERS if CLOSERS in breakdowns else closer_counts[-1]
        by_kind, closed = breakdowns[closers]
        print(f"\nWith {closers} closers, PostgreSQL's time a close by statement (as the client saw it):\n")
        print("| statement | ms a close |")
        print("| --- | ---: |")
        for kind, ms in sorted(by_kind.items(), key=lambda item: -item[1]):
            print(f"| `{kind}` | {ms / closed:.2f} |")
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        await pool.close()
        await jobs.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--closers", default="1,4,6,8", help="numbers of concurrent closers, comma separated")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, [int(n) for n in arguments.closers.split(",")]))
