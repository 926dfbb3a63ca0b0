"""The discovery pages: search the catalogue, and a track's analysis, tags and look-alikes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import asyncpg
from litestar import Request, get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Template

from discovery import service
from discovery.api import search_request, track_limits
from discovery.model import PITCH_CLASSES, Mode, Mood, SearchPage
from discovery.service import NotAnalysed
from rights import service as rights
from rights.identity import Principal, Role
from rights.terms import Media, TermsError
from rights.territories import TerritoryError


@get("/discover", include_in_schema=False)
async def search_page(
    request: Request[Any, Any, Any],
    conn: asyncpg.Connection,
    optional_caller: Principal | None,
    q: str | None = None,
    similar_to: UUID | None = None,
    bpm_min: Annotated[float | None, Parameter(ge=0, le=400)] = None,
    bpm_max: Annotated[float | None, Parameter(ge=0, le=400)] = None,
    key: str | None = None,
    mode: Mode | None = None,
    mood: Mood | None = None,
    instrumental: bool | None = None,
    clearable_media: Media | None = None,
    territories: str = "WORLD",
    page: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE)] = 1,
) -> Template:
    found: SearchPage | None = None
    problem = None
    reference = None
    try:
        wanted = search_request(
            q, similar_to, bpm_min, bpm_max, key or None, mode, mood, None, None, instrumental,
            clearable_media, territories, 12, False, page, 20,
        )  # fmt: skip
        if similar_to is not None:
            reference = await rights.get_track(conn, similar_to)
        found = await service.search(conn, wanted)
    except (ValueError, TermsError, TerritoryError, NotAnalysed) as error:
        problem = str(error)
    form = {"q": q or "", "bpm_min": bpm_min, "bpm_max": bpm_max, "key": key or "", "mode": mode, "mood": mood,
            "instrumental": instrumental, "clearable_media": clearable_media, "territories": territories,
            "similar_to": similar_to}  # fmt: skip
    keys = [f"{p} {m.value}" for m in Mode for p in PITCH_CLASSES]
    # The current query without its page, for the pager's links.
    paging = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page"])
    return Template(
        "discovery/search.html",
        context={
            "found": found,
            "problem": problem,
            "form": form,
            "reference": reference,
            "keys": keys,
            "paging": paging,
            "signed_in": optional_caller is not None,
            "may_upload": optional_caller is not None and optional_caller.role is Role.RIGHTS_HOLDER,
            "moods": list(Mood),
            "modes": list(Mode),
            "media_options": list(Media),
        },
    )


@get("/discover/tracks/{track_id:uuid}", include_in_schema=False)
async def track_page(conn: asyncpg.Connection, optional_caller: Principal | None, track_id: UUID) -> Template:
    track = await rights.get_track(conn, track_id)
    state = await service.analysis_state(conn, track_id)
    labels = await service.track_tags(conn, track_id)
    alike = None
    if state.features is not None:
        alike = await service.search(conn, service.SearchRequest(similar_to=track_id, page_size=5))
    may_curate = optional_caller is not None and optional_caller.acts_for(track.owner_organisation_id)
    return Template(
        "discovery/track.html",
        context={
            "track": track,
            "state": state,
            "features": state.features,
            "tags": labels,
            "alike": alike,
            "may_curate": may_curate,
            "signed_in": optional_caller is not None,
            "may_upload": optional_caller is not None and optional_caller.role is Role.RIGHTS_HOLDER,
        },
    )


@get("/discover/upload", include_in_schema=False, opt={"roles": ["rights_holder"]})
async def upload_page(caller: Principal, state: State) -> Template:
    limits = track_limits(state)
    context = {"limit_mb": limits.max_bytes // (1024 * 1024), "limit_minutes": round(limits.max_seconds / 60)}
    return Template("discovery/upload.html", context=context)


page_handlers = [search_page, track_page, upload_page]
