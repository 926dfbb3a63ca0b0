"""Clearance and graph-query latency on a generated catalogue with three-level sub-publishing chains.

`python -m benchmarks.clearance [--quick]` starts an embedded PostgreSQL in a temporary directory,
generates 100,000 recordings (5,000 with --quick) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async
from rights import service
from rights.imports import ImportBatch
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    LicensingPolicy,
    Mechanism,
    Party,
    Period,
    Recording,
    Right,
    Work,
)
from rights.store.postgres import PostgresRightsStore
from rights.terms import Media, Money, RateCard, Usage
from rights.territories import TerritoryScope

SINCE = Period(start=date(2020, 1, 1))
CHUNK = 5_000


def _parties(
    rng: random.Random, n_recordings: int
) -> tuple[list[Party], list[Party], list[Party], list[AdministrationEdge]]:
    writers = [Party(id=uuid4(), name=f"Writer {i}") for i in range(max(50, n_recordings // 50))]
    publishers = [Party(id=uuid4(), name=f"Publisher {i}") for i in range(max(20, n_recordings // 500))]
    labels = [Party(id=uuid4(), name=f"Label {i}") for i in range(max(10, n_recordings // 2000))]
    chains: list[AdministrationEdge] = []
    subs: list[Party] = []
    for publisher in publishers:
        administered = publisher
        for level, where in enumerate(("EUROPE", "DACH", "DE")):
            sub = Party(id=uuid4(), name=f"{publisher.name} sub {level}")
            subs.append(sub)
            chains.append(AdministrationEdge(id=uuid4(), administrator_id=sub.id, administered_id=administered.id,
                                             territories=TerritoryScope(include=(where,)), period=SINCE))  # fmt: skip
            administered = sub
    return writers, publishers, labels + subs, chains


async def generate(pool: asyncpg.Pool, n_recordings: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    async with pool.acquire() as conn:
        organisation = await conn.fetchval(
            "INSERT INTO organisations (name, kind) VALUES ($1, 'label') RETURNING id", f"Bench {uuid4()}"
        )
        writers, publishers, others, chains = _parties(rng, n_recordings)
        store = PostgresRightsStore(conn)
        async with conn.transaction():
            await store.add_batch(
                ImportBatch(parties=(*writers, *publishers, *others), administration=tuple(chains))
            )
            card = RateCard(base=Money(100_000, "EUR"), media_bp={m: 10_000 for m in Media})
            for party in (*publishers, *others):
                await store.put_policy(LicensingPolicy(
                    id=uuid4(), party_id=party.id, mechanisms={Media.ONLINE_ADS: (Mechanism.FIXED_PRICE, Mechanism.VICKREY)},
                    rate_card=card, automated_media=frozenset({Media.ONLINE_ADS})))  # fmt: skip
        labels = [p for p in others if p.name.startswith("Label")]
        track_ids: list[UUID] = []
        samples: list[tuple[UUID, UUID]] = []
        for start in range(0, n_recordings, CHUNK):
            size = min(CHUNK, n_recordings - start)
            ids = [uuid4() for _ in range(size)]
            now = datetime.now(UTC)
            await conn.copy_records_to_table(
                "tracks", columns=["id", "owner_organisation_id", "title", "artist", "description", "created_at"],
                records=[(t, organisation, f"Track {start + i}", "Bench", "", now) for i, t in enumerate(ids)],
            )  # fmt: skip
            works, recordings, control = [], [], []
            for track_id in ids:
                a, b = rng.sample(writers, 2)
                pub_a, pub_b = rng.sample(publishers, 2)
                work = Work(id=uuid4(), title="w", writer_ids=(a.id, b.id))
                recording = Recording(id=uuid4(), title="r", work_id=work.id, track_id=track_id)
                works.append(work)
                recordings.append(recording)
                control += [
                    ControlEdge(id=uuid4(), party_id=rng.choice(labels).id, subject_id=recording.id,
                                right=Right.MASTER, share_bp=10_000, period=SINCE),
                    ControlEdge(id=uuid4(), party_id=pub_a.id, subject_id=work.id, right=Right.PUBLISHING,
                                share_bp=5_000, period=SINCE),
                    ControlEdge(id=uuid4(), party_id=pub_b.id, subject_id=work.id, right=Right.PUBLISHING,
                                share_bp=5_000, period=SINCE),
                ]  # fmt: skip
                if len(samples) < 200:
                    samples.append((a.id, pub_a.id))
            async with conn.transaction():
                await store.add_batch(
                    ImportBatch(works=tuple(works), recordings=tuple(recordings), control=tuple(control))
                )
            track_ids += ids
        await conn.execute("ANALYZE")
    return {"track_ids": track_ids, "samples": samples}


async def timed(
    pool: asyncpg.Pool, runs: int, call: Callable[[asyncpg.Connection, int], Awaitable[object]]
) -> list[float]:
    latencies = []
    async with pool.acquire() as conn:
        for i in range(runs):
            started = time.perf_counter()
            await call(conn, i)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def row(what: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"| {what} | {len(ordered):,} | {statistics.median(ordered):.2f} | {p99:.2f} |"


async def main(quick: bool) -> None:
    n_recordings = 5_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-clearance-") as data_dir:
        settings = load_settings({**os.environ, "MARKETPLACE_DATA_DIR": data_dir})
        urls = store_urls(settings)
        await upgrade_async(urls.database_url)
        pool = await create_pool(urls.database_url)
        started = time.perf_counter()
        catalogue = await generate(pool, n_recordings)
        generated = time.perf_counter() - started
        rng = random.Random(11)
        tracks: list[UUID] = catalogue["track_ids"]
        samples: list[tuple[UUID, UUID]] = catalogue["samples"]
        on = date(2026, 12, 1)
        usages = {
            "DE": Usage(media=Media.ONLINE_ADS, territories=("DE",), term_months=12, start=on),
            "WORLD": Usage(media=Media.ONLINE_ADS, territories=("WORLD",), term_months=12, start=on),
        }
        runs = 200 if quick else 1_000
        rows = []
        for where, usage in usages.items():

            def clear(conn: asyncpg.Connection, _: int, usage: Usage = usage) -> Awaitable[object]:
                return service.clearance(conn, rng.choice(tracks), usage)

            rows.append(row(f"clearance, {where} (3-level chain in DE)", await timed(pool, runs, clear)))
        rows.append(row("graph query: co-written by A, published by B, in EUROPE", await timed(
            pool, min(runs, len(samples)), lambda c, i: service.graph_tracks(
                c, territories=("EUROPE",), on=on, writer_id=samples[i][0], publisher_id=samples[i][1]))))  # fmt: skip
        rows.append(row("clearable_track_ids among 100 tracks, DE", await timed(
            pool, 20, lambda c, i: service.clearable_track_ids(c, usages["DE"], among=rng.sample(tracks, 100)))))  # fmt: skip
        await pool.close()
    print(f"\nCatalogue: {n_recordings:,} recordings generated and stored in {generated:.1f} s\n")
    print("| what | runs | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 recordings instead of 100,000")
    asyncio.run(main(parser.parse_args().quick))
