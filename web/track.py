"""A track's page: its preview and waveform, what the analyser heard, who owns it, and how to license it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Request, get
from litestar.response import Template

from auction import service as auction
from contracts import service as contracts
from discovery import service as discovery
from discovery.model import TrackAnalysis
from rights import service as rights
from rights.clearance import Outcome
from rights.identity import Principal, Role
from rights.pricing import PriceQuote
from web.charts import ownership_bars
from web.licensing import licensing_panel, money_text
from web.search_form import USAGE_COOKIE, UsageChoice

RECENT_ROUNDS = 10


async def _waveform(conn: asyncpg.Connection, data_dir: Path, track_id: UUID) -> tuple[float, ...]:
    try:
        return await discovery.preview_waveform(conn, data_dir, track_id)
    except (LookupError, ValueError, OSError):  # no audio yet, or a preview that does not decode: no picture
        return ()


@get("/discover/tracks/{track_id:uuid}", include_in_schema=False)
async def track_page(
    request: Request[Any, Any, Any], conn: asyncpg.Connection, optional_caller: Principal | None, data_dir: Path,
    track_id: UUID,
) -> Template:  # fmt: skip
    track = await rights.get_track(conn, track_id)
    try:
        state: TrackAnalysis | None = await discovery.analysis_state(conn, track_id)
    except (
        rights.NotFound
    ):  # a track whose audio has not arrived yet (the demo's, while the worker renders it)
        state = None
    features = state.features if state is not None else None
    labels = await discovery.track_tags(conn, track_id)
    alike = None
    if features is not None:
        alike = await discovery.search(conn, discovery.SearchRequest(similar_to=track_id, page_size=5))
    now = datetime.now(UTC)
    choice = UsageChoice.from_cookie(request.cookies.get(USAGE_COOKIE))
    usage = choice.usage(now.date())
    cleared = await rights.clearance(conn, track_id, usage)
    rounds = await auction.list_rounds(conn, optional_caller, state=None, mine=False, track_ids=[track_id],
                                       limit=RECENT_ROUNDS)  # fmt: skip
    live = [v for v in rounds if v.state.value == "open"]
    price: PriceQuote | None = None
    if cleared.outcome is Outcome.CLEARABLE_NOW:
        try:
            price = await contracts.price_for(conn, track_id, usage, now)
        except contracts.QuoteRefused:
            price = None
    ownership = await rights.ownership_picture(conn, track_id, territories=usage.territories, on=now.date())
    may_curate = optional_caller is not None and optional_caller.acts_for(track.owner_organisation_id)
    return Template(
        "discovery/track.html",
        context={
            "track": track,
            "state": state,
            "features": features,
            "tags": labels,
            "alike": alike,
            "may_curate": may_curate,
            "signed_in": optional_caller is not None,
            "is_buyer": optional_caller is not None and optional_caller.role is Role.BUYER,
            "waveform": await _waveform(conn, data_dir, track_id) if features is not None else (),
            "usage": choice,
            "usage_start": now.date().isoformat(),
            "cleared": cleared,
            "panel": licensing_panel(cleared, live, now),
            "price": price,
            "money": money_text,
            "rounds": rounds,
            "ownership": ownership_bars(ownership),
            "ownership_problems": ownership.problems,
            "now": now,
        },
    )


page_handlers = [track_page]
