"""The rights holder's inbox: every negotiation on its tracks, co-owner consents to give, licence requests.

Answers go through auction.service.move and contracts.service.answer_consent, which decide who may answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from arq import ArqRedis
from litestar import get, post
from litestar.channels import ChannelsPlugin
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from auction import service as auction
from auction.api import relay
from auction.live import NegotiationView, RoundView
from auction.model import Mechanism
from auction.model import Party as Side
from contracts import service as contracts
from contracts import store as contracts_store
from contracts.api import notifier
from contracts.model import ConsentDecision, ConsentRequest, ConsentStatus, Deal, DealState
from rights import service as rights
from rights.identity import Principal
from rights.model import LicenceRequest
from rights.overlap import describe_usage
from rights.pooling import Connect
from web import forms

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
HOLDERS = {"roles": ["rights_holder"]}
# A negotiation's state as the rights holder reads it.
STATE_WORDS = {"awaiting_rights_holder": "waiting for your answer", "awaiting_buyer": "waiting for the buyer",
               "accepted": "agreed", "rejected": "rejected", "withdrawn": "withdrawn by the buyer",
               "expired": "expired unanswered"}  # fmt: skip
MOVES = {"accept": auction.Move.ACCEPT, "reject": auction.Move.REJECT, "counter": auction.Move.COUNTER}


@dataclass(frozen=True)
class Thread:
    """One buyer's negotiation on one of the caller's rounds, with what the page needs to show it."""

    round: RoundView
    negotiation: NegotiationView
    title: str
    buyer: str

    @property
    def awaiting_me(self) -> bool:
        last = self.negotiation.offers[-1] if self.negotiation.offers else None
        return self.negotiation.respond_by is not None and last is not None and last.party is Side.BUYER


@dataclass(frozen=True)
class ConsentAsk:
    deal: Deal
    title: str
    buyer: str
    mine: tuple[ConsentRequest, ...]


async def _threads(conn: asyncpg.Connection, caller: Principal) -> list[Thread]:
    rounds = [
        r for r in await auction.list_rounds(conn, caller, state=None, mine=True, limit=100)
        if r.mechanism is Mechanism.NEGOTIATION
    ]  # fmt: skip
    found = [(r, n) for r in rounds for n in await auction.negotiations(conn, caller, r.id)]
    titles = await _titles(conn, {r.track_id for r in rounds})
    names = await contracts_store.organisation_names(conn, list({n.buyer for _, n in found}))
    threads = [Thread(round=r, negotiation=n, title=titles.get(r.track_id, "a track"),
                      buyer=names.get(n.buyer, "a buyer")) for r, n in found]  # fmt: skip
    return sorted(threads, key=lambda t: (not t.awaiting_me, -t.negotiation.offers[-1].made_at.timestamp()
                                          if t.negotiation.offers else 0))  # fmt: skip


async def _titles(conn: asyncpg.Connection, ids: set[UUID]) -> dict[UUID, str]:
    tracks = await rights.list_tracks(conn, ids=ids, limit=len(ids) or 1)
    return {track.id: track.title for track in tracks}


async def _consents(conn: asyncpg.Connection, caller: Principal) -> list[ConsentAsk]:
    """Deals waiting for consent where one of the caller's organisation's parties was asked."""
    waiting = [d for d in await contracts.deals_for(conn, caller, limit=200, offset=0)
               if d.state is DealState.AWAITING_CONSENT]  # fmt: skip
    titles = await _titles(conn, {d.track_id for d in waiting})
    names = await contracts_store.organisation_names(conn, list({d.buyer for d in waiting}))
    asks = []
    for deal in waiting:
        view = await contracts.deal_for(conn, caller, deal.id)
        mine = tuple(c for c in view.consents
                     if c.status is ConsentStatus.REQUESTED and c.organisation_id == caller.organisation_id)  # fmt: skip
        if mine:
            asks.append(ConsentAsk(deal=deal, title=titles.get(deal.track_id, "a track"),
                                   buyer=names.get(deal.buyer, "a buyer"), mine=mine))  # fmt: skip
    return asks


async def _inbox(
    conn: asyncpg.Connection, caller: Principal, *, done: str | None, error: str | None
) -> dict[str, object]:
    requests: list[LicenceRequest] = await rights.list_licence_requests(conn, caller.organisation_id)
    return {
        "threads": await _threads(conn, caller), "consents": await _consents(conn, caller),
        "requests": requests, "describe_usage": describe_usage, "done": done, "error": error,
        "track": None, "here": "inbox", "state_words": STATE_WORDS,
    }  # fmt: skip


@get("/workspace/inbox", include_in_schema=False, opt=HOLDERS)
async def inbox_page(conn: asyncpg.Connection, caller: Principal, done: str | None = None) -> Template:
    return Template("workspace/inbox.html", context=await _inbox(conn, caller, done=done, error=None))


@post("/workspace/negotiations/{negotiation_id:uuid}/{decision:str}", include_in_schema=False, opt=HOLDERS)
async def answer_offer(
    connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis, negotiation_id: UUID,
    decision: str, data: Form,
) -> Template | Redirect:  # fmt: skip
    if decision not in MOVES:
        raise LookupError(f"an offer is accepted, rejected or countered, not {decision!r}")
    try:
        amount = None
        if MOVES[decision] is auction.Move.COUNTER:
            amount = forms.money("Counter-offer", data.get("amount", ""), data.get("currency", ""))
        await auction.move(connect, relay(channels, jobs), caller, negotiation_id, MOVES[decision], amount)
    except ValueError as exc:
        async with connect() as conn:
            context = await _inbox(conn, caller, done=None, error=forms.sentence(exc))
        return Template("workspace/inbox.html", context=context, status_code=forms.refusal_status(exc))
    return Redirect(f"/workspace/inbox?done=offer-{decision}", status_code=303)


@post("/workspace/deals/{deal_id:uuid}/consent/{decision:str}", include_in_schema=False, opt=HOLDERS)
async def answer_consent(
    connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis, deal_id: UUID,
    decision: ConsentDecision,
) -> Template | Redirect:  # fmt: skip
    try:
        await contracts.answer_consent(connect, notifier(channels, jobs), caller, deal_id,
                                       approve=decision is ConsentDecision.APPROVE, now=datetime.now(UTC))  # fmt: skip
    except contracts.DealConflict as exc:
        async with connect() as conn:
            context = await _inbox(conn, caller, done=None, error=forms.sentence(exc))
        return Template("workspace/inbox.html", context=context, status_code=409)
    return Redirect(f"/workspace/inbox?done=consent-{decision.value}d", status_code=303)


page_handlers = [inbox_page, answer_offer, answer_consent]
