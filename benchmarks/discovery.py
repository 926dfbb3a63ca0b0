"""Discovery: analysis speed, vector search latency and recall, identification accuracy and latency.

`python -m benchmarks.discovery [--quick]` renders demo tracks, starts an embedded PostgreSQL in a
temporary directory and prints Markdown tables:

- the whole ingest of real recordings (Debian's singularity-music, see benchmarks.real_music), step
  by step, in CPU seconds per audio second and as a multiple of real time per core, single-threaded
  as the analysis workers run; `--ingest-only` alone, the median of `--rounds` (3), with libsndfile
  reading the files alone as a reference measured in the same run and the load average;
- analysis speed on the synthetic demo tracks, likewise;
- search p50/p99 and recall@10 against exact search at 10,000 and 100,000 synthetic vectors
  (10,000 only with --quick), unfiltered and with mood, tempo and key filters;
- identification accuracy and latency for 3, 5 and 10 s clips at 0, 5 and 10 dB SNR (white noise),
  fingerprints stored in PostgreSQL and looked up in one query per clip;
- the same on real recorded music (benchmarks.real_music: half the tracks indexed beside the demo
  catalogue, half never indexed): accuracy, false matches, the confidences either side;
- the fingerprint index's size per hour of indexed audio (pg_total_relation_size, all in).

`--identification-only` runs the last three alone. `--search-only N` runs vector search alone at N
vectors (`--hnsw OPTIONS` to build the graphs with other options); with `--data-dir DIR` (outside
the repository) the database is kept and a catalogue already built there is searched again without
rebuilding its five graphs (the whole catalogue's and one per mood), which at 1,000,000 vectors
takes about an hour here (the kept database is migrated first: a new migration that rebuilds the
graphs rebuilds them there too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar
from uuid import UUID, uuid4

import asyncpg
import numpy as np
import psutil

from benchmarks import real_music
from discovery import analysis, embedding, fingerprint, search_plan, service, store, synth, tags
from discovery.model import AudioFeatures, Identification, Key, Mode, Mood, SearchFilters
from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import store_urls
from marketplace.migrations import upgrade_async

REAL_SNIPPETS_PER_TRACK = 4  # per row of the real-music table: 32 indexed and 32 never-indexed clips
T = TypeVar("T")
INGEST_HEADER = (
    "| ingest step, real recordings | CPU s | CPU s per audio s | × real time per core |\n"
    "| --- | ---: | ---: | ---: |"
)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_analysis(n_tracks: int) -> tuple[list[str], list[tuple[synth.DemoTrack, synth.Audio]]]:
    tracks = synth.demo_catalogue()
    chosen = [tracks[i] for i in np.linspace(0, len(tracks) - 1, n_tracks).astype(int)]
    rendered = [(t, synth.render(t)) for t in chosen]
    analysis.use_one_core()
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


def bench_real_ingest(n_tracks: int | None, rounds: int = 1) -> list[str]:
    """Each step of ingesting a real recording as `service.analyse` runs it, in CPU seconds per audio second.

    The tracks are ingested `rounds` times and each step's median round is reported, single-threaded
    as an analysis worker runs (`analysis.use_one_core`). Reading the Vorbis files with libsndfile
    alone is timed too, as a reference the decode step is compared with in the same run.
    """
    reason = real_music.ensure_installed()
    if reason:
        return [f"| (skipped: {reason}) | | | |"]
    paths = real_music.recordings()[:n_tracks]
    analysis.use_one_core()
    analysis.warm_up()
    load_before = os.getloadavg()[0]
    spent: dict[str, list[float]] = {}

    def timed(step: str, work: Callable[..., T], *arguments: object) -> T:
        started = time.process_time()
        result = work(*arguments)
        spent.setdefault(step, []).append(time.process_time() - started)
        return result

    def embed_and_tag(features: AudioFeatures) -> None:
        embedding.embed(features)
        tags.ai_tags(features)

    probe = int(service.DUPLICATE_PROBE_SECONDS * analysis.SAMPLE_RATE)
    audio_seconds = 0.0
    for _ in range(rounds):
        audio_seconds = 0.0
        for path in paths:
            timed(LIBSNDFILE_ALONE, real_music.read_native, path)
            with path.open("rb") as file:
                samples, seconds = timed(DECODE_STEP, analysis.decode, file)
            audio_seconds += seconds
            timed(f"preview (MP3, {service.PREVIEW_KBPS} kb/s)", service.encode_preview, samples)
            features = timed("features, tempo, key (analysis.analyse)", analysis.analyse, samples)
            timed("embedding and tags", embed_and_tag, features)
            timed("fingerprint (catalogue density)", fingerprint.landmarks, samples)
            middle = max(0, (len(samples) - probe) // 2)
            timed(
                "near-duplicate probe (fingerprint of 15 s)",
                fingerprint.landmarks,
                samples[middle : middle + probe],
            )
    per_round = len(paths)
    median = {step: statistics.median(_round_sums(times, per_round)) for step, times in spent.items()}
    reference = median.pop(LIBSNDFILE_ALONE)
    rows = [_ingest_row(step, cpu, audio_seconds) for step, cpu in median.items()]
    total = sum(median.values())
    rows.append(
        _ingest_row(
            f"**whole ingest** ({len(paths)} tracks, {audio_seconds / 60:.1f} min)", total, audio_seconds
        )
    )
    rows.append(_ingest_row(f"reference, not ingest: {LIBSNDFILE_ALONE}", reference, audio_seconds))
    rows.append(
        f"| decode ÷ reference {median[DECODE_STEP] / reference:.2f}; whole ingest ÷ reference "
        f"{total / reference:.2f}; median of {rounds} round(s); load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after | | | |"
    )
    return rows


LIBSNDFILE_ALONE = "libsndfile reading the Ogg Vorbis at its own rate"
DECODE_STEP = "decode (Ogg Vorbis, 48 kHz stereo → mono 22,050 Hz)"


def _round_sums(times: list[float], per_round: int) -> list[float]:
    return [sum(times[k : k + per_round]) for k in range(0, len(times), per_round)]


def _ingest_row(step: str, cpu: float, audio_seconds: float) -> str:
    return f"| {step} | {cpu:.2f} | {cpu / audio_seconds:.4f} | {audio_seconds / cpu:.0f}× |"


async def _tracks(conn: asyncpg.Connection, organisation: UUID, n: int) -> list[UUID]:
    ids = [uuid4() for _ in range(n)]
    await conn.copy_records_to_table(
        "tracks", columns=["id", "owner_organisation_id", "title", "artist"],
        records=[(i, organisation, f"Bench {k}", "Bench") for k, i in enumerate(ids)],
    )  # fmt: skip
    return ids


class EmbeddingShape(NamedTuple):
    """Where real recordings' embeddings lie: their mean and covariance (benchmarks.real_music)."""

    mean: np.ndarray
    covariance: np.ndarray


VECTOR_SHAPES = ("recorded", "isotropic")


def recorded_shape() -> EmbeddingShape:
    """The shape of real recordings' embeddings, from the 20 s windows of Debian's singularity-music."""
    reason = real_music.ensure_installed()
    if reason:
        raise SystemExit(f"--vectors recorded needs real recordings: {reason}")
    analysis.use_one_core()
    windows = real_music.window_embeddings()
    return EmbeddingShape(windows.mean(axis=0), np.cov(windows, rowvar=False))


def synthetic_vectors(n: int, rng: np.random.Generator, shape: EmbeddingShape | None) -> np.ndarray:
    """Unit vectors in 200 "styles", each track a style plus a spread of 0.6 of the styles' own.

    With a shape, styles and spread follow real recordings' covariance and each feature group is
    brought back to unit length, as `embedding.embed` makes it. Without (isotropic), every one of
    the 47 directions varies alike: real embeddings vary in about 9 (docs/benchmarks.md), and a
    graph index needs far more work for the same recall in 47.
    """
    dim = embedding.EMBEDDING_DIM
    if shape is None:
        centres = rng.standard_normal((200, dim))
        vectors = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, dim))
        return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    # Styles and spread share the recordings' covariance, scaled so that together they have it.
    spread = np.linalg.cholesky(shape.covariance + 1e-9 * np.eye(dim)) / np.sqrt(1 + 0.6**2)
    centres = shape.mean + rng.standard_normal((200, dim)) @ spread.T
    vectors = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, dim)) @ spread.T
    for group in embedding.GROUPS.values():
        vectors[:, group] /= np.linalg.norm(vectors[:, group], axis=1, keepdims=True)
    return np.asarray(vectors / np.sqrt(len(embedding.GROUPS)))


def participation_ratio(vectors: np.ndarray) -> float:
    """How many directions the vectors vary in: (Σλ)² / Σλ² over their covariance's eigenvalues."""
    variances = np.linalg.eigvalsh(np.cov(vectors, rowvar=False))
    return float(variances.sum() ** 2 / (variances**2).sum())


SEARCH_HEADER = (
    "| vector search | vectors | p50 ms | p99 ms | p50 ÷ raw index p50 | CPU ms per call | recall@10 vs exact "
    "| plan | answers short of k | queries |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
)
# What the service is asked, with the share of the synthetic catalogue each filter keeps.
SEARCH_CASES = (
    ("no filter", SearchFilters()),
    ("mood filter keeping 5 %", SearchFilters(mood=Mood.TENSE)),
    ("mood filter keeping 95 %", SearchFilters(mood=Mood.CALM)),
    ("mood and tempo keeping 0.5 %", SearchFilters(mood=Mood.TENSE, bpm_min=100, bpm_max=112)),
    ("tempo 118–124 keeping 5 %", SearchFilters(bpm_min=118, bpm_max=124)),
    ("tempo 119.7–120.3 keeping 0.5 %", SearchFilters(bpm_min=119.7, bpm_max=120.3)),
    ("key A minor keeping 3.3 %", SearchFilters(key=Key(9, Mode.MINOR))),
    (
        "tempo 118–124 in A minor keeping 0.17 %",
        SearchFilters(bpm_min=118, bpm_max=124, key=Key(9, Mode.MINOR)),
    ),
)
# Keys as catalogues hold them: every tonic alike, more major than minor.
MAJOR_SHARE = 0.6
RAW_INDEX_QUERY = (
    "SELECT track_id, embedding <=> $1 FROM discovery_embeddings ORDER BY embedding <=> $1 LIMIT 10"
)
# The same in the tense tracks' own graph (migration 0088): the mood a constant, as partial indexes need,
# ordered by Euclidean distance, which only the mood graphs answer (the same order for unit vectors).
RAW_MOOD_GRAPH_QUERY = (
    "SELECT track_id, embedding <=> $1 FROM discovery_embeddings WHERE mood = 'tense' "
    "ORDER BY embedding <-> $1 LIMIT 10"
)


class SearchCatalogue(NamedTuple):
    """The synthetic catalogue as loaded, kept to compute the true nearest tracks without the database."""

    ids: list[UUID]
    vectors: np.ndarray  # unit rows, float32 as pgvector stores them
    moods: np.ndarray
    bpm: np.ndarray
    tonics: np.ndarray
    modes: np.ndarray

    def exact(self, query: np.ndarray, filters: SearchFilters, k: int) -> list[UUID]:
        """The k nearest tracks passing the filters (mood, tempo and key, the benchmark's only ones)."""
        passes = np.ones(len(self.ids), dtype=bool)
        if filters.mood is not None:
            passes &= self.moods == filters.mood.value
        if filters.key is not None:
            passes &= (self.tonics == filters.key.tonic) & (self.modes == filters.key.mode.value)
        if filters.bpm_min is not None:
            passes &= self.bpm >= filters.bpm_min
        if filters.bpm_max is not None:
            passes &= self.bpm <= filters.bpm_max
        rows = np.flatnonzero(passes)
        similarity = self.vectors[rows] @ query.astype(np.float32)
        nearest = rows[np.argsort(-similarity, kind="stable")[:k]]
        return [self.ids[i] for i in nearest]


async def _graphs(conn: asyncpg.Connection) -> dict[str, str]:
    """The embeddings' HNSW indexes by name, with their definitions: the whole catalogue's and each mood's."""
    rows = await conn.fetch(
        """SELECT indexname, indexdef FROM pg_indexes
           WHERE tablename = 'discovery_embeddings' AND indexdef LIKE '% USING hnsw %' ORDER BY indexname"""
    )
    return {r["indexname"]: r["indexdef"] for r in rows}


def _with_options(definition: str, index_options: str | None) -> str:
    """The index definition with other graph options, or as it is."""
    if index_options is None:
        return definition
    return re.sub(r"WITH \([^)]*\)", f"WITH ({index_options})", definition)


def _graph_description(definition: str) -> str:
    return definition.split(" USING ")[1]


async def _load_search_catalogue(
    conn: asyncpg.Connection,
    organisation: UUID,
    vectors: np.ndarray,
    drawn: str,
    index_options: str | None,
) -> tuple[str, SearchCatalogue]:
    """Catalogue rows by COPY, then the app's own HNSW indexes built once over them; the build's row.

    A catalogue of this size, drawn the same way, with these indexes already in the database (a
    kept --data-dir) is read back instead: building the indexes at 1,000,000 takes about an hour here.
    """
    size = len(vectors)
    graphs = await _graphs(conn)
    wanted = {name: _with_options(definition, index_options) for name, definition in graphs.items()}
    if (
        all(_same_index(graphs[name], wanted[name]) for name in graphs)
        and await conn.fetchval("SELECT count(*) FROM discovery_embeddings") == size
        and await conn.fetchval("SELECT obj_description('discovery_embeddings'::regclass)")
        == _drawn_note(drawn)
    ):
        return await _kept_search_catalogue(conn, graphs)
    rng = np.random.default_rng(size + 1)
    await conn.execute(
        "TRUNCATE discovery_embeddings, discovery_tracks, discovery_graph_calibrations CASCADE"
    )
    await conn.execute(
        "INSERT INTO discovery_audio VALUES ($1, 'wav', 1, 1) ON CONFLICT DO NOTHING", "0" * 64
    )
    loaded = time.perf_counter()
    ids = await _tracks(conn, organisation, size)
    moods = np.where(np.arange(size) % 20 == 0, Mood.TENSE.value, Mood.CALM.value)
    bpm = rng.uniform(60, 180, size).astype(np.float32)
    tonics = rng.integers(0, 12, size)
    modes = np.where(rng.random(size) < MAJOR_SHARE, Mode.MAJOR.value, Mode.MINOR.value)
    await conn.copy_records_to_table(
        "discovery_tracks",
        columns=["track_id", "audio_sha256", "status", "mood", "bpm", "key_tonic", "mode"],
        records=[
            (i, "0" * 64, "done", str(m), float(b), int(t), str(o))
            for i, m, b, t, o in zip(ids, moods, bpm, tonics, modes, strict=True)
        ],
    )
    await conn.execute(f"DROP INDEX {', '.join(graphs)}")
    await conn.copy_records_to_table(
        "discovery_embeddings", columns=["track_id", "analysis_version", "embedding"],
        records=[(i, 1, v) for i, v in zip(ids, vectors, strict=True)],
    )  # fmt: skip
    loaded = time.perf_counter() - loaded
    # The graph must fit in maintenance_work_mem or pgvector builds it on disk, many times slower;
    # pgvector 0.6 builds with a parallel worker beside the backend when PostgreSQL allows one.
    await conn.execute(
        f"SET maintenance_work_mem = '4GB'; SET max_parallel_maintenance_workers = {BUILD_WORKERS}"
    )
    backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
    peak_rss = backend.memory_info().rss
    built: dict[str, float] = {}
    for name, definition in wanted.items():
        build = asyncio.ensure_future(conn.execute(definition))
        started = time.perf_counter()
        while not build.done():
            peak_rss = max(peak_rss, backend.memory_info().rss)
            await asyncio.wait([build], timeout=0.5)
        await build
        built[name] = time.perf_counter() - started
    await conn.execute(
        "RESET maintenance_work_mem; RESET max_parallel_maintenance_workers; "
        "ANALYZE discovery_tracks; ANALYZE discovery_embeddings; "
        f"COMMENT ON TABLE discovery_embeddings IS '{_drawn_note(drawn)}'"
    )
    service.CATALOGUE_STATISTICS.forget()
    sizes = await _graph_sizes(conn, wanted)
    graph_rows = ", ".join(
        f"`{_graph_description(wanted[name])}` {built[name]:.0f} s, {sizes[name]:.0f} MB" for name in wanted
    )
    row = (
        f"| build: COPY {loaded:.0f} s; {graph_rows}; {sum(built.values()):.0f} s and "
        f"{sum(sizes.values()):.0f} MB in all, with {BUILD_WORKERS} parallel worker(s); peak RSS of the "
        f"building backend {peak_rss / 2**20:.0f} MB (shared memory not counted) | {size:,} | | | | | | | | |"
    )
    return row, SearchCatalogue(ids, vectors.astype(np.float32), moods, bpm, tonics, modes)


def _drawn_note(drawn: str) -> str:
    """What a kept benchmark catalogue notes on its table, so another kind of vectors is not reused."""
    return f"benchmark catalogue, vectors drawn {drawn}"


async def _graph_sizes(conn: asyncpg.Connection, graphs: dict[str, str]) -> dict[str, float]:
    """Each index's size in MB."""
    return {
        name: await conn.fetchval("SELECT pg_relation_size($1::regclass)", name) / 2**20 for name in graphs
    }


def _same_index(one: str, other: str) -> bool:
    """Whether two index definitions match, however their options are quoted and spaced."""
    return re.sub(r"[\s']", "", one) == re.sub(r"[\s']", "", other)


async def _kept_search_catalogue(
    conn: asyncpg.Connection, graphs: dict[str, str]
) -> tuple[str, SearchCatalogue]:
    """The catalogue a previous run loaded and indexed, read back from the database.

    One kept before the benchmark filtered on keys is given them first, drawn as a new one's are.
    """
    if await conn.fetchval("SELECT count(*) FROM discovery_tracks WHERE key_tonic IS NULL"):
        await conn.execute(
            f"""SELECT setseed(0.5);
                UPDATE discovery_tracks SET key_tonic = floor(random() * 12),
                       mode = CASE WHEN random() < {MAJOR_SHARE} THEN 'major' ELSE 'minor' END
                 WHERE key_tonic IS NULL"""
        )
        await conn.execute("VACUUM ANALYZE discovery_tracks")
    rows = await conn.fetch(
        """SELECT e.track_id, e.embedding, d.mood, d.bpm, d.key_tonic, d.mode
           FROM discovery_embeddings e JOIN discovery_tracks d USING (track_id)"""
    )
    sizes = await _graph_sizes(conn, graphs)
    service.CATALOGUE_STATISTICS.forget()
    catalogue = SearchCatalogue(
        ids=[r["track_id"] for r in rows],
        vectors=np.stack([r["embedding"].to_numpy() for r in rows]).astype(np.float32),
        moods=np.array([r["mood"] for r in rows]),
        bpm=np.array([r["bpm"] for r in rows], dtype=np.float32),
        tonics=np.array([r["key_tonic"] for r in rows]),
        modes=np.array([r["mode"] for r in rows]),
    )
    kept = ", ".join(f"`{_graph_description(d)}` {sizes[name]:.0f} MB" for name, d in graphs.items())
    row = f"| kept from a previous run: {kept}; {sum(sizes.values()):.0f} MB in all | {len(rows):,} | | | | | | | | |"
    return row, catalogue


Answer = tuple[list[UUID], str] | None  # the tracks found and how, to check against exact search
Call = Callable[[asyncpg.Connection, np.ndarray], Awaitable[Answer]]
EF_SEARCH_SWEEP = (20, 40, 64, 100, 200, 400, 700, 1000)
BUILD_WORKERS = 1  # beside the backend: both of this machine's two cores
HNSW_OPTIONS = re.compile(r"[a-z_]+ = \d+(, [a-z_]+ = \d+)*")


class SearchCall(NamedTuple):
    """One thing each query of the benchmark runs: a reference, the index alone, or the service."""

    label: str
    call: Call
    filters: SearchFilters | None = None  # what exact search checks the answer against; None: not checked


def _search_calls(ef_search: int) -> list[SearchCall]:
    """The calls each query runs; the raw index query weighs `ef_search`, as the service would unfiltered."""

    async def select_1(conn: asyncpg.Connection, query: np.ndarray) -> Answer:
        await conn.fetchval("SELECT 1")
        return None

    async def raw(conn: asyncpg.Connection, query: np.ndarray) -> Answer:
        return [r["track_id"] for r in await conn.fetch(RAW_INDEX_QUERY, query)], "hnsw"

    async def raw_mood_graph(conn: asyncpg.Connection, query: np.ndarray) -> Answer:
        return [r["track_id"] for r in await conn.fetch(RAW_MOOD_GRAPH_QUERY, query)], "hnsw"

    def index_alone(ef_search: int) -> Call:
        async def call(conn: asyncpg.Connection, query: np.ndarray) -> Answer:
            found = await conn.fetch(
                "SELECT track_id FROM discovery_index_neighbours($1, 10, $2)", query, ef_search
            )
            return [r["track_id"] for r in found], "hnsw"

        return call

    def service_call(filters: SearchFilters) -> Call:
        async def call(conn: asyncpg.Connection, query: np.ndarray) -> Answer:
            found, method = await service.nearest(conn, query, filters, 10)
            return [c.track_id for c in found], method

        return call

    return [
        SearchCall("`SELECT 1`", select_1),
        SearchCall(f"raw index query, k=10, ef_search {ef_search}", raw, SearchFilters()),
        SearchCall(f"raw tense-graph query, k=10, ef_search {ef_search}", raw_mood_graph,
                   SearchFilters(mood=Mood.TENSE)),
        *(SearchCall(f"service.nearest k=10, {label}", service_call(filters), filters)
          for label, filters in SEARCH_CASES),
        *(SearchCall(f"index alone, k=10, ef_search {ef}", index_alone(ef), SearchFilters())
          for ef in EF_SEARCH_SWEEP),
    ]  # fmt: skip


async def _calibrated(conn: asyncpg.Connection, size: int) -> str:
    """The graph's recall measured on the catalogue as the app's job does, afresh each run; its row."""
    await conn.execute("TRUNCATE discovery_graph_calibrations")
    started = time.perf_counter()
    calibration = await service.calibrate_graph(conn, datetime.now(UTC))
    took = time.perf_counter() - started
    assert calibration is not None, "the catalogue is large enough to calibrate"
    recalls = ", ".join(f"{m.recall:.3f} at {m.ef_search}" for m in calibration.recalls)
    chosen = search_plan.calibrated_ef_search(calibration, size)
    weighs = (
        f"search weighs {chosen} candidates"
        if chosen
        else f"none reached {search_plan.CALIBRATED_RECALL}: search weighs {search_plan.recall_ef_search(size)}, by size"
    )
    return (
        f"| the graph's recall@10 as the app measures it ({calibration.queries} queries near its tracks, "
        f"{took:.0f} s): {recalls}; {weighs} | {size:,} | | | | | | | |"
    )


def _recall(found: list[UUID], exact: list[UUID]) -> float:
    return len(set(found) & set(exact)) / max(len(exact), 1)


async def bench_search(
    pool: asyncpg.Pool,
    organisation: UUID,
    size: int,
    queries: int,
    shape: EmbeddingShape | None,
    index_options: str | None = None,
) -> list[str]:
    """Service p50/p99, CPU per call and recall per filter, with `SELECT 1` and the raw index query as references.

    Recall is against the true nearest tracks, computed in numpy from the vectors loaded. Each
    query runs every call back to back on one pooled connection, so the machine's noise falls
    on all of them alike: the ratio of medians is the figure to compare across runs. CPU per call
    (this process and its PostgreSQL backend, each call run `queries` times in a row) is what a
    call costs whatever else the machine is doing. The index alone at several ef_search values
    shows what recall each costs.
    """
    rng = np.random.default_rng(size)
    vectors = synthetic_vectors(size + queries, rng, shape)
    drawn = "recorded" if shape else "isotropic"
    async with pool.acquire() as conn:
        build, catalogue = await _load_search_catalogue(
            conn, organisation, vectors[:size], drawn, index_options
        )
        # Tempo and key ranges are read by index-only scans, which need the visibility map VACUUM keeps.
        await conn.execute("VACUUM ANALYZE discovery_tempo_key_embeddings")
    async with pool.acquire() as conn:
        calibration_row = await _calibrated(conn, size)
        catalogue_statistics = await service.CATALOGUE_STATISTICS.get(conn)
        ef_search = search_plan.graph_ef_search(catalogue_statistics, catalogue_statistics.rows)
    calls = _search_calls(ef_search)
    latencies: dict[str, list[float]] = {c.label: [] for c in calls}
    recalls: dict[str, list[float]] = {}
    short: dict[str, int] = {}  # answers with fewer rows than the k the catalogue holds
    plans: dict[str, set[str]] = {}
    cpu: dict[str, float] = {}
    # The true answers first: numpy's threads spin for a while after each product, and would take a
    # core from whichever call came next.
    checked = {c.filters for c in calls if c.filters is not None}
    exact = [{f: catalogue.exact(query, f, 10) for f in checked} for query in vectors[size:]]
    async with pool.acquire() as conn:
        await conn.execute(f"SET hnsw.ef_search = {ef_search}")  # for the raw query
        # A server that has been answering: each call first runs untimed on other queries drawn alike,
        # so a graph or table the previous run's server never read is not read from disk in the timing.
        for query in synthetic_vectors(queries, np.random.default_rng(size + 2), shape):
            for _, call, _ in calls:
                await call(conn, query)
        for query, true_nearest in zip(vectors[size:], exact, strict=True):
            for label, call, filters in calls:
                started = time.perf_counter()
                answer = await call(conn, query)
                latencies[label].append((time.perf_counter() - started) * 1000)
                if answer is None or filters is None:
                    continue
                found, method = answer
                plans.setdefault(label, set()).add(method)
                recalls.setdefault(label, []).append(_recall(found, true_nearest[filters]))
                short[label] = short.get(label, 0) + (len(found) < len(true_nearest[filters]))
        backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
        for label, call, _ in calls:
            client, server = time.process_time(), sum(backend.cpu_times()[:2])
            for query in vectors[size:]:
                await call(conn, query)
            spent = time.process_time() - client + sum(backend.cpu_times()[:2]) - server
            cpu[label] = spent * 1000 / queries
    raw_p50 = percentile(latencies[calls[1].label], 50)
    rows = [
        build,
        calibration_row,
        f"| vectors drawn {drawn}: they vary in {participation_ratio(catalogue.vectors):.1f} directions "
        f"(participation ratio) | {size:,} | | | | | | | |",
    ]
    for label in latencies:
        p50, p99 = percentile(latencies[label], 50), percentile(latencies[label], 99)
        recall = f"{statistics.mean(recalls[label]):.3f}" if label in recalls else ""
        plan = "/".join(sorted(plans.get(label, ())))
        rows.append(
            f"| {label} | {size:,} | {p50:.2f} | {p99:.2f} | {p50 / raw_p50:.2f} | {cpu[label]:.2f} "
            f"| {recall} | {plan} | {short.get(label, '')} | {queries} |"
        )
    return rows


async def bench_identify(
    pool: asyncpg.Pool, organisation: UUID, rendered: list[tuple[synth.DemoTrack, synth.Audio]], trials: int
) -> list[str]:
    async with pool.acquire() as conn:
        ids = await _tracks(conn, organisation, len(rendered))
        for track_id, (_, audio) in zip(ids, rendered, strict=True):
            async with conn.transaction():
                await store.save_fingerprints(conn, track_id, fingerprint.landmarks(audio))
        await conn.execute("ANALYZE discovery_fingerprint_runs")
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


async def _identified(pool: asyncpg.Pool, clip: synth.Audio) -> tuple[Identification, float]:
    """The clip identified as the identify endpoint does it (one run lookup), and the milliseconds taken."""
    began = time.perf_counter()
    query = fingerprint.landmarks(clip, fingerprint.QUERY_PEAKS_PER_SECOND)
    async with pool.acquire() as conn:
        hits = await store.fingerprint_hits(conn, sorted({q.hash for q in query}))
    return fingerprint.identify(query, hits), (time.perf_counter() - began) * 1000


async def bench_real_identification(
    pool: asyncpg.Pool, organisation: UUID, per_track: int
) -> tuple[list[str], float]:
    """Identification on real recordings: half of them indexed beside the demo catalogue, half never.

    Returns the table rows and the seconds of real audio added to the index.
    """
    indexed, never = real_music.indexed_and_never_indexed()
    indexed_audio = [real_music.decode(p) for p in indexed]
    never_audio = [real_music.decode(p) for p in never]
    async with pool.acquire() as conn:
        ids = await _tracks(conn, organisation, len(indexed))
        for track_id, audio in zip(ids, indexed_audio, strict=True):
            async with conn.transaction():
                await store.save_fingerprints(conn, track_id, fingerprint.landmarks(audio))
    rows = []
    for seconds in (3, 5, 10):
        for snr in (None, 10, 5, 0):
            right, trials, latencies, true_confidence = 0, 0, [], []
            for n, (track_id, audio) in enumerate(zip(ids, indexed_audio, strict=True)):
                for start, clip in real_music.snippets(
                    audio, seconds, snr, per_track, seed=100 * n + seconds
                ):
                    found, ms = await _identified(pool, clip)
                    trials += 1
                    latencies.append(ms)
                    if (
                        found.matched
                        and found.track_id == track_id
                        and abs((found.offset_s or 0) - start) < 0.1
                    ):
                        right += 1
                        true_confidence.append(found.confidence)
            false_matches, false_trials, false_confidence = 0, 0, [0.0]
            for n, audio in enumerate(never_audio):
                for _, clip in real_music.snippets(
                    audio, seconds, snr, per_track, seed=100 * n + seconds + 50
                ):
                    found, _ = await _identified(pool, clip)
                    false_trials += 1
                    false_matches += found.matched
                    false_confidence.append(found.confidence)
            rows.append(
                f"| {seconds} s | {'clean' if snr is None else f'{snr} dB'} | {right / trials:.1%} "
                f"| {min(true_confidence, default=0):.2f} | {false_matches}/{false_trials} "
                f"| {max(false_confidence):.2f} | {percentile(latencies, 50):.0f} | {percentile(latencies, 99):.0f} |"
            )
    return rows, sum(len(a) for a in indexed_audio) / analysis.SAMPLE_RATE


async def index_size_row(pool: asyncpg.Pool, audio_seconds: float) -> str:
    """The fingerprint index's size over the hours of audio it holds, as stored and after VACUUM FULL."""
    async with pool.acquire() as conn:
        stored = await store.fingerprint_index_bytes(conn)
        await conn.execute("VACUUM FULL discovery_fingerprint_runs, discovery_fingerprint_keys")
        compact = await store.fingerprint_index_bytes(conn)
    hours = audio_seconds / 3600
    return (
        f"| {hours:.2f} h | {stored / 1e6:.2f} MB | {stored / 1e6 / hours:.2f} MB/h "
        f"| {compact / 1e6 / hours:.2f} MB/h |"
    )


@asynccontextmanager
async def bench_database(kept: Path | None = None) -> AsyncIterator[tuple[asyncpg.Pool, UUID]]:
    """A migrated embedded PostgreSQL, its pool and one label to own tracks.

    Its data lives in a temporary directory, or in `kept` (created if missing) to reuse next time.
    """
    with tempfile.TemporaryDirectory(prefix="bench-discovery-") as temporary:
        data_dir = temporary if kept is None else str(kept)
        settings = load_settings({**os.environ, "MARKETPLACE_DATA_DIR": data_dir})
        urls = store_urls(settings)
        await upgrade_async(urls.database_url)
        pool = await create_pool(urls.database_url)
        try:
            organisation = await pool.fetchval(
                "INSERT INTO organisations (name, kind) VALUES ($1, 'label') RETURNING id", f"Bench {uuid4()}"
            )
            yield pool, organisation
        finally:
            await pool.close()


async def identification_only(per_track: int) -> None:
    """Identification on the demo catalogue and on real music, and the index's size per hour."""
    catalogue = [(t, synth.render(t)) for t in synth.demo_catalogue()]
    async with bench_database() as (pool, organisation):
        synthetic_rows = await bench_identify(pool, organisation, catalogue, 80)
        real_rows, real_seconds = await bench_real_identification(pool, organisation, per_track)
        synthetic_seconds = sum(len(a) for _, a in catalogue) / synth.SAMPLE_RATE
        size_row = await index_size_row(pool, synthetic_seconds + real_seconds)
    print_identification(synthetic_rows, len(catalogue))
    print_real_identification(real_rows, size_row, per_track)


def print_identification(rows: list[str], tracks: int) -> None:
    print("\n| clip | SNR | identified (track and offset ±0.1 s) | false matches on unrelated music | p50 ms "
          "| p99 ms | clips |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")  # fmt: skip
    print("\n".join(rows))
    print(f"\nCatalogue for identification: {tracks} demo tracks.")


def print_real_identification(rows: list[str], size_row: str, per_track: int) -> None:
    indexed, never = real_music.indexed_and_never_indexed()
    print(
        f"\nReal music ({real_music.PACKAGE}): {len(indexed)} tracks indexed beside the demo catalogue, "
        f"{len(never)} never indexed; {per_track} snippets of each track per row."
    )
    print("\n| clip | SNR | indexed tracks identified | lowest confidence of a match | false matches "
          "on never-indexed tracks | highest confidence on them | p50 ms | p99 ms |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")  # fmt: skip
    print("\n".join(rows))
    print("\n| fingerprint index holds | size (tables, indexes, TOAST) | MB per hour of audio "
          "| after VACUUM FULL |\n| ---: | ---: | ---: | ---: |")  # fmt: skip
    print(size_row)


async def search_only(
    size: int, shape: EmbeddingShape | None, index_options: str | None, kept: Path | None
) -> None:
    """Vector search alone, e.g. once at 1,000,000 vectors (an hour here to build its five graphs)."""
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    async with bench_database(kept) as (pool, organisation):
        rows = await bench_search(pool, organisation, size, 200, shape, index_options)
        buffers = await pool.fetchval("SELECT current_setting('shared_buffers')")
    print(f"\n{SEARCH_HEADER}")
    print("\n".join(rows))
    print(
        f"\nPostgreSQL shared_buffers {buffers}. "
        f"Started {started} on {os.cpu_count()} cores; load average (1, 5, 15 min) "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, {' '.join(f'{x:.2f}' for x in os.getloadavg())} after."
    )


async def main(quick: bool, shape: EmbeddingShape | None) -> None:
    ingest_rows = bench_real_ingest(4 if quick else None)
    analysis_rows, rendered = bench_analysis(4 if quick else 12)
    catalogue = rendered if quick else [(t, synth.render(t)) for t in synth.demo_catalogue()]
    async with bench_database() as (pool, organisation):
        identify_rows = await bench_identify(pool, organisation, catalogue, 20 if quick else 80)
        real_rows: list[str] = []
        size_row = ""
        if not quick and real_music.ensure_installed() is None:
            real_rows, real_seconds = await bench_real_identification(
                pool, organisation, REAL_SNIPPETS_PER_TRACK
            )
            catalogue_seconds = sum(len(a) for _, a in catalogue) / synth.SAMPLE_RATE
            size_row = await index_size_row(pool, catalogue_seconds + real_seconds)
        search_rows = []
        for size in (10_000,) if quick else (10_000, 100_000):
            search_rows += await bench_search(pool, organisation, size, 50 if quick else 200, shape)
    print(f"\n{INGEST_HEADER}")
    print("\n".join(ingest_rows))
    print(
        "\n| analysis step | tracks | × real time per core (CPU) | × real time (wall) |\n| --- | ---: | ---: | ---: |"
    )
    print("\n".join(analysis_rows))
    print(f"\n{SEARCH_HEADER}")
    print("\n".join(search_rows))
    print_identification(identify_rows, len(catalogue))
    if real_rows:
        print_real_identification(real_rows, size_row, REAL_SNIPPETS_PER_TRACK)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tracks and 10,000 vectors only")
    parser.add_argument("--search-only", type=int, metavar="VECTORS", help="only vector search, at this size")
    parser.add_argument(
        "--vectors", choices=VECTOR_SHAPES, default="recorded",
        help="draw the search catalogue shaped like real recordings' embeddings (default) or isotropic",
    )  # fmt: skip
    parser.add_argument("--hnsw", metavar="OPTIONS", help="build the HNSW index WITH these options instead")
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help="keep the database here (outside the repository) and reuse a catalogue already built in it",
    )  # fmt: skip
    parser.add_argument(
        "--identification-only", action="store_true", help="only identification and the index's size"
    )
    parser.add_argument("--ingest-only", action="store_true", help="only the real recordings' ingest")
    parser.add_argument(
        "--rounds", type=int, default=3, help="ingest rounds, the median reported (default 3)"
    )
    arguments = parser.parse_args()
    if arguments.hnsw is not None and not HNSW_OPTIONS.fullmatch(arguments.hnsw):
        parser.error("--hnsw takes options like 'm = 24, ef_construction = 128'")

    def searched_shape() -> EmbeddingShape | None:
        return recorded_shape() if arguments.vectors == "recorded" else None

    if arguments.search_only:
        asyncio.run(search_only(arguments.search_only, searched_shape(), arguments.hnsw, arguments.data_dir))
    elif arguments.identification_only:
        reason = real_music.ensure_installed()
        if reason:
            raise SystemExit(reason)
        asyncio.run(identification_only(REAL_SNIPPETS_PER_TRACK))
    elif arguments.ingest_only:
        print(INGEST_HEADER)
        print("\n".join(bench_real_ingest(4 if arguments.quick else None, arguments.rounds)))
    else:
        asyncio.run(main(arguments.quick, searched_shape()))
