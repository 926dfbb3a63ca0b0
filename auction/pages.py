"""The live-round pages: the list of rounds and each round's room (filled in live by room.js)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import get
from litestar.response import Redirect, Template

from auction import service
from auction.live import RoundView
from auction.model import RoundState
from contracts import service as contracts
from contracts.model import DealSource
from rights import service as rights
from rights.identity import Principal, Role


@get("/rounds", include_in_schema=False)
async def rounds_page(conn: asyncpg.Connection, optional_caller: Principal | None) -> Template:
    open_rounds = await service.list_rounds(conn, optional_caller, state=RoundState.OPEN, mine=False)
    closed = await service.list_rounds(conn, optional_caller, state=RoundState.CLOSED, mine=False, limit=20)
    mine: list[RoundView] = []
    if optional_caller is not None and optional_caller.role is Role.RIGHTS_HOLDER:
        mine = await service.list_rounds(conn, optional_caller, state=None, mine=True)
    return Template(
        "auction/rounds.html",
        context={
            "sections": [("Your rounds", mine), ("Open now", open_rounds), ("Recently closed", closed)],
            "titles": await _titles(conn, [*mine, *open_rounds, *closed]),
            "winners": await _winner_names(conn, [*mine, *closed]),
            "me": optional_caller.organisation_id if optional_caller is not None else None,
        },
    )


@get("/rounds/{round_id:uuid}", include_in_schema=False)
async def room_page(
    conn: asyncpg.Connection, optional_caller: Principal | None, round_id: UUID
) -> Template | Redirect:
    if optional_caller is None:
        return Redirect(f"/login?next=/rounds/{round_id}")
    view = await service.get_round(conn, optional_caller, round_id)
    track = await rights.get_track(conn, view.track_id)
    me = {
        "organisation_id": optional_caller.organisation_id,
        "role": optional_caller.role,
        "seller": optional_caller.organisation_id == view.seller,
    }
    winner = view.outcome.winner if view.outcome is not None else None
    names = await rights.organisation_names(conn, {view.seller} | ({winner.bidder} if winner else set()))
    deal = await contracts.deal_made_by(conn, optional_caller, DealSource.ROUND, view.id) if winner else None
    shown = {
        "round": view,
        "me": me,
        "names": {str(k): v for k, v in names.items()},
        "deal_id": str(deal.id) if deal else None,
    }
    return Template(
        "auction/room.html",
        context={"round": view, "track": track, "data": msgspec.json.encode(shown).decode()},
    )


async def _winner_names(conn: asyncpg.Connection, views: list[RoundView]) -> dict[UUID, str]:
    """Each closed round's winner by name (every round publishes who won and at what price)."""
    bidders = {
        v.id: v.outcome.winner.bidder for v in views if v.outcome is not None and v.outcome.winner is not None
    }
    names = await rights.organisation_names(conn, set(bidders.values()))
    return {round_id: names.get(bidder, "a buyer") for round_id, bidder in bidders.items()}


async def _titles(conn: asyncpg.Connection, views: list[RoundView]) -> dict[UUID, Any]:
    tracks = await rights.list_tracks(conn, ids={view.track_id for view in views}, limit=len(views) or 1)
    return {track.id: track for track in tracks}


page_handlers = [rounds_page, room_page]
