"""The discovery pages: a track's analysis, tags and look-alikes, and adding a track (search is web.discover)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from litestar import get
from litestar.response import Template

from discovery import service
from rights import service as rights
from rights.identity import Principal, Role


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
async def upload_page(caller: Principal) -> Template:
    return Template("discovery/upload.html", context={"limit_mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)})


page_handlers = [track_page, upload_page]
