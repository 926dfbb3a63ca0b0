"""Discovery use cases: take in audio, analyse it, search the catalogue, identify clips, curate tags.

Every function takes the caller's connection and opens its own transaction. CPU-bound work
(decoding, analysis, fingerprinting) runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from uuid import UUID

import asyncpg
import lameenc
import msgspec
import numpy as np
import numpy.typing as npt
from arq import ArqRedis

from discovery import (
    analysis,
    audio,
    embedding,
    fingerprint,
    search_plan,
    similarity,
    store,
    tags,
    waveform,
)
from discovery.analysis import AudioDecodeError
from discovery.audio import AudioLimits, AudioRejected, AudioTooLarge
from discovery.model import (
    AnalysisStatus,
    AudioFeatures,
    Candidate,
    CatalogueStatistics,
    GraphCalibration,
    Identification,
    IdentifiedTrack,
    Landmark,
    Neighbour,
    SameRecording,
    SearchFilters,
    SearchPage,
    SearchResult,
    StoredTag,
    Tag,
    TagKind,
    TagSource,
    TrackAnalysis,
)
from rights import service as rights
from rights.audit import append_audit
from rights.identity import Principal
from rights.model import Track
from rights.pooling import Connect
from rights.service import NotFound
from rights.terms import Usage

T = TypeVar("T")
log = logging.getLogger("discovery.service")

# The limits an endpoint applies when none are configured (the demo, tests); the app passes its settings'.
TRACK_LIMITS = AudioLimits("track", max_seconds=20 * 60, max_bytes=800 * 1024 * 1024)
SNIPPET_LIMITS = AudioLimits("snippet", max_seconds=60, max_bytes=64 * 1024 * 1024)
ANALYSE_JOB = "discovery.analyse_track"
# Analysis has a queue of its own, served by one-job-at-a-time workers (one per core): a long analysis
# never delays a round's deadline, and a batch of uploads spreads over the cores.
ANALYSIS_QUEUE = "arq:queue:discovery-analysis"
MAX_ATTEMPTS = 3
NEIGHBOURS_FOR_SUGGESTIONS = 5
DUPLICATE_PROBE_SECONDS = 15.0  # fingerprint this much from the middle of a new track to find its twin
MAX_PAGE_SIZE = 100
MAX_PAGE = 50
MAX_DURATION_SECONDS = 24 * 3600  # a duration filter past a day is a typo or an attack (1e39 overflowed)

Publish = Callable[[str, bytes], Awaitable[Any]]


class NotAnalysed(LookupError):
    """The track has no finished analysis to compare with (409)."""

    status_code = 409


class CheckedAudio(msgspec.Struct, frozen=True):
    """An upload that decoded completely, with signal in it: its hash, format, size and duration."""

    sha256: str
    format: str
    size_bytes: int
    duration_s: float


def channel(track_id: UUID) -> str:
    """Where analysis progress for a track is published."""
    return f"discovery:analysis:{track_id}"


def _size(file: IO[bytes], limits: AudioLimits) -> int:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    if size > limits.max_bytes:
        raise AudioTooLarge(f"the file is {size:,} bytes; the limit is {limits.max_bytes:,}")
    if size == 0:
        raise AudioRejected("the file is empty")
    return size


def _too_short(duration_s: float) -> None:
    if duration_s < 1.0:
        raise AudioRejected(f"the recording is {duration_s:.2f} s long; at least 1 s is needed")


def _sha256(file: IO[bytes]) -> str:
    file.seek(0)
    digest = hashlib.sha256()
    while chunk := file.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def check_file(file: IO[bytes], limits: AudioLimits = TRACK_LIMITS) -> CheckedAudio:
    """Accept a recording only if it is within the limits, a format we take, decodes to the end and
    is not silence; blocking, and never holding more than a block of it in memory."""
    size = _size(file, limits)
    scanned = audio.scan(file, limits)
    _too_short(scanned.duration_s)
    if problem := audio.silence_problem(scanned.level_dbfs):
        raise AudioRejected(problem)
    return CheckedAudio(_sha256(file), scanned.header.format, size, scanned.duration_s)


def check_audio(data: bytes, limits: AudioLimits = TRACK_LIMITS) -> CheckedAudio:
    return check_file(io.BytesIO(data), limits)


def snippet_samples(file: IO[bytes], limits: AudioLimits = SNIPPET_LIMITS) -> analysis.Audio:
    """A clip to identify or search by, decoded (mono, 22,050 Hz) within the snippet limits; blocking."""
    _size(file, limits)
    try:
        samples, duration = audio.decode_mono(file, limits, analysis.SAMPLE_RATE)
    finally:
        file.seek(0)
    _too_short(duration)
    return samples


def audio_path(data_dir: Path, sha256: str, fmt: str) -> Path:
    return data_dir / "audio" / sha256[:2] / f"{sha256}.{fmt}"


def _write_audio(data_dir: Path, checked: CheckedAudio, data: bytes | IO[bytes]) -> None:
    """Write once under its hash; a temporary name and a rename keep readers from half a file."""
    path = audio_path(data_dir, checked.sha256, checked.format)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.partial")
    with partial.open("wb") as out:
        if isinstance(data, bytes):
            out.write(data)
        else:
            data.seek(0)
            shutil.copyfileobj(data, out, 1 << 20)
    partial.replace(path)


async def _owned_track(conn: asyncpg.Connection, caller: Principal, track_id: UUID) -> Track:
    await rights.require_control(conn, caller, track_id=track_id)
    return await rights.get_track(conn, track_id)


# Ingest


async def store_audio(
    conn: asyncpg.Connection,
    data_dir: Path,
    track_id: UUID,
    data: bytes | IO[bytes],
    checked: CheckedAudio,
    actor: UUID | None,
) -> None:
    """Keep the file, point the track at it and mark it pending analysis (inside the caller's transaction)."""
    await store.add_audio(conn, checked.sha256, checked.format, checked.size_bytes, checked.duration_s)
    await store.attach_audio(conn, track_id, checked.sha256)
    track = await rights.get_track(conn, track_id)
    await store.update_document(conn, track_id, track.title, track.artist, track.description)
    await append_audit(conn, "discovery", track_id, "audio_attached",
                 {"sha256": checked.sha256, "format": checked.format, "duration_s": checked.duration_s}, actor)  # fmt: skip
    await asyncio.to_thread(_write_audio, data_dir, checked, data)


async def enqueue_analysis(jobs: ArqRedis, track_id: UUID, sha256: str) -> None:
    # The id carries the audio's hash: a re-upload of the same file does not queue a second run.
    await jobs.enqueue_job(
        ANALYSE_JOB,
        str(track_id),
        _job_id=f"discovery:analyse:{track_id}:{sha256[:16]}",
        _queue_name=ANALYSIS_QUEUE,
    )


async def keep_audio(data_dir: Path, checked: CheckedAudio, data: bytes | IO[bytes]) -> None:
    """Write checked audio to its place before any transaction, so no connection waits on the disk."""
    await asyncio.to_thread(_write_audio, data_dir, checked, data)


async def upload_track(
    connect: Connect, jobs: ArqRedis, caller: Principal, data_dir: Path, data: bytes | IO[bytes], *,
    title: str, artist: str, description: str = "", limits: AudioLimits = TRACK_LIMITS,
) -> TrackAnalysis:  # fmt: skip
    """A new catalogue track from an audio file, queued for analysis; a bad file stores nothing.

    The file is checked and written with no connection held: a big upload takes seconds of CPU.
    """
    file = io.BytesIO(data) if isinstance(data, bytes) else data
    checked = await asyncio.to_thread(check_file, file, limits)
    await keep_audio(data_dir, checked, file)
    async with connect() as conn:
        async with conn.transaction():
            track = await rights.create_track(
                conn,
                owner_organisation_id=caller.organisation_id,
                title=title,
                artist=artist,
                description=description,
            )
            await store_audio(conn, data_dir, track.id, file, checked, caller.user_id)
        await enqueue_analysis(jobs, track.id, checked.sha256)
        return await analysis_state(conn, track.id)


async def replace_audio(
    connect: Connect, jobs: ArqRedis, caller: Principal, data_dir: Path, track_id: UUID,
    data: bytes | IO[bytes], limits: AudioLimits = TRACK_LIMITS,
) -> TrackAnalysis:  # fmt: skip
    """Give an existing track of the caller's organisation (new) audio, and analyse it."""
    async with connect() as conn:
        await _owned_track(conn, caller, track_id)
    file = io.BytesIO(data) if isinstance(data, bytes) else data
    checked = await asyncio.to_thread(check_file, file, limits)
    await keep_audio(data_dir, checked, file)
    async with connect() as conn:
        async with conn.transaction():
            await _owned_track(conn, caller, track_id)
            await store_audio(conn, data_dir, track_id, file, checked, caller.user_id)
        await enqueue_analysis(jobs, track_id, checked.sha256)
        return await analysis_state(conn, track_id)


async def analysis_state(conn: asyncpg.Connection, track_id: UUID) -> TrackAnalysis:
    state = await store.analysis(conn, track_id)
    if state is None:
        raise NotFound(f"track {track_id} has no audio in discovery")
    return state


class OriginalAudio(msgspec.Struct, frozen=True):
    """The file a rights holder uploaded: what a licensee receives, and nobody else."""

    sha256: str
    format: str
    path: Path


async def original_audio(conn: asyncpg.Connection, data_dir: Path, track_id: UUID) -> OriginalAudio | None:
    found = await store.audio_of(conn, track_id)
    if found is None:
        return None
    sha256, fmt = found
    return OriginalAudio(sha256, fmt, audio_path(data_dir, sha256, fmt))


# Preview: the only audio a listener hears before licensing. Mono, 22,050 Hz MP3 at about 80 kb/s
# and the whole track: an editor judges a cue by its build and its ending, while the quality is too
# low to stand in for the licensed master. MP3 because every browser's player takes it.
PREVIEW_MEDIA_TYPE = "audio/mpeg"
PREVIEW_KBPS = 80
# LAME's algorithm quality (0 best and slowest, 9 fastest): 7 encodes a track at about 750× real
# time against 110× for libsndfile's fixed setting, inaudibly worse at 80 kb/s for a preview.
PREVIEW_QUALITY = 7


def preview_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "audio" / sha256[:2] / f"{sha256}.preview.mp3"


def make_preview(
    data_dir: Path, sha256: str, fmt: str, samples: npt.NDArray[np.float32] | None = None
) -> Path:
    """Write the preview of an original once (from its decoded samples when at hand); blocking."""
    path = preview_path(data_dir, sha256)
    if path.exists():
        return path
    if samples is None:
        samples, _ = analysis.decode(audio_path(data_dir, sha256, fmt).read_bytes())
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(encode_preview(samples))
    partial.replace(path)
    return path


def encode_preview(samples: npt.NDArray[np.float32]) -> bytes:
    """Mono samples at analysis.SAMPLE_RATE as a constant-rate MP3."""
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(analysis.SAMPLE_RATE)
    encoder.set_channels(1)
    encoder.set_bit_rate(PREVIEW_KBPS)
    encoder.set_quality(PREVIEW_QUALITY)
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


async def preview_file(conn: asyncpg.Connection, data_dir: Path, track_id: UUID) -> Path:
    """The track's preview, made now if its audio was stored before previews existed."""
    found = await store.audio_of(conn, track_id)
    if found is None:
        raise NotFound(f"track {track_id} has no audio")
    return await asyncio.to_thread(make_preview, data_dir, *found)


def _waveform_of(preview: Path) -> tuple[float, ...]:
    """The preview's peaks, kept beside it once computed (blocking: decodes the preview)."""
    kept = preview.with_suffix(".peaks.json")
    if kept.exists():
        return tuple(msgspec.json.decode(kept.read_bytes(), type=list[float]))
    samples, _ = analysis.decode(preview.read_bytes())
    found = waveform.peaks(samples)
    partial = kept.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(msgspec.json.encode(found))
    partial.replace(kept)
    return found


async def preview_waveform(conn: asyncpg.Connection, data_dir: Path, track_id: UUID) -> tuple[float, ...]:
    """The waveform of the preview buyers hear, computed off the event loop the first time it is asked for."""
    return await asyncio.to_thread(_waveform_of, await preview_file(conn, data_dir, track_id))


# Analysis


async def _publish(
    publish: Publish | None, track_id: UUID, status: AnalysisStatus, progress: float, error: str | None = None
) -> None:
    if publish is None:
        return
    event = {"track_id": str(track_id), "status": status.value, "progress": progress, "error": error}
    try:
        await publish(channel(track_id), msgspec.json.encode(event))
    except Exception:  # progress is a courtesy; the status endpoint reads PostgreSQL
        log.warning("publishing analysis progress failed", exc_info=True, extra={"track_id": str(track_id)})


async def analyse(
    connect: Connect, data_dir: Path, track_id: UUID, *, publish: Publish | None = None,
    final_attempt: bool = True,
) -> TrackAnalysis | None:  # fmt: skip
    """Analyse the track's audio and store features, embedding, tags and fingerprints.

    Idempotent: a track already analysed by this analyser version is left as it is. A failure is
    recorded on the track ('failed' on the final attempt or when the file itself is bad, else
    'pending' for the retry) and re-raised. Returns None when the track has no audio (any more).
    A pooled connection is taken only for each database step, never across the seconds of decoding
    and analysis, so a catalogue being analysed does not starve requests of connections.
    """
    async with connect() as conn:
        state = await store.analysis(conn, track_id)
        found = await store.audio_of(conn, track_id)
        if state is None or found is None:
            return None
        if state.status is AnalysisStatus.DONE and state.analysis_version == analysis.ANALYSIS_VERSION:
            return state
        await store.start_attempt(conn, track_id)
    await _publish(publish, track_id, AnalysisStatus.RUNNING, 0.05)
    try:
        path = audio_path(data_dir, *found)
        samples, _ = await asyncio.to_thread(_decode_stored, path)
        level = audio.level_dbfs(float(np.dot(samples, samples)), len(samples))
        if problem := audio.silence_problem(level):  # stored before uploads were checked for it: never tag it
            raise AudioDecodeError(problem)
        await asyncio.to_thread(make_preview, data_dir, *found, samples)
        await _step(connect, publish, track_id, 0.25)
        features = await asyncio.to_thread(analysis.analyse, samples)
        await _step(connect, publish, track_id, 0.6)
        landmarks = await asyncio.to_thread(fingerprint.landmarks, samples)
        await _step(connect, publish, track_id, 0.8)
        twin = await _near_duplicate(connect, track_id, samples)
        vector = embedding.embed(features)
        async with connect() as conn, conn.transaction():
            track = await rights.get_track(conn, track_id)
            await store.save_analysis(
                conn, track_id, features, vector, tags.ai_tags(features), landmarks, twin
            )
            await _refresh_suggestions(conn, track_id, vector)
            await store.update_document(conn, track_id, track.title, track.artist, track.description)
            await append_audit(conn, "discovery", track_id, "analysed", {"analysis_version": features.analysis_version,
                                                     "near_duplicate_of": str(twin) if twin else None}, None)  # fmt: skip
    except Exception as error:
        final = final_attempt or isinstance(error, AudioDecodeError)  # a bad file stays bad
        message = f"{type(error).__name__}: {error}"
        async with connect() as conn:
            await store.record_failure(conn, track_id, message, final=final)
        await _publish(
            publish, track_id, AnalysisStatus.FAILED if final else AnalysisStatus.PENDING, 0.0, message
        )
        raise
    await _publish(publish, track_id, AnalysisStatus.DONE, 1.0)
    async with connect() as conn:
        return await store.analysis(conn, track_id)


def _decode_stored(path: Path) -> tuple[analysis.Audio, float]:
    with path.open("rb") as file:
        return analysis.decode(file)


async def _step(connect: Connect, publish: Publish | None, track_id: UUID, progress: float) -> None:
    async with connect() as conn:
        await store.set_progress(conn, track_id, progress)
    await _publish(publish, track_id, AnalysisStatus.RUNNING, progress)


async def _near_duplicate(connect: Connect, track_id: UUID, samples: npt.NDArray[np.float32]) -> UUID | None:
    """Another catalogue track this audio is (nearly) a copy of, found by fingerprinting its middle."""
    probe = int(DUPLICATE_PROBE_SECONDS * analysis.SAMPLE_RATE)
    start = max(0, (len(samples) - probe) // 2)
    query = await asyncio.to_thread(fingerprint.landmarks, samples[start : start + probe])
    async with connect() as conn:
        found = await _identify(conn, query, exclude=track_id)
    return found.track_id if found.matched else None


async def _identify(
    conn: asyncpg.Connection, query: list[Landmark], exclude: UUID | None = None
) -> Identification:
    """Vote with the catalogue's landmarks, near-duplicates counted as one recording."""
    hits = [
        h
        for h in await store.fingerprint_hits(conn, sorted({q.hash for q in query}))
        if h.track_id != exclude
    ]
    links = await store.near_duplicate_links(conn, list({h.track_id for h in hits}))
    groups = fingerprint.recording_groups((c, o) for c, o in links if exclude not in (c, o))
    return fingerprint.identify(query, hits, groups)


async def _refresh_suggestions(
    conn: asyncpg.Connection, track_id: UUID, vector: npt.NDArray[np.float64]
) -> None:
    """Replace the track's unconfirmed tag suggestions with those its nearest human-tagged tracks give."""
    rows = await store.human_tagged_neighbours(conn, vector, track_id, NEIGHBOURS_FOR_SUGGESTIONS)
    neighbours = [Neighbour(track_id=t, similarity=s, human_tags=h) for t, s, h in rows]
    own = (await store.tags_of(conn, [track_id]))[track_id]
    await store.delete_unconfirmed_suggestions(conn, track_id)
    existing = [
        t.value for t in own if t.kind is TagKind.STYLE and (t.source is TagSource.HUMAN or t.confirmed)
    ]
    for suggestion in tags.suggest_tags(neighbours, existing):
        await store.upsert_tag(conn, track_id, suggestion)


async def refresh_suggestions(conn: asyncpg.Connection, track_id: UUID) -> None:
    vectors = await store.embeddings_of(conn, [track_id])
    if track_id in vectors:
        async with conn.transaction():
            await _refresh_suggestions(conn, track_id, vectors[track_id])
            track = await rights.get_track(conn, track_id)
            await store.update_document(conn, track_id, track.title, track.artist, track.description)


async def snippet_features(samples: analysis.Audio) -> AudioFeatures:
    """Analyse an uploaded example ("something that sounds like this") without storing it."""
    return await asyncio.to_thread(_warm_and_run, analysis.analyse, samples)


# Search


class SearchRequest(msgspec.Struct, frozen=True, kw_only=True):
    text: str | None = None
    similar_to: UUID | None = None
    filters: SearchFilters = msgspec.field(default_factory=SearchFilters)
    clearable_for: Usage | None = None
    page: int = 1
    page_size: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.page <= MAX_PAGE:
            raise ValueError(f"page must be between 1 and {MAX_PAGE}")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")


class StatisticsCache:
    """The catalogue's statistics for sizing vector searches, read again once they are max_age_s old.

    Reading them costs a round trip, and ANALYZE refreshes them far less often than searches run; stale
    statistics can choose a slower plan, never lose rows (see search_plan), and a catalogue does not
    grow within a minute by the factor that would call for a larger ef_search.
    """

    def __init__(self, max_age_s: float = 60.0) -> None:
        self.max_age_s = max_age_s
        self._read: tuple[float, CatalogueStatistics] | None = None

    async def get(self, conn: asyncpg.Connection) -> CatalogueStatistics:
        now = time.monotonic()
        if self._read is None or now - self._read[0] > self.max_age_s:
            self._read = (now, await store.catalogue_statistics(conn))
        return self._read[1]

    def forget(self) -> None:
        """Read them afresh next time (after a bulk load and ANALYZE)."""
        self._read = None


CATALOGUE_STATISTICS = StatisticsCache()


async def calibrate_graph(conn: asyncpg.Connection, now: datetime) -> GraphCalibration | None:
    """Measure the whole catalogue's graph's recall@10 on the catalogue itself, when it is due, and keep it.

    About CALIBRATION_QUERIES tracks drawn at random each give a query as a new track near them
    would be (search_plan.query_near); its nearest tracks are scored exactly, then found by the
    graph at each ef_search of the sweep. 16–53 s of one backend at 1,000,000 tracks, 4–7 s at
    100,000 (docs/benchmarks.md), on the worker's connection, hourly at most.
    """
    rows = await store.catalogue_rows(conn)
    if not search_plan.needs_calibration(await store.latest_calibration(conn), rows, now):
        return None
    sample = await store.embedding_sample(conn, search_plan.CALIBRATION_QUERIES, rows)
    if len(sample) < 2:
        return None
    k, random = search_plan.CALIBRATION_K, np.random.default_rng()
    directions = search_plan.directions_like(np.stack([vector for _, vector in sample]), random)
    truths: list[list[UUID]] = []
    found: dict[int, list[list[UUID]]] = {ef: [] for ef in search_plan.CALIBRATION_EF_SEARCH}
    for (track_id, vector), direction in zip(sample, directions, strict=True):
        # The track's own nearest neighbour: an easy search for the graph, a scale for the query.
        nearest_other = await store.graph_neighbours(conn, vector, 1, 100, other_than=track_id)
        if not nearest_other or nearest_other[0].distance is None:
            continue
        query = search_plan.query_near(vector, nearest_other[0].distance, direction)
        truths.append(await store.true_neighbours(conn, query, k))
        for ef_search, answers in found.items():
            answers.append([c.track_id for c in await store.graph_neighbours(conn, query, k, ef_search)])
    if not truths:  # no sampled track had another near it: nothing was measured
        return None
    calibration = search_plan.measured_calibration(now, rows, truths, found)
    await store.record_calibration(conn, calibration)
    CATALOGUE_STATISTICS.forget()
    return calibration


async def nearest(
    conn: asyncpg.Connection, vector: npt.NDArray[np.float64], filters: SearchFilters, k: int
) -> tuple[list[Candidate], str]:
    """The k nearest tracks that pass the filters, and how they were found ('exact', 'hnsw' or 'range').

    One round trip as a rule: the statistics that size the index or range scan (the catalogue's size
    for any search, what a filter keeps for a filtered one) are cached, and their answer comes up
    short (and is redone exactly) at most once in 1,000 searches (see search_plan.rows_to_take).
    """
    statistics = await CATALOGUE_STATISTICS.get(conn)
    plan = search_plan.plan_nearest(filters, k, statistics)
    found: list[Candidate] = []
    if plan.method == "hnsw":
        found = await store.index_neighbours(conn, vector, filters, k, plan.take, plan.ef_search, plan.graph)
    elif plan.method == "range":
        found = await store.range_neighbours(conn, vector, filters, k, plan.take)
    if plan.method != "exact" and len(found) == k:
        return found, plan.method
    return await store.exact_neighbours(conn, vector, filters, k), "exact"


async def search(
    conn: asyncpg.Connection, request: SearchRequest, snippet: AudioFeatures | None = None
) -> SearchPage:
    """One page of tracks for words, filters, a reference track or an example snippet, best first."""
    filters = request.filters
    reference: AudioFeatures | None = snippet
    vector = embedding.embed(snippet) if snippet is not None else None
    if request.similar_to is not None:
        await rights.get_track(conn, request.similar_to)
        known = await store.features_of(conn, [request.similar_to])
        if request.similar_to not in known:
            raise NotAnalysed(f"track {request.similar_to} has not been analysed yet")
        reference = known[request.similar_to]
        vector = (await store.embeddings_of(conn, [request.similar_to]))[request.similar_to]
        filters = msgspec.structs.replace(filters, exclude=filters.exclude | {request.similar_to})
    if request.clearable_for is not None:
        among = await store.matching_ids(conn, filters, limit=100_000)
        clearable = await rights.clearable_track_ids(conn, request.clearable_for, among=among)
        filters = msgspec.structs.replace(filters, track_ids=frozenset(clearable))
    wanted = request.page * request.page_size + 1  # one more than shown tells whether a next page exists
    text = (request.text or "").strip() or None
    if text is not None:
        candidates = await store.text_matches(conn, text, filters, vector)
        method = "text"
    elif vector is not None:
        candidates, method = await nearest(conn, vector, filters, wanted)
    else:
        candidates = [Candidate(track_id=t) for t in await store.matching_ids(conn, filters, wanted)]
        method = "filter"
    scored = sorted(
        (
            (similarity.hybrid_score(1 - c.distance if c.distance is not None else None, c.text_rank), c)
            for c in candidates
        ),
        key=lambda pair: -pair[0],
    )
    first = (request.page - 1) * request.page_size
    shown = scored[first : first + request.page_size]
    results = await _results(conn, shown, reference, vector, text)
    return SearchPage(
        results=tuple(results), page=request.page, page_size=request.page_size,
        has_more=len(scored) > first + request.page_size, method=method,
    )  # fmt: skip


async def _results(
    conn: asyncpg.Connection,
    shown: list[tuple[float, Candidate]],
    reference: AudioFeatures | None,
    vector: npt.NDArray[np.float64] | None,
    text: str | None,
) -> list[SearchResult]:
    ids = [c.track_id for _, c in shown]
    catalogue = {t.id: t for t in await rights.list_tracks(conn, ids=ids, limit=max(len(ids), 1))}
    features = await store.features_of(conn, ids)
    vectors = await store.embeddings_of(conn, ids)
    labels = await store.tags_of(conn, ids)
    results = []
    for score, candidate in shown:
        track = catalogue.get(candidate.track_id)
        if track is None:  # deleted between the search and now
            continue
        f = features.get(candidate.track_id)
        if reference is not None and vector is not None and f is not None and candidate.track_id in vectors:
            explanation = similarity.explain(reference, f, vector, vectors[candidate.track_id])
        else:
            explanation = similarity.explain_match(text, candidate.text_rank)
        mood = next((t.value for t in labels[candidate.track_id] if t.kind is TagKind.MOOD), None)
        results.append(SearchResult(
            track_id=track.id, title=track.title, artist=track.artist, score=round(score, 4),
            explanation=explanation, bpm=f.bpm if f else None, key=f.key.name if f else None, mood=mood,
            duration_s=f.duration_s if f else None, instrumental=f.instrumental >= 0.5 if f else None,
            tags=tuple(t.value for t in labels[candidate.track_id] if t.kind is TagKind.STYLE),
        ))  # fmt: skip
    return results


# Identification


async def clip_fingerprint(samples: analysis.Audio) -> list[Landmark]:
    """A clip's landmarks (see snippet_samples), computed before any connection is taken."""
    return await asyncio.to_thread(
        _warm_and_run, fingerprint.landmarks, samples, fingerprint.QUERY_PEAKS_PER_SECOND
    )


def _warm_and_run(work: Callable[..., T], *arguments: Any) -> T:
    """Run compiled analysis in a server: its first call compiles or loads numba's cache under the warm-up lock."""
    analysis.warmed_up()
    return work(*arguments)


async def identified_example(conn: asyncpg.Connection, query: list[Landmark]) -> AudioFeatures | None:
    """The stored features of the catalogue track an example clip comes from, if it is one.

    A noisy 10 s snippet's own analysis ranked demo tracks above its source; when the clip is a
    catalogue recording, searching from that recording is both right and noise-proof.
    """
    found = await _identify(conn, query)
    if not found.matched or found.track_id is None:
        return None
    return (await store.features_of(conn, [found.track_id])).get(found.track_id)


async def identify(conn: asyncpg.Connection, query: list[Landmark]) -> IdentifiedTrack:
    """Which catalogue track a clip (see clip_fingerprint) comes from, where in it, and how sure; or no match."""
    found = await _identify(conn, query)
    if not found.matched or found.track_id is None:
        return IdentifiedTrack(identification=found)
    track = await rights.get_track(conn, found.track_id)
    others = [t for t in found.recording_group if t != found.track_id]
    same = await rights.list_tracks(conn, ids=others, limit=max(len(others), 1)) if others else []
    return IdentifiedTrack(
        identification=found, title=track.title, artist=track.artist,
        same_recording=tuple(SameRecording(track_id=t.id, title=t.title, artist=t.artist) for t in same),
    )  # fmt: skip


# Tags


async def track_tags(conn: asyncpg.Connection, track_id: UUID) -> list[StoredTag]:
    await rights.get_track(conn, track_id)
    return (await store.tags_of(conn, [track_id]))[track_id]


async def add_tag(conn: asyncpg.Connection, caller: Principal, track_id: UUID, value: str) -> StoredTag:
    """A person's own style tag on a track of their organisation: human and confirmed."""
    track = await _owned_track(conn, caller, track_id)
    value = " ".join(value.split()).lower()
    if not 1 <= len(value) <= 60:
        raise ValueError("a tag is 1 to 60 characters")
    tag = Tag(kind=TagKind.STYLE, value=value, source=TagSource.HUMAN, confidence=1.0, confirmed=True)
    async with conn.transaction():
        stored = await store.upsert_tag(conn, track_id, tag, confirmed_by=caller.user_id)
        await store.update_document(conn, track_id, track.title, track.artist, track.description)
        await append_audit(conn, "discovery", track_id, "tag_added", {"value": value}, caller.user_id)
    return stored


async def confirm_tag(conn: asyncpg.Connection, caller: Principal, tag_id: UUID) -> StoredTag:
    """A person accepts a suggestion (or an analyser tag): it stays, marked confirmed."""
    found = await store.tag(conn, tag_id)
    if found is None:
        raise NotFound(f"no tag {tag_id}")
    await _owned_track(conn, caller, found.track_id)
    async with conn.transaction():
        confirmed = await store.confirm_tag(conn, tag_id, caller.user_id)
        await append_audit(
            conn,
            "discovery",
            found.track_id,
            "tag_confirmed",
            {"value": found.value, "kind": found.kind},
            caller.user_id,
        )
    return confirmed


async def remove_tag(conn: asyncpg.Connection, caller: Principal, tag_id: UUID) -> None:
    found = await store.tag(conn, tag_id)
    if found is None:
        raise NotFound(f"no tag {tag_id}")
    track = await _owned_track(conn, caller, found.track_id)
    async with conn.transaction():
        await store.delete_tag(conn, tag_id)
        await store.update_document(conn, found.track_id, track.title, track.artist, track.description)
        await append_audit(
            conn,
            "discovery",
            found.track_id,
            "tag_removed",
            {"value": found.value, "kind": found.kind},
            caller.user_id,
        )
