"""Deal use cases: record a deal agreed elsewhere (inside the caller's transaction) and read deals."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from contracts import store
from contracts.model import Deal, DealSource, DealState
from rights.audit import append_audit
from rights.identity import Principal
from rights.terms import Money, Usage


class DealNotFound(LookupError):
    """No deal with that id, or none the caller is a party to (404)."""


async def create_pending_deal(
    conn: asyncpg.Connection,
    *,
    source: DealSource,
    source_id: UUID,
    track_id: UUID,
    seller: UUID,
    buyer: UUID,
    price: Money,
    usage: Usage,
    agreed_at: datetime,
    actor: UUID | None,
) -> Deal:
    """Record the deal a round's close or an accepted negotiation struck, for settlement to pick up.

    Runs inside the caller's transaction, so the deal exists exactly when the close that made it
    does; a second call for the same source returns the deal already recorded.
    """
    async with conn.transaction():
        existing = await store.deal_from(conn, source, source_id)
        if existing is not None:
            return existing
        deal = await store.insert_deal(
            conn,
            Deal(
                id=uuid4(), source=source, source_id=source_id, track_id=track_id, seller=seller, buyer=buyer,
                price=price, usage=usage, state=DealState.AWAITING_PAYMENT, created_at=agreed_at,
            ),
        )  # fmt: skip
        await append_audit(conn, "deal", deal.id, "deal_pending", deal, actor)
    return deal


async def get_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Deal:
    """A deal the caller's organisation is buyer or seller in."""
    found = await store.deal(conn, deal_id)
    if found is None or not (caller.acts_for(found.buyer) or caller.acts_for(found.seller)):
        raise DealNotFound(f"no deal {deal_id}")
    return found
