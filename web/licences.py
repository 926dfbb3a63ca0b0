"""My licences: a buyer's deals with their state, co-owners' consent, payment, downloads and the verify link."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import get
from litestar.response import Template

from contracts import licences
from contracts import service as contracts
from contracts.model import ConsentRequest, Deal, DealState, Licence
from rights import service as rights
from rights.identity import Principal
from rights.overlap import describe_usage
from web.licensing import money_text

SHOWN = 100

STATE_TEXT = {
    DealState.AWAITING_CONSENT: "Waiting for the co-owners to agree",
    DealState.AWAITING_PAYMENT: "Agreed — waiting for your payment",
    DealState.PAID: "Paid — the licence is being issued",
    DealState.LICENSED: "Licensed",
    DealState.CANCELLED: "Cancelled",
    DealState.EXPIRED: "Expired unpaid",
    DealState.REFUNDED: "Refunded",
}
SOURCE_TEXT = {
    "quote": "bought at the list price",
    "round": "won in a round",
    "negotiation": "agreed by negotiation",
}
CONSENT_TEXT = {
    "by_policy": "agreed by its policy",
    "requested": "asked, no answer yet",
    "approved": "approved",
    "declined": "declined",
    "timed_out": "did not answer in time",
}


class LicenceRow(msgspec.Struct, frozen=True, kw_only=True):
    deal: Deal
    title: str
    state: str
    usage: str
    price: str
    consents: tuple[ConsentRequest, ...]
    licence: Licence | None


@get("/licences", include_in_schema=False, opt={"roles": ["buyer"]})
async def my_licences(conn: asyncpg.Connection, caller: Principal) -> Template:
    bought = [
        d for d in await contracts.deals_for(conn, caller, limit=SHOWN, offset=0) if caller.acts_for(d.buyer)
    ]
    titles = {t.id: t.title for t in await rights.list_tracks(conn, ids={d.track_id for d in bought},
                                                              limit=len(bought) or 1)}  # fmt: skip
    rows: list[LicenceRow] = []
    for deal in bought:
        view = await contracts.deal_for(conn, caller, deal.id)
        found = (
            await licences.licence_of_deal(conn, caller, deal.id)
            if deal.state is DealState.LICENSED
            else None
        )
        rows.append(LicenceRow(
            deal=deal, title=titles.get(deal.track_id, "a track no longer listed"), state=STATE_TEXT[deal.state],
            usage=describe_usage(deal.usage), price=money_text(deal.price), consents=view.consents, licence=found,
        ))  # fmt: skip
    return Template(
        "contracts/my_licences.html",
        context={"rows": rows, "consent_text": CONSENT_TEXT, "source_text": SOURCE_TEXT},
    )


page_handlers = [my_licences]
