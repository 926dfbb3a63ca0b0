"""Discovery use cases: take in audio, analyse it, search the catalogue, identify clips, curate tags.

Every function takes the caller's connection and opens its own transaction. CPU-bound work
(decoding, analysis, fingerprinting) runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import numpy as np
import numpy.typing as npt
import soundfile as sf
from arq import ArqRedis

from discovery import analysis, embedding, fingerprint, similarity, store, tags, waveform
from discovery.analysis import AudioDecodeError
from discovery.model import (
    AnalysisStatus,
    AudioFeatures,
    Candidate,
    IdentifiedTrack,
    Neighbour,
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
from rights.service import NotFound
from rights.terms import Usage

log = logging.getLogger("discovery.service")

MAX_UPLOAD_BYTES = 30 * 1024 * 1024  # a few minutes of FLAC, ten of MP3
ANALYSE_JOB = "discovery.analyse_track"
MAX_ATTEMPTS = 3
NEIGHBOURS_FOR_SUGGESTIONS = 5
DUPLICATE_PROBE_SECONDS = 15.0  # fingerprint this much from the middle of a new track to find its twin
MAX_PAGE_SIZE = 100
MAX_PAGE = 50
MAX_DURATION_SECONDS = 24 * 3600  # a duration filter past a day is a typo or an attack (1e39 overflowed)

Publish = Callable[[str, bytes], Awaitable[Any]]


class AudioRejected(ValueError):
    """An upload that is not audio we accept; the message names the problem (400)."""


class UnsupportedAudio(AudioRejected):
    status_code = 415


class AudioTooLarge(AudioRejected):
    status_code = 413


class NotAnalysed(LookupError):
    """The track has no finished analysis to compare with (409)."""

    status_code = 409


class CheckedAudio(msgspec.Struct, frozen=True):
    """An upload that decoded completely: its hash, format, samples (mono, 22,050 Hz) and duration."""

    sha256: str
    format: str
    samples: npt.NDArray[np.float32]
    duration_s: float


def channel(track_id: UUID) -> str:
    """Where analysis progress for a track is published."""
    return f"discovery:analysis:{track_id}"


def sniff_format(data: bytes) -> str:
    """The container by its first bytes, never by the file's name."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    raise UnsupportedAudio(
        "the file is not WAV, FLAC, OGG or MP3 audio (judged by its content, not its name)"
    )


def _wav_truncation(data: bytes) -> str | None:
    """libsndfile quietly plays a cut-off WAV, so compare its data chunk's declared size with what is there."""
    position = 12
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        if chunk == b"data":
            present = len(data) - position - 8
            if present < size:
                return f"the WAV file is truncated: it declares {size} bytes of audio but holds {present}"
            return None
        position += 8 + size + (size & 1)
    return "the WAV file has no audio data chunk"


def check_audio(data: bytes) -> CheckedAudio:
    """Accept an upload only if it is small enough, a format we take, and decodes to the end."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise AudioTooLarge(f"the file is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    if not data:
        raise AudioRejected("the file is empty")
    fmt = sniff_format(data)
    if fmt == "wav" and (problem := _wav_truncation(data)):
        raise AudioRejected(problem)
    try:
        samples, duration = analysis.decode(data)
    except AudioDecodeError as error:
        raise AudioRejected(f"the {fmt.upper()} file cannot be read: {error}") from None
    if duration < 1.0:
        raise AudioRejected(f"the recording is {duration:.2f} s long; at least 1 s is needed")
    return CheckedAudio(hashlib.sha256(data).hexdigest(), fmt, samples, duration)


def audio_path(data_dir: Path, sha256: str, fmt: str) -> Path:
    return data_dir / "audio" / sha256[:2] / f"{sha256}.{fmt}"


def _write_audio(data_dir: Path, checked: CheckedAudio, data: bytes) -> None:
    """Write once under its hash; a temporary name and a rename keep readers from half a file."""
    path = audio_path(data_dir, checked.sha256, checked.format)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)


async def _owned_track(conn: asyncpg.Connection, caller: Principal, track_id: UUID) -> Track:
    await rights.require_control(conn, caller, track_id=track_id)
    return await rights.get_track(conn, track_id)


# Ingest


async def store_audio(
    conn: asyncpg.Connection,
    data_dir: Path,
    track_id: UUID,
    data: bytes,
    checked: CheckedAudio,
    actor: UUID | None,
) -> None:
    """Keep the file, point the track at it and mark it pending analysis (inside the caller's transaction)."""
    await store.add_audio(conn, checked.sha256, checked.format, len(data), checked.duration_s)
    await store.attach_audio(conn, track_id, checked.sha256)
    track = await rights.get_track(conn, track_id)
    await store.update_document(conn, track_id, track.title, track.artist, track.description)
    await append_audit(conn, "discovery", track_id, "audio_attached",
                 {"sha256": checked.sha256, "format": checked.format, "duration_s": checked.duration_s}, actor)  # fmt: skip
    _write_audio(data_dir, checked, data)


async def enqueue_analysis(jobs: ArqRedis, track_id: UUID, sha256: str) -> None:
    # The id carries the audio's hash: a re-upload of the same file does not queue a second run.
    await jobs.enqueue_job(ANALYSE_JOB, str(track_id), _job_id=f"discovery:analyse:{track_id}:{sha256[:16]}")


async def upload_track(
    conn: asyncpg.Connection, jobs: ArqRedis, caller: Principal, data_dir: Path, data: bytes, *,
    title: str, artist: str, description: str = "",
) -> TrackAnalysis:  # fmt: skip
    """A new catalogue track from an audio file, queued for analysis; a bad file stores nothing."""
    checked = await asyncio.to_thread(check_audio, data)
    async with conn.transaction():
        track = await rights.create_track(
            conn,
            owner_organisation_id=caller.organisation_id,
            title=title,
            artist=artist,
            description=description,
        )
        await store_audio(conn, data_dir, track.id, data, checked, caller.user_id)
    await enqueue_analysis(jobs, track.id, checked.sha256)
    return await analysis_state(conn, track.id)


async def replace_audio(
    conn: asyncpg.Connection, jobs: ArqRedis, caller: Principal, data_dir: Path, track_id: UUID, data: bytes
) -> TrackAnalysis:
    """Give an existing track of the caller's organisation (new) audio, and analyse it."""
    await _owned_track(conn, caller, track_id)
    checked = await asyncio.to_thread(check_audio, data)
    async with conn.transaction():
        await store_audio(conn, data_dir, track_id, data, checked, caller.user_id)
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
PREVIEW_COMPRESSION = 0.5  # libsndfile's MP3 scale: 0 best, 1 smallest; 0.5 at 22,050 Hz mono ≈ 80 kb/s


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
    sf.write(
        partial, samples, analysis.SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III",
        compression_level=PREVIEW_COMPRESSION, bitrate_mode="CONSTANT",
    )  # fmt: skip
    partial.replace(path)
    return path


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
    conn: asyncpg.Connection, data_dir: Path, track_id: UUID, *, publish: Publish | None = None,
    final_attempt: bool = True,
) -> TrackAnalysis | None:  # fmt: skip
    """Analyse the track's audio and store features, embedding, tags and fingerprints.

    Idempotent: a track already analysed by this analyser version is left as it is. A failure is
    recorded on the track ('failed' on the final attempt or when the file itself is bad, else
    'pending' for the retry) and re-raised. Returns None when the track has no audio (any more).
    """
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
        samples, _ = await asyncio.to_thread(analysis.decode, await asyncio.to_thread(path.read_bytes))
        await asyncio.to_thread(make_preview, data_dir, *found, samples)
        await _step(conn, publish, track_id, 0.25)
        features = await asyncio.to_thread(analysis.analyse, samples)
        await _step(conn, publish, track_id, 0.6)
        landmarks = await asyncio.to_thread(fingerprint.landmarks, samples)
        await _step(conn, publish, track_id, 0.8)
        twin = await _near_duplicate(conn, track_id, samples)
        vector = embedding.embed(features)
        track = await rights.get_track(conn, track_id)
        async with conn.transaction():
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
        await store.record_failure(conn, track_id, message, final=final)
        await _publish(
            publish, track_id, AnalysisStatus.FAILED if final else AnalysisStatus.PENDING, 0.0, message
        )
        raise
    await _publish(publish, track_id, AnalysisStatus.DONE, 1.0)
    return await store.analysis(conn, track_id)


async def _step(conn: asyncpg.Connection, publish: Publish | None, track_id: UUID, progress: float) -> None:
    await store.set_progress(conn, track_id, progress)
    await _publish(publish, track_id, AnalysisStatus.RUNNING, progress)


async def _near_duplicate(
    conn: asyncpg.Connection, track_id: UUID, samples: npt.NDArray[np.float32]
) -> UUID | None:
    """Another catalogue track this audio is (nearly) a copy of, found by fingerprinting its middle."""
    probe = int(DUPLICATE_PROBE_SECONDS * analysis.SAMPLE_RATE)
    start = max(0, (len(samples) - probe) // 2)
    query = await asyncio.to_thread(fingerprint.landmarks, samples[start : start + probe])
    hits = [
        h
        for h in await store.fingerprint_hits(conn, sorted({q.hash for q in query}))
        if h.track_id != track_id
    ]
    found = fingerprint.identify(query, hits)
    return found.track_id if found.matched else None


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


async def snippet_features(data: bytes) -> AudioFeatures:
    """Analyse an uploaded example ("something that sounds like this") without storing it."""
    checked = await asyncio.to_thread(check_audio, data)
    return await asyncio.to_thread(analysis.analyse, checked.samples)


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


async def nearest(
    conn: asyncpg.Connection, vector: npt.NDArray[np.float64], filters: SearchFilters, k: int
) -> tuple[list[Candidate], str]:
    """The k nearest tracks that pass the filters, and how they were found ('exact' or 'hnsw').

    HNSW in pgvector 0.6 filters after its scan, so a selective filter could leave fewer than k
    rows: small filtered sets are scanned exactly, large ones over-fetched through the index, and
    an index answer that still comes up short is redone exactly.
    """
    matching, total = await store.count_matching(conn, filters)
    if matching <= store.EXACT_SEARCH_MAX_ROWS:
        return await store.exact_neighbours(conn, vector, filters, k), "exact"
    found = await store.hnsw_neighbours(conn, vector, filters, k, matching / max(total, 1))
    if len(found) < min(k, matching):
        return await store.exact_neighbours(conn, vector, filters, k), "exact"
    return found, "hnsw"


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


async def identify(conn: asyncpg.Connection, data: bytes) -> IdentifiedTrack:
    """Which catalogue track a clip comes from, where in it, and how sure; or no match."""
    checked = await asyncio.to_thread(check_audio, data)
    query = await asyncio.to_thread(
        fingerprint.landmarks, checked.samples, fingerprint.QUERY_PEAKS_PER_SECOND
    )
    hits = await store.fingerprint_hits(conn, sorted({q.hash for q in query}))
    found = fingerprint.identify(query, hits)
    if not found.matched or found.track_id is None:
        return IdentifiedTrack(identification=found)
    track = await rights.get_track(conn, found.track_id)
    return IdentifiedTrack(identification=found, title=track.title, artist=track.artist)


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
