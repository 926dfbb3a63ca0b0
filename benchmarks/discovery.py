"""Discovery: analysis speed, vector search latency and recall, identification accuracy and latency.

`python -m benchmarks.discovery [--quick]` renders demo tracks, starts an embedded PostgreSQL in a
temporary directory and prints Markdown tables:

- the whole ingest of real recordings (Debian's singularity-music, see benchmarks.real_music), step
  by step, as a multiple of real time per core (audio seconds per CPU second);
- analysis speed on the synthetic demo tracks, likewise;
- search p50/p99 and recall@10 against exact search at 10,000 and 100,000 synthetic vectors
  (10,000 only with --quick), unfiltered and with a 5 % filter;
- identification accuracy and latency for 3, 5 and 10 s clips at 0, 5 and 10 dB SNR (white noise),
  fingerprints stored in PostgreSQL and looked up in one query per clip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID, uuid4

import asyncpg
import numpy as np

from benchmarks import real_music
from discovery import analysis, embedding, fingerprint, service, store, synth, tags
from discovery.model import AudioFeatures, Mood, SearchFilters
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async

T = TypeVar("T")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_analysis(n_tracks: int) -> tuple[list[str], list[tuple[synth.DemoTrack, synth.Audio]]]:
    tracks = synth.demo_catalogue()
    chosen = [tracks[i] for i in np.linspace(0, len(tracks) - 1, n_tracks).astype(int)]
    rendered = [(t, synth.render(t)) for t in chosen]
    analysis.warm_up()
    audio_seconds = sum(len(a) for _, a in rendered) / synth.SAMPLE_RATE
    rows = []
    for name, work in (
        ("analyse (features, tempo, key, HPSS, vibrato)", analysis.analyse),
        ("fingerprint (catalogue density)", fingerprint.landmarks),
    ):
        cpu, wall = time.process_time(), time.perf_counter()
        for _, audio in rendered:
            work(audio)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rows.append(
            f"| {name} | {len(rendered)} × {audio_seconds / len(rendered):.1f} s | {audio_seconds / cpu:.1f}× "
            f"| {audio_seconds / wall:.1f}× |"
        )
    return rows, rendered


def bench_real_ingest(n_tracks: int | None) -> list[str]:
    """Each step of ingesting a real recording as `service.analyse` runs it, in CPU seconds per audio second."""
    reason = real_music.ensure_installed()
    if reason:
        return [f"| (skipped: {reason}) | | | |"]
    paths = real_music.recordings()[:n_tracks]
    analysis.warm_up()
    cpu: dict[str, float] = {}

    def timed(step: str, work: Callable[..., T], *arguments: object) -> T:
        started = time.process_time()
        result = work(*arguments)
        cpu[step] = cpu.get(step, 0.0) + time.process_time() - started
        return result

    def embed_and_tag(features: AudioFeatures) -> None:
        embedding.embed(features)
        tags.ai_tags(features)

    probe = int(service.DUPLICATE_PROBE_SECONDS * analysis.SAMPLE_RATE)
    audio_seconds = 0.0
    for path in paths:
        with path.open("rb") as file:
            samples, seconds = timed(
                "decode (Ogg Vorbis, 48 kHz stereo → mono 22,050 Hz)", analysis.decode, file
            )
        audio_seconds += seconds
        timed("preview (MP3, 80 kb/s)", service.encode_preview, samples)
        features = timed("features, tempo, key (analysis.analyse)", analysis.analyse, samples)
        timed("embedding and tags", embed_and_tag, features)
        timed("fingerprint (catalogue density)", fingerprint.landmarks, samples)
        middle = max(0, (len(samples) - probe) // 2)
        timed(
            "near-duplicate probe (fingerprint of 15 s)",
            fingerprint.landmarks,
            samples[middle : middle + probe],
        )
    rows = [f"| {step} | {spent:.2f} | {audio_seconds / spent:.0f}× |" for step, spent in cpu.items()]
    total = sum(cpu.values())
    rows.append(
        f"| **whole ingest** ({len(paths)} tracks, {audio_seconds / 60:.1f} min) | {total:.2f} | **{audio_seconds / total:.0f}×** |"
    )
    return rows


async def _tracks(conn: asyncpg.Connection, organisation: UUID, n: int) -> list[UUID]:
    ids = [uuid4() for _ in range(n)]
    await conn.copy_records_to_table(
        "tracks", columns=["id", "owner_organisation_id", "title", "artist"],
        records=[(i, organisation, f"Bench {k}", "Bench") for k, i in enumerate(ids)],
    )  # fmt: skip
    return ids


def synthetic_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """Clustered unit vectors (200 "styles" plus spread), closer to real embeddings than uniform noise."""
    centres = rng.standard_normal((200, embedding.EMBEDDING_DIM))
    vectors = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, embedding.EMBEDDING_DIM))
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


async def bench_search(pool: asyncpg.Pool, organisation: UUID, size: int, queries: int) -> list[str]:
    rng = np.random.default_rng(size)
    vectors = synthetic_vectors(size + queries, rng)
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE discovery_embeddings, discovery_tracks CASCADE")
        await conn.execute(
            "INSERT INTO discovery_audio VALUES ($1, 'wav', 1, 1) ON CONFLICT DO NOTHING", "0" * 64
        )
        ids = await _tracks(conn, organisation, size)
        moods = [Mood.TENSE.value if k % 20 == 0 else Mood.CALM.value for k in range(size)]
        await conn.copy_records_to_table(
            "discovery_tracks", columns=["track_id", "audio_sha256", "status", "mood"],
            records=[(i, "0" * 64, "done", m) for i, m in zip(ids, moods, strict=True)],
        )  # fmt: skip
        await conn.execute("DROP INDEX discovery_embeddings_hnsw_idx")
        await conn.copy_records_to_table(
            "discovery_embeddings", columns=["track_id", "analysis_version", "embedding"],
            records=[(i, 1, v) for i, v in zip(ids, vectors[:size], strict=True)],
        )  # fmt: skip
        built = time.perf_counter()
        await conn.execute(
            "CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings USING hnsw (embedding vector_cosine_ops)"
        )
        built = time.perf_counter() - built
        await conn.execute("ANALYZE discovery_tracks; ANALYZE discovery_embeddings")
    rows = [f"| HNSW index build | {size:,} | {built:.1f} s total | | | |"]
    for label, filters in (
        ("no filter", SearchFilters()),
        ("mood filter keeping 5 %", SearchFilters(mood=Mood.TENSE)),
    ):
        latencies, recalls, methods = [], [], set()
        async with pool.acquire() as conn:
            for query in vectors[size:]:
                started = time.perf_counter()
                found, method = await service.nearest(conn, query, filters, 10)
                latencies.append((time.perf_counter() - started) * 1000)
                methods.add(method)
                exact = await store.exact_neighbours(conn, query, filters, 10)
                recalls.append(
                    len({c.track_id for c in found} & {c.track_id for c in exact}) / max(len(exact), 1)
                )
        rows.append(
            f"| k=10, {label} ({'/'.join(sorted(methods))}) | {size:,} | {percentile(latencies, 50):.1f} "
            f"| {percentile(latencies, 99):.1f} | {statistics.mean(recalls):.3f} | {queries} |"
        )
    return rows


async def bench_identify(
    pool: asyncpg.Pool, organisation: UUID, rendered: list[tuple[synth.DemoTrack, synth.Audio]], trials: int
) -> list[str]:
    async with pool.acquire() as conn:
        ids = await _tracks(conn, organisation, len(rendered))
        for track_id, (_, audio) in zip(ids, rendered, strict=True):
            await conn.copy_records_to_table(
                "discovery_fingerprints", columns=["hash", "track_id", "offset"],
                records=[(lm.hash, track_id, lm.offset) for lm in fingerprint.landmarks(audio)],
            )  # fmt: skip
        await conn.execute("ANALYZE discovery_fingerprints")
    rng = np.random.default_rng(3)
    strangers = [synth.render(synth.demo_track(i, seed=99), seconds=12) for i in range(4)]
    rows = []
    for seconds in (3, 5, 10):
        for snr in (0, 5, 10):
            right, latencies = 0, []
            for trial in range(trials):
                k = trial % len(rendered)
                audio = rendered[k][1]
                start = float(rng.uniform(0, len(audio) / synth.SAMPLE_RATE - seconds - 0.5))
                first = int(start * synth.SAMPLE_RATE)
                clip = synth.add_noise(audio[first : first + seconds * synth.SAMPLE_RATE], snr, seed=trial)
                began = time.perf_counter()
                query = fingerprint.landmarks(clip, fingerprint.QUERY_PEAKS_PER_SECOND)
                async with pool.acquire() as conn:
                    hits = await store.fingerprint_hits(conn, sorted({q.hash for q in query}))
                found = fingerprint.identify(query, hits)
                latencies.append((time.perf_counter() - began) * 1000)
                right += (
                    found.matched and found.track_id == ids[k] and abs((found.offset_s or 0) - start) < 0.1
                )
            false_matches = 0
            for n, stranger in enumerate(strangers):
                clip = synth.add_noise(stranger[: seconds * synth.SAMPLE_RATE], snr, seed=1000 + n)
                query = fingerprint.landmarks(clip, fingerprint.QUERY_PEAKS_PER_SECOND)
                async with pool.acquire() as conn:
                    hits = await store.fingerprint_hits(conn, sorted({q.hash for q in query}))
                false_matches += fingerprint.identify(query, hits).matched
            rows.append(
                f"| {seconds} s | {snr} dB | {right / trials:.1%} | {false_matches}/{len(strangers)} "
                f"| {percentile(latencies, 50):.0f} | {percentile(latencies, 99):.0f} | {trials} |"
            )
    return rows


async def search_only(size: int) -> None:
    """Vector search alone, e.g. once at 1,000,000 vectors (minutes to build the index)."""
    with tempfile.TemporaryDirectory(prefix="bench-discovery-") as data_dir:
        settings = load_settings({**os.environ, "MARKETPLACE_DATA_DIR": data_dir})
        urls = store_urls(settings)
        await upgrade_async(urls.database_url)
        pool = await create_pool(urls.database_url)
        organisation = await pool.fetchval(
            "INSERT INTO organisations (name, kind) VALUES ($1, 'label') RETURNING id", f"Bench {uuid4()}"
        )
        rows = await bench_search(pool, organisation, size, 200)
        await pool.close()
    print("\n| vector search | vectors | p50 ms | p99 ms | recall@10 vs exact | queries |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


async def main(quick: bool) -> None:
    ingest_rows = bench_real_ingest(4 if quick else None)
    analysis_rows, rendered = bench_analysis(4 if quick else 12)
    catalogue = rendered if quick else [(t, synth.render(t)) for t in synth.demo_catalogue()]
    with tempfile.TemporaryDirectory(prefix="bench-discovery-") as data_dir:
        settings = load_settings({**os.environ, "MARKETPLACE_DATA_DIR": data_dir})
        urls = store_urls(settings)
        await upgrade_async(urls.database_url)
        pool = await create_pool(urls.database_url)
        organisation = await pool.fetchval(
            "INSERT INTO organisations (name, kind) VALUES ($1, 'label') RETURNING id", f"Bench {uuid4()}"
        )
        identify_rows = await bench_identify(pool, organisation, catalogue, 20 if quick else 80)
        search_rows = []
        for size in (10_000,) if quick else (10_000, 100_000):
            search_rows += await bench_search(pool, organisation, size, 50 if quick else 200)
        await pool.close()
    print("\n| ingest step, real recordings | CPU s | × real time per core |\n| --- | ---: | ---: |")
    print("\n".join(ingest_rows))
    print(
        "\n| analysis step | tracks | × real time per core (CPU) | × real time (wall) |\n| --- | ---: | ---: | ---: |"
    )
    print("\n".join(analysis_rows))
    print("\n| vector search | vectors | p50 ms | p99 ms | recall@10 vs exact | queries |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(search_rows))
    print("\n| clip | SNR | identified (track and offset ±0.1 s) | false matches on unrelated music | p50 ms "
          "| p99 ms | clips |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")  # fmt: skip
    print("\n".join(identify_rows))
    print(f"\nCatalogue for identification: {len(catalogue)} demo tracks.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tracks and 10,000 vectors only")
    parser.add_argument("--search-only", type=int, metavar="VECTORS", help="only vector search, at this size")
    parser.add_argument("--ingest-only", action="store_true", help="only the real recordings' ingest")
    arguments = parser.parse_args()
    if arguments.ingest_only:
        print("| ingest step, real recordings | CPU s | × real time per core |\n| --- | ---: | ---: |")
        print("\n".join(bench_real_ingest(4 if arguments.quick else None)))
    else:
        asyncio.run(search_only(arguments.search_only) if arguments.search_only else main(arguments.quick))
