"""The discovery page for adding a track; search and the track page are in web (they show licensing too)."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from discovery import service
from rights.identity import Principal


@get("/discover/upload", include_in_schema=False, opt={"roles": ["rights_holder"]})
async def upload_page(caller: Principal) -> Template:
    return Template("discovery/upload.html", context={"limit_mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)})


page_handlers = [upload_page]
