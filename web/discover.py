"""The Discover page: search the catalogue for a chosen use, and see for each track how to license it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.response import Template

from auction import service as auction
from auction.model import RoundState
from discovery import service as discovery
from discovery.model import PITCH_CLASSES, CatalogueProgress, Mode, Mood, SearchPage
from discovery.service import NotAnalysed, SearchRequest
from rights import service as rights
from rights.identity import Principal, Role
from rights.terms import Media
from web.licensing import LicensingPanel, licensing_panel
from web.search_form import (
    USAGE_COOKIE,
    ActiveFilter,
    SearchForm,
    UsageChoice,
    active_filters,
    read_search_form,
    read_usage_choice,
)

PAGE_SIZE = 20


def _wanted(
    form: SearchForm, usage: UsageChoice, today: date, *, page_size: int = PAGE_SIZE
) -> SearchRequest:
    return SearchRequest(
        text=form.q or None, similar_to=form.similar_to, filters=form.filters(),
        clearable_for=usage.usage(today) if form.clearable_only else None, page=form.page, page_size=page_size,
    )  # fmt: skip


async def _removable(
    conn: asyncpg.Connection, form: SearchForm, usage: UsageChoice, today: date
) -> list[ActiveFilter]:
    """The filters that, taken away alone, would let some track through: what "0 results" names."""
    found = []
    for candidate in active_filters(form, usage):
        if (await discovery.search(conn, _wanted(candidate.without, usage, today, page_size=1))).results:
            found.append(candidate)
    return found


async def _panels(
    conn: asyncpg.Connection, caller: Principal | None, page: SearchPage, usage: UsageChoice, now: datetime
) -> dict[UUID, LicensingPanel]:
    ids = [r.track_id for r in page.results]
    rounds = await auction.list_rounds(conn, caller, state=RoundState.OPEN, mine=False, track_ids=ids)
    wanted = usage.usage(now.date())
    return {
        track_id: licensing_panel(
            await rights.clearance(conn, track_id, wanted), [v for v in rounds if v.track_id == track_id], now
        )
        for track_id in ids
    }


def _usage_cookie(usage: UsageChoice, *, secure: bool) -> Cookie:
    """The chosen use, kept until the browser closes (no max-age): chosen once per session."""
    return Cookie(
        key=USAGE_COOKIE, value=usage.cookie(), samesite="lax", httponly=True, path="/", secure=secure
    )


@get("/discover", include_in_schema=False)
async def search_page(
    request: Request[Any, Any, Any], conn: asyncpg.Connection, optional_caller: Principal | None,
    demo_progress: CatalogueProgress | None,
) -> Template:  # fmt: skip
    params = dict(request.query_params.items())
    form, problems = read_search_form(params)
    usage, usage_problems = read_usage_choice(
        params, UsageChoice.from_cookie(request.cookies.get(USAGE_COOKIE))
    )
    problems += usage_problems
    now = datetime.now(UTC)
    found: SearchPage | None = None
    reference = None
    removable: list[ActiveFilter] = []
    panels: dict[UUID, LicensingPanel] = {}
    try:
        if form.similar_to is not None:
            reference = await rights.get_track(conn, form.similar_to)
        found = await discovery.search(conn, _wanted(form, usage, now.date()))
        if not found.results:
            removable = await _removable(conn, form, usage, now.date())
        panels = await _panels(conn, optional_caller, found, usage, now)
    except (ValueError, NotAnalysed, rights.NotFound) as error:
        problems.append(str(error)[:1].upper() + str(error)[1:] + ".")
    is_buyer = optional_caller is not None and optional_caller.role is Role.BUYER
    return Template(
        "discovery/search.html",
        context={
            "found": found,
            "problems": problems,
            "form": form,
            "usage": usage,
            "usage_start": now.date().isoformat(),
            "panels": panels,
            "removable": removable,
            "reference": reference,
            "keys": [f"{p} {m.value}" for m in Mode for p in PITCH_CLASSES],
            "signed_in": optional_caller is not None,
            "is_buyer": is_buyer,
            "may_upload": optional_caller is not None and optional_caller.role is Role.RIGHTS_HOLDER,
            "moods": list(Mood),
            "modes": list(Mode),
            "media_options": list(Media),
            "now": now,
            # Shown while the demo's tracks are still being analysed; they become searchable one by one.
            "demo_progress": demo_progress if demo_progress and not demo_progress.finished else None,
        },
        cookies=[_usage_cookie(usage, secure=request.url.scheme == "https")],
    )


page_handlers = [search_page]
