"""The discovery page for adding a track; search and the track page are in web (they show licensing too)."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.response import Template

from discovery.api import track_limits
from rights.identity import Principal


@get("/discover/upload", include_in_schema=False, opt={"roles": ["rights_holder"]})
async def upload_page(caller: Principal, state: State) -> Template:
    limits = track_limits(state)
    context = {"limit_mb": limits.max_bytes // (1024 * 1024), "limit_minutes": round(limits.max_seconds / 60)}
    return Template("discovery/upload.html", context=context)


page_handlers = [upload_page]
