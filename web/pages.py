"""Pages that belong to no single business area: the home page."""

from __future__ import annotations

from litestar import get
from litestar.response import File, Template

from web import STATIC_DIR


@get("/", include_in_schema=False)
async def home() -> Template:
    return Template("home.html")


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> File:
    """For the browsers and tools that ask for /favicon.ico whatever the page says."""
    return File(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", content_disposition_type="inline")


page_handlers = [home, favicon]
