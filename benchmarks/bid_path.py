"""Where one bid's milliseconds go, phase by phase, on embedded PostgreSQL and Redis in this process.

`python -m benchmarks.bid_path [--quick]` places sealed bids one after another on one round and
times each phase the HTTP path runs for a bid: the bearer token's principal (the first request of a
token reads it with a pooled connection and one query; later ones find it remembered in the
process, `marketplace.principals`, kept live by the revocation subscription as in the server), the
rate limit (one Redis command), the bid's transaction (lock the round and read the time, the bidder's
bids and the count; insert the bid with its event and audit entry; commit) up to the connection's
return to the pool, encoding the event, and publishing it to Redis. *total* is a bid whose token
was remembered. Then every buyer bids at once on a new round (bids/s, and how long each held the
round's lock). No HTTP and no websockets: this is the server's own cost per bid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import asyncpg
import msgspec
from arq import create_pool as create_arq_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis

from auction import service
from auction.live import BidReceipt, NewRound, RoundEvent
from auction.service import Relay
from benchmarks.live_rounds import USAGE, make_buyers, make_seller, pct, stop_cleanly_on_sigterm
from marketplace.accounts import service as accounts
from marketplace.accounts.sessions import credential_id
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async
from marketplace.principals import PrincipalCache, Via, listen_for_revocations, remembered
from marketplace.ratelimit import seconds_until_allowed
from rights.identity import Principal
from rights.terms import Money

T = TypeVar("T")


async def timed(phase: list[float], step: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    result = await step()
    phase.append((time.perf_counter() - started) * 1000)
    return result


async def main(quick: bool) -> None:
    bids = 100 if quick else 500
    data_dir = stop_cleanly_on_sigterm("bid-path-bench-")
    settings = load_settings({"MARKETPLACE_DATA_DIR": data_dir, "SECRET_KEY": secrets.token_urlsafe(48)})
    urls = store_urls(settings)
    await upgrade_async(urls.database_url)
    pool = await create_pool(urls.database_url)
    redis = Redis.from_url(urls.redis_url)
    jobs = await create_arq_pool(RedisSettings.from_dsn(urls.redis_url))
    phases: dict[str, list[float]] = {
        name: []
        for name in (
            "principal, first request", "principal, remembered", "rate limit", "transaction", "encode",
            "publish", "total",
        )
    }  # fmt: skip
    principals = PrincipalCache()
    listener = asyncio.create_task(listen_for_revocations(urls.redis_url, principals))

    async def publish(channel: str, data: bytes) -> None:
        event = msgspec.json.decode(data, type=RoundEvent)
        started = time.perf_counter()
        msgspec.json.encode(event)
        phases["encode"].append((time.perf_counter() - started) * 1000)
        await timed(phases["publish"], lambda: redis.publish(channel, data))

    relay = Relay(publish=publish, jobs=jobs)
    statements: list[int] = []
    held: list[float] = []  # ms each bid's statements after the round's lock took, COMMIT included
    by_statement: dict[str, list[float]] = {}  # ms each statement took, by its first words

    @contextlib.asynccontextmanager
    async def counting() -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection that counts the statements sent on it (BEGIN and COMMIT included)."""
        sent: list[asyncpg.connection.LoggedQuery] = []
        note = sent.append
        async with pool.acquire() as conn:
            conn.add_query_logger(note)
            try:
                yield conn
            finally:
                conn.remove_query_logger(note)
        statements.append(len(sent))
        locking = next(
            i for i, query in enumerate(sent) if "FOR UPDATE" in query.query or "locked" in query.query
        )
        held.append(sum(query.elapsed for query in sent[locking + 1 :]) * 1000)
        for query in sent:
            by_statement.setdefault(" ".join(query.query.split()[:3])[:40], []).append(query.elapsed * 1000)

    try:
        buyers = await make_buyers(pool, bids)
        seller_token, track_id = await make_seller(pool)
        async with pool.acquire() as conn:
            seller = await accounts.principal_for_token(conn, seller_token)
            assert seller is not None
            params = {"mechanism": "vickrey", "reserve": {"amount": 100, "currency": "EUR"}}
            body = {"track_id": str(track_id), "usage": USAGE, "params": params, "duration_seconds": 3_600}
            new = msgspec.convert(body, NewRound)
        opened = await service.open_round(pool.acquire, relay, seller, new)
        for _ in range(1_000):  # at most ten seconds for the subscription
            if principals.live:
                break
            await asyncio.sleep(0.01)
        else:
            raise SystemExit("the revocation subscription never came up: is Redis answering?")
        callers: list[Principal] = []
        for i, buyer in enumerate(buyers):

            async def principal(token: str = buyer.token) -> Principal | None:
                async def look_up() -> Principal | None:
                    async with pool.acquire() as conn:
                        return await accounts.principal_for_token(conn, token)

                return await remembered(principals, Via.TOKEN, credential_id(token), look_up)

            await timed(phases["principal, first request"], principal)
            started = time.perf_counter()
            caller = await timed(phases["principal, remembered"], principal)
            assert caller is not None
            callers.append(caller)
            key = f"bids:{caller.user_id}"
            await timed(phases["rate limit"], functools.partial(seconds_until_allowed, redis, key, 10**6, 60))

            async def bid(amount: int = 1_000 + i, caller: Principal = caller) -> BidReceipt:
                return await service.place_bid(counting, relay, caller, opened.id, Money(amount, "EUR"), None)

            await timed(phases["transaction"], bid)
            phases["transaction"][-1] -= phases["encode"][-1] + phases["publish"][-1]
            phases["total"].append((time.perf_counter() - started) * 1000)
        one_by_one = statistics.median(held)
        one_by_one_statements = {name: statistics.median(times) for name, times in by_statement.items()}
        # Then every buyer bids at once on a new round, through a pool of the server's size: the bids
        # queue on the round's row lock, so how long each holds it bounds how many a second it takes.
        held.clear()
        crowded = await service.open_round(pool.acquire, relay, seller, new)
        started = time.perf_counter()
        await asyncio.gather(
            *(
                service.place_bid(counting, relay, caller, crowded.id, Money(1_000 + i, "EUR"), None)
                for i, caller in enumerate(callers)
            )
        )
        at_once = len(callers) / (time.perf_counter() - started)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await pool.close()
        await redis.aclose()
        await jobs.aclose()
    print(f"{bids} sealed bids on one round, one after another;", end=" ")
    print(
        f"statements per bid on its connection (BEGIN and COMMIT included): {statistics.median(statements):g}\n"
    )
    print(
        f"round lock held a bid (statements after the lock, COMMIT included) p50: {one_by_one:.2f} ms one "
        f"by one, {statistics.median(held):.2f} ms at once; {len(callers)} bids at once on one round through "
        f"a pool of {pool.get_max_size()}: {at_once:.1f} bids/s\n"
    )
    print(
        "statements one by one, p50 ms: "
        + ", ".join(f"`{n}` {t:.2f}" for n, t in one_by_one_statements.items())
    )
    print()
    print("| phase | p50 ms | p99 ms | share of p50 total |")
    print("| --- | ---: | ---: | ---: |")
    total = pct(phases["total"], 0.5)  # the first request's lookup is shown for comparison, not counted
    for name, values in phases.items():
        print(
            f"| {name} | {pct(values, 0.5):.2f} | {pct(values, 0.99):.2f} | {pct(values, 0.5) / total:.0%} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 bids instead of 500")
    asyncio.run(main(parser.parse_args().quick))
