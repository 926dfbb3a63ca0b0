"""Deal use cases: hold a usage of a track for a sale, record a deal agreed elsewhere (inside the caller's
transaction) and read deals.

One rule keeps an exclusive licence from being sold twice: every sale path takes a usage hold through
`hold_usage` when it opens, the deal it makes keeps the hold, and a sale that ends without a deal lets
go with `release_hold`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from contracts import store
from contracts.model import Deal, DealSource, DealState, HoldSource, UsageHold
from rights import service as rights
from rights.audit import append_audit
from rights.clearance import Outcome
from rights.identity import Principal
from rights.model import Mechanism
from rights.overlap import describe_usage, exclusive_conflict
from rights.terms import Money, Usage


class DealNotFound(LookupError):
    """No deal with that id, or none the caller is a party to (404)."""


class UsageUnavailable(ValueError):
    """The usage cannot be put on sale: clearance does not allow it now, or another sale or deal holds it (409)."""

    status_code = 409


_HELD_BY = {
    HoldSource.ROUND: "on sale in round {}",
    HoldSource.NEGOTIATION: "under negotiation in {}",
    HoldSource.QUOTE: "quoted in quote {}",
    HoldSource.SALE: "on sale at a fixed price in sale {}",
    HoldSource.DEAL: "already agreed in deal {}",
}


async def hold_usage(
    conn: asyncpg.Connection, track_id: UUID, usage: Usage, source: HoldSource, source_id: UUID, now: datetime,
    *, mechanism: Mechanism | None = None,
) -> UsageHold:  # fmt: skip
    """Reserve `usage` of the track for a sale that opens now, inside the caller's transaction.

    Refused (409, with a sentence) unless clearance says the usage is clearable now (by `mechanism`, when
    named) and no live sale or deal holds an overlapping usage where either side is exclusive. The track
    is locked while deciding, so two sales opening at once cannot both pass.
    """
    async with conn.transaction():
        await store.lock_track_holds(conn, track_id)
        clearance = await rights.clearance(conn, track_id, usage)
        if clearance.outcome is not Outcome.CLEARABLE_NOW:
            raise UsageUnavailable(
                f"{_capitalised(describe_usage(usage))} cannot be sold now: {'; '.join(clearance.reasons)}"
            )
        if mechanism is not None and mechanism not in clearance.mechanisms:
            offered = ", ".join(m.value.replace("_", " ") for m in clearance.mechanisms)
            raise UsageUnavailable(
                f"the rights holders license {usage.media.value.replace('_', ' ')} by {offered}, "
                f"not by {mechanism.value.replace('_', ' ')}"
            )
        return await _take_hold(conn, track_id, usage, source, source_id, now)


async def release_hold(conn: asyncpg.Connection, source: HoldSource, source_id: UUID) -> None:
    """Let go of the usage a sale or deal held: a round closed with no winner, a negotiation or quote ended
    without a deal, or a deal was cancelled, expired or refunded. Releasing twice does nothing."""
    await store.release_hold(conn, source, source_id, None)


async def _take_hold(
    conn: asyncpg.Connection, track_id: UUID, usage: Usage, source: HoldSource, source_id: UUID, now: datetime
) -> UsageHold:
    await store.lock_track_holds(conn, track_id)
    for held in await store.live_holds(conn, track_id):
        if exclusive_conflict(usage, held.usage):
            raise UsageUnavailable(
                f"{_capitalised(describe_usage(usage))} cannot be sold: it overlaps {describe_usage(held.usage)} "
                f"{_HELD_BY[held.source].format(held.source_id)}"
            )
    hold = UsageHold(
        id=uuid4(), track_id=track_id, usage=usage, source=source, source_id=source_id, created_at=now
    )
    await store.insert_hold(conn, hold)
    return hold


async def _pass_hold_to_deal(
    conn: asyncpg.Connection, deal: Deal, held_by: tuple[HoldSource, UUID] | None
) -> None:
    """The deal keeps the usage its sale held (an exclusive sale's hold ends there: it sold its one licence).
    When the sale's hold is gone already, the deal takes one of its own through the same overlap rule."""
    await store.lock_track_holds(conn, deal.track_id)
    sale_hold = None if held_by is None else await store.live_hold(conn, *held_by)
    if sale_hold is None:
        await _take_hold(conn, deal.track_id, deal.usage, HoldSource.DEAL, deal.id, deal.created_at)
        return
    hold = UsageHold(id=uuid4(), track_id=deal.track_id, usage=deal.usage, source=HoldSource.DEAL, source_id=deal.id,
                     created_at=deal.created_at)  # fmt: skip
    await store.insert_hold(conn, hold)
    if deal.usage.exclusive:
        await store.release_hold(conn, sale_hold.source, sale_hold.source_id, deal.created_at)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


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
    held_by: tuple[HoldSource, UUID] | None = None,
) -> Deal:
    """Record the deal a round's close or an accepted negotiation struck, for settlement to pick up.

    Runs inside the caller's transaction, so the deal exists exactly when the close that made it
    does; a second call for the same source returns the deal already recorded. The deal takes over
    the usage hold of the sale `held_by` names.
    """
    async with conn.transaction():
        existing = await store.deal_from(conn, source, source_id)
        if existing is not None:
            return existing
        deal = await store.insert_deal(
            conn,
            Deal(
                id=uuid4(), source=source, source_id=source_id, track_id=track_id, seller=seller, buyer=buyer,
                price=price, usage=usage, state=DealState.PENDING, created_at=agreed_at,
            ),
        )  # fmt: skip
        await _pass_hold_to_deal(conn, deal, held_by)
        await append_audit(conn, "deal", deal.id, "deal_pending", deal, actor)
    return deal


async def get_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Deal:
    """A deal the caller's organisation is buyer or seller in."""
    found = await store.deal(conn, deal_id)
    if found is None or not (caller.acts_for(found.buyer) or caller.acts_for(found.seller)):
        raise DealNotFound(f"no deal {deal_id}")
    return found


async def deals_disagreeing_with_audit(
    conn: asyncpg.Connection, limit: int = 100
) -> tuple[int, list[tuple[str, str]]]:
    """(deals checked, those that differ from their audited `deal_pending` event with the reason)."""
    return await store.deal_count(conn), await store.deals_disagreeing_with_audit(conn, limit)
