"""My rounds and offers: the rounds a buyer took part in, its own bids from the server, every move of its negotiations."""

from __future__ import annotations

import asyncpg
from litestar import get
from litestar.response import Template

from auction import service as auction
from auction.service import Participation
from rights import service as rights
from rights.identity import Principal
from web.licensing import money_text

NEGOTIATION_TEXT = {
    "awaiting_rights_holder": "waiting for the rights holder's answer",
    "awaiting_buyer": "your turn to answer",
    "accepted": "agreed",
    "rejected": "rejected",
    "withdrawn": "withdrawn",
    "expired": "lapsed without an answer",
}


def round_status(joined: Participation, caller: Principal) -> str:
    """'Open until 28 Nov 2026 10:00 UTC', 'You won at €1,200.00', 'Another buyer won', 'Closed without a sale'."""
    view = joined.round
    if view.state.value == "open":
        return f"Open until {view.deadline:%d %b %Y %H:%M} UTC"
    winner = view.outcome.winner if view.outcome is not None else None
    if winner is None:
        return "Closed without a sale"
    if caller.acts_for(winner.bidder):
        return f"You won at {money_text(winner.price)}"
    return f"Another buyer won at {money_text(winner.price)}"


@get("/my-rounds", include_in_schema=False, opt={"roles": ["buyer"]})
async def my_rounds(conn: asyncpg.Connection, caller: Principal) -> Template:
    joined = await auction.rounds_joined(conn, caller)
    ids = {j.round.track_id for j in joined}
    titles = {t.id: t.title for t in await rights.list_tracks(conn, ids=ids, limit=len(ids) or 1)}
    return Template(
        "auction/my_rounds.html",
        context={
            "joined": [
                (j, titles.get(j.round.track_id, "a track no longer listed"), round_status(j, caller))
                for j in joined
            ],
            "money": money_text,
            "negotiation_text": NEGOTIATION_TEXT,
        },
    )


page_handlers = [my_rounds]
