"""Demo catalogue: the synthetic tracks in the label's and publisher's catalogues at once, their audio later.

`seed` only writes rows (titles, artists, descriptions, human tags): it takes well under a second, so
the server can answer while the analysis workers render each track's audio (`attach_audio`) and
analyse it, one arq job per track (`discovery.jobs.add_demo_audio`). Safe to run again: a track is
found by title and artist, and one already analysed by the current analyser is not queued or
rendered again.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from uuid import UUID

import asyncpg
from arq import ArqRedis

from discovery import analysis, service, store, synth
from discovery.model import AnalysisStatus, CatalogueProgress, Tag, TagKind, TagSource, TrackAnalysis
from rights import service as rights

log = logging.getLogger("discovery.demo")

ADD_AUDIO_JOB = "discovery.add_demo_audio"


def owners(organisations: dict[str, UUID]) -> list[UUID]:
    """The organisations whose catalogues hold the demo tracks, alternately."""
    return [organisations["label"], organisations["publisher"]]


async def demo_tracks(conn: asyncpg.Connection, owned_by: list[UUID], size: int) -> dict[int, UUID]:
    """The catalogue tracks that are the first `size` demo tracks, by their place in the demo catalogue."""
    existing = {
        (t.title, t.artist): t.id
        for owner in owned_by
        for t in await rights.list_tracks(conn, owner_organisation_id=owner, limit=10_000)
    }
    found = {i: existing.get((demo.title, demo.artist)) for i, demo in enumerate(synth.demo_catalogue(size))}
    return {i: track_id for i, track_id in found.items() if track_id is not None}


async def seed(
    conn: asyncpg.Connection, organisations: dict[str, UUID], data_dir: Path, *,
    size: int = synth.CATALOGUE_SIZE,
) -> None:  # fmt: skip
    """The demo tracks and their human tags, without audio: `awaiting_audio` says which still need it."""
    owned_by = owners(organisations)
    existing = await demo_tracks(conn, owned_by, size)
    async with conn.transaction():
        for index, demo in enumerate(synth.demo_catalogue(size)):
            if index in existing:
                continue
            track = await rights.create_track(
                conn, owner_organisation_id=owned_by[index % 2], title=demo.title, artist=demo.artist,
                description=demo.description,
            )  # fmt: skip
            for value in demo.human_tags:
                tag = Tag(
                    kind=TagKind.STYLE, value=value, source=TagSource.HUMAN, confidence=1.0, confirmed=True
                )
                await store.upsert_tag(conn, track.id, tag)


def _analysed(state: TrackAnalysis | None) -> bool:
    return (
        state is not None
        and state.status is AnalysisStatus.DONE
        and state.analysis_version == analysis.ANALYSIS_VERSION
    )


async def awaiting_audio(
    conn: asyncpg.Connection, owned_by: list[UUID], *, size: int = synth.CATALOGUE_SIZE
) -> list[tuple[UUID, int]]:
    """Demo tracks (id, place in the demo catalogue) not yet analysed by the current analyser."""
    tracks = await demo_tracks(conn, owned_by, size)
    return [
        (track_id, index)
        for index, track_id in sorted(tracks.items())
        if not _analysed(await store.analysis(conn, track_id))
    ]


async def attach_audio(pool: asyncpg.Pool, data_dir: Path, track_id: UUID, index: int) -> bool:
    """Render the demo track's audio (no connection held meanwhile) and attach it unless it has some;
    False when the track is analysed already and there is nothing left to do."""
    async with pool.acquire() as conn:
        if _analysed(await store.analysis(conn, track_id)):
            return False
        has_audio = await store.audio_of(conn, track_id) is not None
    if not has_audio:
        data = synth.to_wav(await asyncio.to_thread(synth.render, synth.demo_track(index)))
        checked = await asyncio.to_thread(service.check_audio, data)
        await service.keep_audio(data_dir, checked, data)
        async with pool.acquire() as conn, conn.transaction():
            if await store.audio_of(conn, track_id) is None:  # another run may have attached it meanwhile
                await service.store_audio(conn, data_dir, track_id, data, checked, None)
    return True


async def enqueue_audio(
    jobs: ArqRedis,
    owned_by: list[UUID],
    awaiting: list[tuple[UUID, int]],
    *,
    size: int = synth.CATALOGUE_SIZE,
) -> None:
    """Queue one analysis-queue job per demo track still to render and analyse; the job id keeps a track
    from being queued twice while its job waits or runs."""
    for track_id, index in awaiting:
        await jobs.enqueue_job(
            ADD_AUDIO_JOB, str(track_id), index, [str(o) for o in owned_by], size,
            _job_id=f"discovery:demo-audio:{track_id}:{analysis.ANALYSIS_VERSION}", _queue_name=service.ANALYSIS_QUEUE,
        )  # fmt: skip


async def progress(
    conn: asyncpg.Connection, owned_by: list[UUID], *, size: int = synth.CATALOGUE_SIZE
) -> CatalogueProgress:
    """How many of the demo's tracks are analysed (searchable) and how many failed for good."""
    tracks = await demo_tracks(conn, owned_by, size)
    counts = await store.analysis_counts(conn, list(tracks.values()), analysis.ANALYSIS_VERSION)
    return CatalogueProgress(analysed=counts.analysed, failed=counts.failed, total=size)


async def refresh_suggestions(
    conn: asyncpg.Connection, owned_by: list[UUID], *, size: int = synth.CATALOGUE_SIZE
) -> None:
    """Tag suggestions once more when the whole demo is in: the first tracks analysed saw few neighbours."""
    for track_id in (await demo_tracks(conn, owned_by, size)).values():
        await service.refresh_suggestions(conn, track_id)
