"""The audit trail: concurrent appends to many streams against one stream, checkpoint, verify.

`python -m benchmarks.audit [--quick]` starts an embedded PostgreSQL in a temporary directory. Each of
16 writers appends events, one transaction each, with 2 ms of other work after the append inside the
transaction (a bid's transaction holds its stream's lock until it commits). Writers on 16 different
rounds should not wait for each other; writers on one round must. Then it times one checkpoint over
every stream that moved, and a full `verify_audit`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time

import asyncpg

from marketplace.audit import checkpoint_and_anchor, verify_audit
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import release, store_urls
from marketplace.migrations import upgrade_async

WRITERS = 16
APPEND = "SELECT audit_append('round', $1, 'bid', $2::jsonb, NULL)"


async def _writer(pool: asyncpg.Pool, stream_id: str, appends: int, latencies: list[float]) -> None:
    async with pool.acquire() as conn:
        for number in range(appends):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(APPEND, stream_id, {"amount": number})
                await conn.execute("SELECT pg_sleep(0.002)")
            latencies.append(time.perf_counter() - started)


async def _appends(pool: asyncpg.Pool, streams: list[str], appends: int) -> tuple[float, float, float]:
    """(appends per second, p50 ms, p99 ms) for one writer per entry of `streams`."""
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_writer(pool, stream, appends, latencies) for stream in streams))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return (
        len(latencies) / elapsed,
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


async def run(quick: bool) -> None:
    appends = 25 if quick else 100
    settings = load_settings(
        {
            "MARKETPLACE_DATA_DIR": tempfile.mkdtemp(prefix="audit-bench-"),
            "SECRET_KEY": secrets.token_urlsafe(48),
        }
    )
    urls = store_urls(settings)
    await upgrade_async(urls.database_url)
    pool = await create_pool(urls.database_url, min_size=WRITERS + 1, max_size=WRITERS + 1)
    try:
        tag = secrets.token_hex(3)
        print("| writers | streams | appends | appends per second | p50 ms | p99 ms |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, streams in (
            ("different rounds", [f"{tag}-{n}" for n in range(WRITERS)]),
            ("one round", [f"{tag}-hot"] * WRITERS),
        ):
            rate, p50, p99 = await _appends(pool, streams, appends)
            print(f"| {WRITERS} | {label} | {WRITERS * appends} | {rate:,.0f} | {p50:.1f} | {p99:.1f} |")

        async with pool.acquire() as conn:
            moved = 200 if quick else 2_000
            await conn.execute(
                "SELECT audit_append('negotiation', $1 || n::text, 'moved', '{}'::jsonb, NULL) FROM generate_series(1, $2) n",
                tag, moved,
            )  # fmt: skip
        started = time.perf_counter()
        head = await checkpoint_and_anchor(pool, [])
        checkpoint_ms = (time.perf_counter() - started) * 1000
        async with pool.acquire() as conn:
            started = time.perf_counter()
            report = await verify_audit(conn, [])
            verify_s = time.perf_counter() - started
        assert head is not None and report.intact, report.breaks
        print()
        print("| what | size | time |")
        print("| --- | ---: | ---: |")
        print(f"| checkpoint | {head.streams:,} streams moved | {checkpoint_ms:.0f} ms |")
        print(
            f"| verify_audit | {report.events_checked:,} events in {report.streams_checked:,} streams | {verify_s:.2f} s |"
        )
    finally:
        await pool.close()
        release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    asyncio.run(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
