"""Discovery endpoints: upload audio, follow its analysis, search, identify clips, curate tags."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Controller, delete, get, post, put
from litestar.datastructures import State, UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, Parameter
from litestar.response import File
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from discovery import service
from discovery.analysis import Audio
from discovery.audio import AudioLimits
from discovery.model import (
    IdentifiedTrack,
    Key,
    Mode,
    Mood,
    SearchFilters,
    SearchPage,
    StoredTag,
    TrackAnalysis,
)
from discovery.service import SearchRequest
from rights.identity import Principal
from rights.pooling import Connect
from rights.terms import Media, Usage

RIGHTS_HOLDERS = {"roles": ["rights_holder"]}
# Audio is spooled to disk, under its limit, before the handler runs (see marketplace.bodies).
TRACK_AUDIO = {"body": "upload"}
SNIPPET_AUDIO = {"body": "snippet"}


@dataclass
class TrackUpload:
    file: UploadFile
    title: str
    artist: str
    description: str = ""


@dataclass
class AudioUpload:
    file: UploadFile


class NewTag(msgspec.Struct, frozen=True):
    value: str


Multipart = Body(media_type=RequestEncodingType.MULTI_PART)


def track_limits(state: State) -> AudioLimits:
    """A track upload as configured: UPLOAD_LIMIT_BYTES and TRACK_MAX_SECONDS."""
    return AudioLimits("track", state.settings.track_max_seconds, state.settings.upload_limit_bytes)


def snippet_limits(state: State) -> AudioLimits:
    """A clip to identify or search by: SNIPPET_LIMIT_BYTES and SNIPPET_MAX_SECONDS."""
    return AudioLimits("snippet", state.settings.snippet_max_seconds, state.settings.snippet_limit_bytes)


async def _snippet(upload: UploadFile, state: State) -> Audio:
    try:
        return await asyncio.to_thread(service.snippet_samples, upload.file, snippet_limits(state))
    finally:
        await upload.close()


def search_request(
    q: str | None = None,
    similar_to: UUID | None = None,
    bpm_min: Annotated[float | None, Parameter(ge=0, le=400)] = None,
    bpm_max: Annotated[float | None, Parameter(ge=0, le=400)] = None,
    key: Annotated[str | None, Parameter(description="e.g. 'A minor'")] = None,
    mode: Mode | None = None,
    mood: Mood | None = None,
    duration_min: Annotated[float | None, Parameter(ge=0, le=service.MAX_DURATION_SECONDS)] = None,
    duration_max: Annotated[float | None, Parameter(ge=0, le=service.MAX_DURATION_SECONDS)] = None,
    instrumental: bool | None = None,
    clearable_media: Media | None = None,
    territories: Annotated[str, Parameter(description="ISO codes or regions, comma separated")] = "WORLD",
    term_months: Annotated[int, Parameter(ge=1, le=120)] = 12,
    exclusive: bool = False,
    page: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE)] = 1,
    page_size: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE_SIZE)] = 20,
) -> SearchRequest:
    """The search as the query string states it; a usage is cleared from today (the server's day)."""
    usage = None
    if clearable_media is not None:
        usage = Usage(
            media=clearable_media, territories=tuple(territories.replace(",", " ").split()),
            term_months=term_months, exclusive=exclusive, start=datetime.now(UTC).date(),
        )  # fmt: skip
    filters = SearchFilters(
        bpm_min=bpm_min, bpm_max=bpm_max, key=Key.parse(key) if key else None, mode=mode, mood=mood,
        duration_min=duration_min, duration_max=duration_max, instrumental=instrumental,
    )  # fmt: skip
    return SearchRequest(
        text=q, similar_to=similar_to, filters=filters, clearable_for=usage, page=page, page_size=page_size
    )


class DiscoveryController(Controller):
    path = "/api/discovery"
    tags: Sequence[str] | None = ("discovery",)
    # Both searches read the same query string.
    dependencies = {"search": Provide(search_request, sync_to_thread=False)}  # noqa: RUF012

    @post("/tracks", status_code=HTTP_202_ACCEPTED, opt={**RIGHTS_HOLDERS, **TRACK_AUDIO})
    async def upload(
        self, connect: Connect, jobs: ArqRedis, caller: Principal, data_dir: Path, state: State,
        data: Annotated[TrackUpload, Multipart],
    ) -> TrackAnalysis:  # fmt: skip
        """A new track from WAV, FLAC, OGG or MP3 audio, queued for analysis; follow it at /analysis.

        At most UPLOAD_LIMIT_BYTES and TRACK_MAX_SECONDS (by default 800 MiB and 20 minutes)."""
        try:
            return await service.upload_track(
                connect, jobs, caller, data_dir, data.file.file, title=data.title, artist=data.artist,
                description=data.description, limits=track_limits(state),
            )  # fmt: skip
        finally:
            await data.file.close()

    @put(
        "/tracks/{track_id:uuid}/audio", status_code=HTTP_202_ACCEPTED, opt={**RIGHTS_HOLDERS, **TRACK_AUDIO}
    )
    async def replace_audio(
        self, connect: Connect, jobs: ArqRedis, caller: Principal, data_dir: Path, state: State, track_id: UUID,
        data: Annotated[AudioUpload, Multipart],
    ) -> TrackAnalysis:  # fmt: skip
        """Audio for a track already in the catalogue (say, made through the rights API)."""
        try:
            return await service.replace_audio(
                connect, jobs, caller, data_dir, track_id, data.file.file, track_limits(state)
            )
        finally:
            await data.file.close()

    @get("/tracks/{track_id:uuid}/analysis")
    async def analysis(self, conn: asyncpg.Connection, track_id: UUID) -> TrackAnalysis:
        """Analysis status, progress, attempts, the last error and, once done, the features."""
        return await service.analysis_state(conn, track_id)

    @get("/tracks/{track_id:uuid}/audio", media_type=service.PREVIEW_MEDIA_TYPE)
    async def audio(
        self, conn: asyncpg.Connection, data_dir: Path, track_id: UUID, caller: Principal
    ) -> File:
        """The track's preview (lower quality); the original reaches only a licensee, by download link."""
        path = await service.preview_file(conn, data_dir, track_id)
        return File(path=path, media_type=service.PREVIEW_MEDIA_TYPE, content_disposition_type="inline")

    @get("/search")
    async def search(self, conn: asyncpg.Connection, search: SearchRequest) -> SearchPage:
        """Words, filters, clearability and "similar to" a track, in one ranked, explained page."""
        return await service.search(conn, search)

    @post("/search", status_code=HTTP_200_OK, opt=SNIPPET_AUDIO)
    async def search_by_example(
        self,
        connect: Connect,
        caller: Principal,
        state: State,
        data: Annotated[AudioUpload, Multipart],
        search: SearchRequest,
    ) -> SearchPage:
        """Tracks that sound like the uploaded snippet (at most 60 s), with the same filters as GET.

        A snippet of a catalogue recording is searched from that recording's own analysis."""
        if search.similar_to is not None:
            await data.file.close()
            raise ValidationException("search by an uploaded example or by similar_to, not both")
        samples = await _snippet(data.file, state)
        query = await service.clip_fingerprint(samples)
        async with connect() as conn:
            example = await service.identified_example(conn, query)
        if example is None:
            example = await service.snippet_features(samples)
        async with connect() as conn:
            return await service.search(conn, search, snippet=example)

    @post("/identify", status_code=HTTP_200_OK, opt=SNIPPET_AUDIO)
    async def identify(
        self, connect: Connect, caller: Principal, state: State, data: Annotated[AudioUpload, Multipart]
    ) -> IdentifiedTrack:
        """The catalogue track a clip (at most 60 s) comes from, its offset and a confidence; or matched: false."""
        query = await service.clip_fingerprint(await _snippet(data.file, state))
        async with connect() as conn:
            return await service.identify(conn, query)

    @get("/tracks/{track_id:uuid}/tags")
    async def track_tags(self, conn: asyncpg.Connection, track_id: UUID) -> list[StoredTag]:
        return await service.track_tags(conn, track_id)

    @post("/tracks/{track_id:uuid}/tags", opt=RIGHTS_HOLDERS)
    async def add_tag(
        self, conn: asyncpg.Connection, caller: Principal, track_id: UUID, data: NewTag
    ) -> StoredTag:
        return await service.add_tag(conn, caller, track_id, data.value)

    @post("/tags/{tag_id:uuid}/confirm", status_code=HTTP_200_OK, opt=RIGHTS_HOLDERS)
    async def confirm_tag(self, conn: asyncpg.Connection, caller: Principal, tag_id: UUID) -> StoredTag:
        """Accept a suggested tag: it stops being a suggestion."""
        return await service.confirm_tag(conn, caller, tag_id)

    @delete("/tags/{tag_id:uuid}", status_code=HTTP_204_NO_CONTENT, opt=RIGHTS_HOLDERS)
    async def remove_tag(self, conn: asyncpg.Connection, caller: Principal, tag_id: UUID) -> None:
        await service.remove_tag(conn, caller, tag_id)


route_handlers: list[ControllerRouterHandler] = [DiscoveryController]
