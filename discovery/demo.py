"""Demo catalogue: render the synthetic tracks, add them to the label's and publisher's catalogues, analyse.

Safe to run again: a track is found by title and artist, and one already analysed by the current
analyser is left alone. Analysis runs inline (about a second a track), so the demo needs no worker.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from uuid import UUID

import asyncpg

from discovery import analysis, service, store, synth
from discovery.model import AnalysisStatus, Tag, TagKind, TagSource
from rights import service as rights

log = logging.getLogger("discovery.demo")


async def seed(conn: asyncpg.Connection, organisations: dict[str, UUID], data_dir: Path) -> None:
    owners = [organisations["label"], organisations["publisher"]]
    existing = {
        (t.title, t.artist): t.id
        for owner in owners
        for t in await rights.list_tracks(conn, owner_organisation_id=owner, limit=10_000)
    }
    await asyncio.to_thread(analysis.warm_up)
    seeded: list[UUID] = []
    for index, demo in enumerate(synth.demo_catalogue()):
        track_id = existing.get((demo.title, demo.artist))
        if track_id is None:
            track = await rights.create_track(
                conn, owner_organisation_id=owners[index % 2], title=demo.title, artist=demo.artist,
                description=demo.description,
            )  # fmt: skip
            track_id = track.id
        seeded.append(track_id)
        state = await store.analysis(conn, track_id)
        if (
            state
            and state.status is AnalysisStatus.DONE
            and state.analysis_version == analysis.ANALYSIS_VERSION
        ):
            continue
        data = synth.to_wav(await asyncio.to_thread(synth.render, demo))
        checked = await asyncio.to_thread(service.check_audio, data)
        async with conn.transaction():
            await service.store_audio(conn, data_dir, track_id, data, checked, None)
            for value in demo.human_tags:
                tag = Tag(
                    kind=TagKind.STYLE, value=value, source=TagSource.HUMAN, confidence=1.0, confirmed=True
                )
                await store.upsert_tag(conn, track_id, tag)
        await service.analyse(conn, data_dir, track_id)
        log.info("demo track analysed", extra={"title": demo.title, "index": index})
    # Suggestions once more now that every human-tagged track is in: the first tracks saw few neighbours.
    for track_id in seeded:
        await service.refresh_suggestions(conn, track_id)
