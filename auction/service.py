"""Live-round use cases: open, bid, commit, reveal, accept the clock, negotiate, close, expire, read.

Each write is one transaction that locks the round's row, reads the database's clock as `now`,
lets the pure mechanisms decide, stores the result and appends the round's event (which the
database chains into the audit log). Only after the commit, and after its pooled connection is given
back, are watchers told (Channels over Redis) and timers set (the workers' deadline loops woken for a
new close time, arq deferred jobs for offers): a stalled Redis never holds a database connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import msgspec

from auction import mechanisms, store
from auction.batches import Batches
from auction.live import (
    BidReceipt,
    BidTaken,
    ClockReceipt,
    Closed,
    MyBid,
    NegotiationMoved,
    NegotiationView,
    NewRound,
    Opened,
    Revealed,
    RoundEvent,
    RoundView,
    StoredRound,
)
from auction.model import (
    AlreadyBid,
    AuctionError,
    Bid,
    Commitment,
    DuplicateBid,
    Mechanism,
    Negotiation,
    NegotiationOver,
    NegotiationState,
    NegotiationTerms,
    NotYourTurn,
    OfferBelowFloor,
    OfferLimits,
    Outcome,
    Party,
    ResponseDeadlinePassed,
    Reveal,
    RevealOutsideWindow,
    Round,
    RoundClosed,
    RoundState,
    SealedBidParams,
    Winner,
)
from auction.policy import IN_POLICY_WORDS, check_within_policy, policy_of
from auction.views import event_for, round_view
from contracts import service as contracts
from contracts.model import DealSource, HoldSource
from contracts.service import DealUpdate
from rights import service as rights
from rights.audit import append_audit
from rights.identity import Principal
from rights.pooling import Connect
from rights.terms import Money

log = logging.getLogger("auction.service")

EXPIRE_JOB = "auction.expire_negotiation"
REPLAY_PAGE = 5_000


def channel(round_id: UUID) -> str:
    return f"round:{round_id}"


# ---------------------------------------------------------------- errors


DEFAULT_OFFER_LIMITS = OfferLimits()


class RoundNotFound(LookupError):
    """No round with that id (404)."""


class NegotiationNotFound(LookupError):
    """No negotiation with that id that the caller is a party to (404)."""


class RoundNotOpen(ValueError):
    """The round, reveal window or negotiation no longer takes this (409)."""

    status_code = 409


class AlreadyDone(ValueError):
    """The same thing was done before: a second bid, a bid id reused, a second reveal, a move out of turn (409)."""

    status_code = 409


@contextlib.contextmanager
def _as_conflicts() -> Iterator[None]:
    """The mechanisms' refusals that are about the round's state, not the request, answer 409."""
    try:
        yield
    except (RoundClosed, RevealOutsideWindow, NegotiationOver, ResponseDeadlinePassed) as refusal:
        raise RoundNotOpen(str(refusal)) from refusal
    except (AlreadyBid, DuplicateBid, NotYourTurn) as refusal:
        raise AlreadyDone(str(refusal)) from refusal


# ---------------------------------------------------------------- after the commit


Publish = Callable[[str, bytes], Awaitable[Any]]
PublishAll = Callable[[Sequence[tuple[str, bytes]]], Awaitable[Any]]

DEADLINES_CHANNEL = "auction:deadlines"
"""Where a new close time is announced, to wake the workers' deadline loops (PostgreSQL keeps the time)."""


async def publish_one_by_one(publish: Publish, frames: Sequence[tuple[str, bytes]]) -> None:
    for name, frame in frames:
        await publish(name, frame)


@dataclass(frozen=True)
class Relay:
    """What a write does once committed: publish its events to every server process, set its timers.

    Failures here are logged, not raised: the commit already happened and is the truth; watchers
    resynchronise by sequence number and the worker's sweep closes any round whose timer was lost.
    """

    publish: Publish
    jobs: Any  # arq.ArqRedis
    publish_all: PublishAll | None = None  # many frames in one round trip, where the publisher can

    async def events(self, events: Sequence[RoundEvent]) -> None:
        for event in events:
            try:
                await self.publish(channel(event.round_id), msgspec.json.encode(event))
            except Exception:
                log.warning(
                    "publishing a round event failed", exc_info=True, extra={"round_id": str(event.round_id)}
                )

    async def deal(self, created: DealUpdate | None) -> None:
        """Tell the new deal's parties about it and set its deadline (after the commit that made it)."""
        if created is None:
            return
        try:
            await contracts.Notifier(publish=self.publish, jobs=self.jobs).updates([created])
        except Exception:
            log.warning("announcing a deal failed", exc_info=True, extra={"deal_id": str(created.deal_id)})

    async def closes(self, events: Sequence[RoundEvent]) -> None:
        """Tell many rounds' closes at once, in one pipeline where the publisher has one."""
        await self._publish_all([(channel(event.round_id), msgspec.json.encode(event)) for event in events])

    async def deals(self, created: Sequence[DealUpdate]) -> None:
        """Tell many new deals' parties at once, then set the deals' deadlines."""
        notifier = contracts.Notifier(publish=self.publish, jobs=self.jobs)
        await self._publish_all([frame for update in created for frame in notifier.frames(update)])
        await asyncio.gather(*(notifier.deadline(update.deal) for update in created))

    async def _publish_all(self, frames: Sequence[tuple[str, bytes]]) -> None:
        try:
            if self.publish_all is None:
                await publish_one_by_one(self.publish, frames)
            else:
                await self.publish_all(frames)
        except Exception:
            log.warning("publishing failed", exc_info=True, extra={"frames": len(frames)})

    async def close_timer(self, round_id: UUID, deadline_version: int, at: datetime) -> None:
        """Wake the workers' deadline loops for a round's new close time. A lost message costs at most
        one of their longest sleeps: the time itself is in PostgreSQL, where they read it."""
        try:
            await self.jobs.publish(DEADLINES_CHANNEL, str(round_id))
        except Exception:
            log.warning("announcing a close time failed", exc_info=True, extra={"round_id": str(round_id)})

    async def expiry_timer(self, negotiation_id: UUID, moves: int, at: datetime) -> None:
        await self._enqueue(EXPIRE_JOB, f"expire:{negotiation_id}:{moves}", at, str(negotiation_id), moves)

    async def _enqueue(self, job: str, job_id: str, at: datetime, *args: Any) -> None:
        try:
            await self.jobs.enqueue_job(job, *args, _job_id=job_id, _defer_until=at)
        except Exception:
            log.warning("scheduling a timer failed", exc_info=True, extra={"job_id": job_id})


# ---------------------------------------------------------------- opening and reading rounds


async def open_round(connect: Connect, relay: Relay, caller: Principal, request: NewRound) -> RoundView:
    """Open a round on one of the caller's tracks, within its licensing policy for that track."""
    async with connect() as conn:
        await rights.require_control(conn, caller, track_id=request.track_id)
        stored, event = await start_round(conn, request, created_by=caller.user_id)
    await relay.events([event])
    await relay.close_timer(stored.round.id, stored.round.deadline_version, stored.closes_at)
    return round_view(stored, bids=0, revealed=0, seq=event.seq, watcher=caller, now=event.at)


async def start_round(
    conn: asyncpg.Connection, request: NewRound, *, created_by: UUID | None
) -> tuple[StoredRound, RoundEvent]:
    """Open a round for the track's rights holder, within its licensing policy, and commit it.

    Telling watchers and setting the timer are left to the caller (the worker also sets every open
    round's timer from PostgreSQL when it starts).
    """
    track = await rights.get_track(conn, request.track_id)
    policy = policy_of(await rights.track_rights(conn, track.id), track.owner_organisation_id)
    if policy is not None:
        check_within_policy(request.params, request.usage, policy)
    async with conn.transaction():
        now = await store.server_now(conn)
        opens_at = now + timedelta(seconds=request.opens_in_seconds)
        round = Round(
            id=uuid4(), track_id=track.id, seller=track.owner_organisation_id, usage=request.usage,
            params=request.params, opens_at=opens_at, deadline=opens_at + timedelta(seconds=request.duration_seconds),
        )  # fmt: skip
        stored = StoredRound(round=round, closes_at=mechanisms.close_due_at(round), created_by=created_by)
        await store.insert_round(conn, stored)
        await contracts.hold_usage(
            conn, track.id, request.usage, HoldSource.ROUND, round.id, now,
            mechanism=IN_POLICY_WORDS[round.mechanism],
        )  # fmt: skip
        opened = Opened(
            track_id=round.track_id, seller=round.seller, mechanism=round.mechanism, usage=round.usage,
            currency=round.params.currency, params=round.params, opens_at=round.opens_at, deadline=round.deadline,
            closes_at=stored.closes_at,
        )  # fmt: skip
        event = await store.append_event(conn, round.id, opened, created_by, now)
    return stored, event


async def get_round(conn: asyncpg.Connection, watcher: Principal | None, round_id: UUID) -> RoundView:
    views = await _views(conn, watcher, [round_id])
    if not views:
        raise RoundNotFound(f"no round {round_id}")
    return views[0]


async def find_round(conn: asyncpg.Connection, round_id: UUID) -> StoredRound | None:
    return await store.get_round(conn, round_id)


async def has_open_round(conn: asyncpg.Connection, track_id: UUID) -> bool:
    return await store.has_open_round(conn, track_id)


async def list_rounds(
    conn: asyncpg.Connection,
    watcher: Principal | None,
    *,
    state: RoundState | None,
    mine: bool,
    limit: int = 100,
    track_ids: Sequence[UUID] | None = None,
) -> list[RoundView]:
    """Rounds open to bids first (soonest to close first), then closed ones; `mine`: the caller's own.

    `track_ids`: only rounds on those tracks.
    """
    seller = watcher.organisation_id if mine and watcher is not None else None
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        found = await store.rounds(conn, state=state, seller=seller, limit=limit, track_ids=track_ids)
        return await _views_of(conn, watcher, found)


async def _views(
    conn: asyncpg.Connection, watcher: Principal | None, round_ids: list[UUID]
) -> list[RoundView]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        found = [
            stored for round_id in round_ids if (stored := await store.get_round(conn, round_id)) is not None
        ]
        return await _views_of(conn, watcher, found)


async def _views_of(
    conn: asyncpg.Connection, watcher: Principal | None, found: list[StoredRound]
) -> list[RoundView]:
    now = await store.server_now(conn)
    counts = await store.counts(conn, [stored.round.id for stored in found])
    views = []
    for stored in found:
        bids, revealed, seq = counts[stored.round.id]
        views.append(round_view(stored, bids=bids, revealed=revealed, seq=seq, watcher=watcher, now=now))
    return views


async def watch(
    conn: asyncpg.Connection, watcher: Principal, round_id: UUID, after: int
) -> tuple[RoundView, list[RoundEvent]]:
    """The round as it stands and, as `watcher` sees them, its events after `after` up to that point:
    read in one snapshot, so the events lead exactly to the round shown."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        views = await _views(conn, watcher, [round_id])
        if not views:
            raise RoundNotFound(f"no round {round_id}")
        view = views[0]
        events = await events_between(conn, watcher, view.seller, round_id, after, view.seq)
    return view, events


async def events_between(
    conn: asyncpg.Connection, watcher: Principal, seller: UUID, round_id: UUID, after: int, upto: int
) -> list[RoundEvent]:
    """Events `after` < seq ≤ `upto`, oldest first, as `watcher` may see them."""
    events = await stored_events_between(conn, round_id, after, upto)
    return [seen for event in events if (seen := event_for(event, seller, watcher)) is not None]


async def stored_events_between(
    conn: asyncpg.Connection, round_id: UUID, after: int, upto: int
) -> list[RoundEvent]:
    """Events `after` < seq ≤ `upto`, oldest first, whole: show each to a watcher with `auction.views`."""
    events: list[RoundEvent] = []
    while after < upto:
        page = await store.events_after(conn, round_id, after, min(REPLAY_PAGE, upto - after))
        if not page:
            break
        events.extend(page)
        after = page[-1].seq
    return events


async def round_events(
    conn: asyncpg.Connection, watcher: Principal, round_id: UUID, after: int, limit: int
) -> list[RoundEvent]:
    stored = await store.get_round(conn, round_id)
    if stored is None:
        raise RoundNotFound(f"no round {round_id}")
    events = await store.events_after(conn, round_id, after, limit)
    return [seen for event in events if (seen := event_for(event, stored.round.seller, watcher)) is not None]


class Participation(msgspec.Struct, frozen=True, kw_only=True):
    """A round a buyer took part in: the round as they may see it, their own bids, their negotiations."""

    round: RoundView
    bids: tuple[MyBid, ...]
    negotiations: tuple[NegotiationView, ...]


async def rounds_joined(conn: asyncpg.Connection, caller: Principal, limit: int = 50) -> list[Participation]:
    """The rounds the caller's organisation bid in or negotiated on, latest first, with its own moves."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        ids = await store.rounds_joined_by(conn, caller.organisation_id, limit)
        found = []
        for view in await _views(conn, caller, ids):
            bids = await store.bids_by(conn, view.id, caller.organisation_id)
            talks = (
                await negotiations(conn, caller, view.id) if view.mechanism is Mechanism.NEGOTIATION else []
            )
            found.append(Participation(round=view, bids=tuple(bids), negotiations=tuple(talks)))
    return found


async def my_bids(conn: asyncpg.Connection, caller: Principal, round_id: UUID) -> list[MyBid]:
    if await store.get_round(conn, round_id) is None:
        raise RoundNotFound(f"no round {round_id}")
    return await store.bids_by(conn, round_id, caller.organisation_id)


# ---------------------------------------------------------------- sealed bids, commitments and reveals


@dataclass(frozen=True)
class _BidRequest:
    """A sealed bid (`amount`) or a commitment (`digest`) as asked, before the server's time is read."""

    caller: Principal
    bid_id: UUID
    amount: Money | None = None
    digest: str | None = None

    def at(self, round_id: UUID, now: datetime) -> Bid | Commitment:
        bidder, placed_by = self.caller.organisation_id, self.caller.user_id
        if self.digest is not None:
            return Commitment(
                id=self.bid_id, round_id=round_id, bidder=bidder, placed_by=placed_by, digest=self.digest,
                committed_at=now,
            )  # fmt: skip
        assert self.amount is not None
        return Bid(
            id=self.bid_id, round_id=round_id, bidder=bidder, placed_by=placed_by, amount=self.amount,
            committed_at=now,
        )  # fmt: skip


_BIDS: Batches[_BidRequest, BidReceipt] = Batches()
"""Bids queued on one round in this process go into its lock together (`auction.batches`)."""


async def place_bid(
    connect: Connect,
    relay: Relay,
    caller: Principal,
    round_id: UUID,
    amount: Money,
    bid_id: UUID | None,
) -> BidReceipt:
    """A sealed bid in the clear, taken at the server's time."""
    request = _BidRequest(caller=caller, bid_id=bid_id or uuid4(), amount=amount)
    return await _BIDS.take(round_id, request, functools.partial(_take_bids, connect, relay, round_id))


async def commit_bid(
    connect: Connect,
    relay: Relay,
    caller: Principal,
    round_id: UUID,
    digest: str,
    bid_id: UUID | None,
) -> BidReceipt:
    """A commitment to a sealed bid (see `auction.commit_reveal`), revealed after the deadline."""
    request = _BidRequest(caller=caller, bid_id=bid_id or uuid4(), digest=digest)
    return await _BIDS.take(round_id, request, functools.partial(_take_bids, connect, relay, round_id))


async def _take_bids(
    connect: Connect, relay: Relay, round_id: UUID, requests: list[_BidRequest]
) -> list[BidReceipt | Exception]:
    """The bids in one transaction under the round's lock, each checked in turn against what was read
    after the lock and the bids taken before it; a refused bid gets its refusal and stores nothing."""
    answers: list[BidReceipt | Exception] = []
    events: list[RoundEvent] = []
    async with connect() as conn, conn.transaction():
        stored, check = await _locked_open_round_for_bids(
            conn, round_id, [r.bid_id for r in requests], [r.caller.organisation_id for r in requests]
        )
        now, count, existing, round = check.now, check.bids, list(check.existing), stored.round
        for request in requests:
            bid = request.at(round_id, now)
            seen = [
                b for b in existing if b.id == bid.id or (b.round_id == round_id and b.bidder == bid.bidder)
            ]
            try:
                with _as_conflicts():
                    accepted = mechanisms.validate_bid(round, seen, bid, now)
            except (AuctionError, RoundNotOpen, AlreadyDone) as refusal:
                answers.append(refusal)
                continue
            round, count = accepted.round, count + 1
            taken = BidTaken(
                bids=count, deadline=round.deadline, deadline_version=round.deadline_version,
                extensions=round.extensions, extended=accepted.extended, closes_at=mechanisms.close_due_at(round),
                bid_id=bid.id, bidder=bid.bidder, amount=request.amount, digest=request.digest, committed_at=now,
            )  # fmt: skip
            kind = "sealed" if request.digest is None else "commitment"
            event = await store.insert_bid_and_event(conn, bid, kind, taken, request.caller.user_id, now)
            existing.append(bid)
            events.append(event)
            receipt = BidReceipt(
                bid_id=bid.id, round_id=round_id, committed_at=now, deadline=round.deadline,
                deadline_version=round.deadline_version, seq=event.seq, amount=request.amount,
                digest=request.digest,
            )  # fmt: skip
            answers.append(receipt)
        extended = round.deadline_version != stored.round.deadline_version
        if extended:
            await store.move_deadline(conn, round, mechanisms.close_due_at(round))
    try:
        await relay.events(events)
        if extended:
            await relay.close_timer(round.id, round.deadline_version, mechanisms.close_due_at(round))
    except Exception:  # committed, so answered: watchers resynchronise by seq, the sweeps close on time
        log.exception("bids committed but not announced", extra={"round_id": str(round_id)})
    return answers


async def reveal_bid(
    connect: Connect, relay: Relay, caller: Principal, round_id: UUID, bid_id: UUID, amount: Money,
    nonce: str,
) -> BidReceipt:  # fmt: skip
    """Open one's commitment after the deadline; a commitment not revealed in the window is forfeited."""
    async with connect() as conn, conn.transaction():
        stored, now = await _locked_open(conn, round_id)
        found = await store.commitment(conn, round_id, bid_id)
        if found is None or found[0].bidder != caller.organisation_id:
            raise LookupError(f"you have no commitment {bid_id} in round {round_id}")
        commitment, revealed = found
        if revealed:
            raise AlreadyDone("this commitment is already revealed")
        reveal = Reveal(bid_id=bid_id, amount=amount, nonce=nonce, revealed_at=now)
        with _as_conflicts():
            mechanisms.validate_reveal(stored.round, commitment, reveal, now)
        await store.insert_reveal(conn, reveal)
        _, count, _ = (await store.counts(conn, [round_id]))[round_id]
        payload = Revealed(revealed=count, bid_id=bid_id, bidder=commitment.bidder, amount=amount)
        event = await store.append_event(conn, round_id, payload, caller.user_id, now)
        events, created = [event], None
        bids, reveals = await store.bids_of(conn, round_id), await store.reveals_of(conn, round_id)
        if mechanisms.every_commitment_revealed(
            stored.round, bids, reveals, now
        ):  # close now, not at the window's end
            outcome = mechanisms.close(stored.round, bids, now, reveals=reveals)
            closed, created = await _close(
                conn, stored, outcome, now, caller.user_id, bids=bids, reveals=reveals
            )
            events.append(closed)
    await relay.events(events)
    await relay.deal(created)
    round = stored.round
    return BidReceipt(
        bid_id=bid_id, round_id=round_id, committed_at=commitment.committed_at, deadline=round.deadline,
        deadline_version=round.deadline_version, seq=event.seq, amount=amount, digest=commitment.digest,
    )  # fmt: skip


# ---------------------------------------------------------------- the clock


async def accept_clock(connect: Connect, relay: Relay, caller: Principal, round_id: UUID) -> ClockReceipt:
    """Buy at the clock's price now: the round closes at once with the caller as winner."""
    async with connect() as conn, conn.transaction():
        stored, now = await _locked_open(conn, round_id)
        bid_id = uuid4()
        with _as_conflicts():
            outcome = mechanisms.accept_clock(
                stored.round, bid_id, caller.organisation_id, caller.user_id, now
            )
        assert outcome.winner is not None
        price = outcome.winner.price
        acceptance = Bid(
            id=bid_id, round_id=round_id, bidder=caller.organisation_id, placed_by=caller.user_id, amount=price,
            committed_at=now,
        )  # fmt: skip
        await store.insert_bid(conn, acceptance, "clock")
        event, created = await _close(
            conn, stored, outcome, now, caller.user_id, bids=[acceptance], reveals=[]
        )
    await relay.events([event])
    await relay.deal(created)
    assert created is not None
    return ClockReceipt(
        bid_id=bid_id, round_id=round_id, price=price, outcome=outcome, deal_id=created.deal_id, seq=event.seq
    )


# ---------------------------------------------------------------- closing


class Fired(enum.Enum):
    """What an offer's timer found: it expired the offer, it was stale, or it came too early."""

    DONE = "done"
    STALE = "stale"
    EARLY = "early"


class WorkFailed(Exception):
    """Closing a round or making its deal failed (its transaction rolled back); the cause is chained."""

    def __init__(self, round_id: UUID) -> None:
        super().__init__(f"closing round {round_id} or making its deal failed")
        self.round_id = round_id


async def close_next_due(connect: Connect, skipping: Sequence[UUID] = ()) -> RoundEvent | None:
    """Close the open round due longest ago that nobody else is closing or bidding on (and that is not
    among `skipping`): its close event, committed, or None when there is none.

    The winner's deal is made after (`make_next_awarded_deal`), so that watchers hear closes first.
    """
    async with connect() as conn, conn.transaction():
        claimed = await store.claim_due_round(conn, skipping)
        if claimed is None:
            return None
        stored, now = claimed
        try:
            return await _close_at_deadline(conn, stored, now)
        except Exception as failure:  # rolls the claim back too
            raise WorkFailed(stored.round.id) from failure


async def make_next_awarded_deal(connect: Connect, skipping: Sequence[UUID] = ()) -> DealUpdate | None:
    """Make the deal of the oldest award a deadline close left (not among `skipping`, by round) that
    nobody else is making, and take its award away in the same transaction; None when there is none."""
    async with connect() as conn, conn.transaction():
        claimed = await store.claim_award(conn, skipping)
        if claimed is None:
            return None
        stored, deal_id = claimed
        try:
            assert stored.outcome is not None and stored.outcome.winner is not None and stored.closed_at
            await _make_deal(conn, stored.round, stored.outcome.winner, stored.closed_at, None, deal_id)
            await store.delete_award(conn, stored.round.id)
            return await contracts.deal_created(conn, deal_id)
        except Exception as failure:
            raise WorkFailed(stored.round.id) from failure


T = TypeVar("T")


async def _work_through(
    take_next: Callable[[Sequence[UUID]], Awaitable[T | None]],
    tell: Callable[[Sequence[T]], Awaitable[None]],
    workers: int,
    limit: int | None = None,
) -> int:
    """Run `take_next` in `workers` transactions at a time until it finds nothing (or `limit` are done),
    telling what they committed meanwhile in batches; how many were done. A round whose work fails is
    logged and skipped until the next call."""
    done: asyncio.Queue[T | None] = asyncio.Queue()
    failed: list[UUID] = []
    taken = 0

    async def worker() -> None:
        nonlocal taken
        while limit is None or taken < limit:
            taken += 1
            try:
                result = await take_next(failed)
            except WorkFailed as failure:
                log.exception(
                    "closing a round or making its deal failed", extra={"round_id": str(failure.round_id)}
                )
                failed.append(failure.round_id)
                continue
            if result is None:
                return
            done.put_nowait(result)

    async def teller() -> int:
        count, finished = 0, False
        while not finished:
            batch = [await done.get()]
            while not done.empty():
                batch.append(done.get_nowait())
            results = [result for result in batch if result is not None]
            finished = len(results) < len(batch)
            if results:
                await tell(results)
                count += len(results)
        return count

    telling = asyncio.create_task(teller())
    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        done.put_nowait(None)
    return await telling


async def close_due_rounds(connect: Connect, relay: Relay, closers: int, limit: int | None = None) -> int:
    """Close every round due now (at most `limit`), `closers` transactions at a time, telling the closes
    committed meanwhile in one pipeline each time; how many closed. Rounds held by a bid or another worker
    are left for the next call, and so is a round that failed to close (logged)."""
    return await _work_through(
        lambda skipping: close_next_due(connect, skipping), relay.closes, closers, limit
    )


async def make_awarded_deals(connect: Connect, relay: Relay, makers: int, limit: int | None = None) -> int:
    """Make the deals deadline closes awarded (at most `limit`), `makers` at a time; how many were made."""
    return await _work_through(
        lambda skipping: make_next_awarded_deal(connect, skipping), relay.deals, makers, limit
    )


async def seconds_until_next_close(connect: Connect) -> float | None:
    """How long until the soonest open round is due, by the database's clock (None: no round is open)."""
    async with connect() as conn:
        return await store.seconds_until_next_close(conn)


async def _close_at_deadline(conn: asyncpg.Connection, stored: StoredRound, now: datetime) -> RoundEvent:
    """Close a round whose deadline passed, locked by the caller, by its mechanism over every bid; the
    winner's deal is awarded, to be made right after the commit."""
    outcome = None
    bids: list[Bid | Commitment] = []
    reveals: list[Reveal] = []
    if not isinstance(stored.round.params, NegotiationTerms):
        bids = await store.bids_of(conn, stored.round.id)
        reveals = await store.reveals_of(conn, stored.round.id)
        outcome = mechanisms.close(stored.round, bids, now, reveals=reveals)
    event, _ = await _close(conn, stored, outcome, now, None, bids=bids, reveals=reveals, deal_later=True)
    return event


async def _close(
    conn: asyncpg.Connection, stored: StoredRound, outcome: Outcome | None, now: datetime, actor: UUID | None,
    *, bids: Sequence[Bid | Commitment], reveals: Sequence[Reveal], deal_later: bool = False,
) -> tuple[RoundEvent, DealUpdate | None]:  # fmt: skip
    """The guarded update, the winner's deal (or, `deal_later`, its award: the deal's id, to be made from
    it) and the close event, in the caller's transaction; with the update that announces a deal made
    here after the commit. `bids` and `reveals` are what the outcome was decided over: a commit–reveal
    close discloses them."""
    round = stored.round
    if not await store.close_round(conn, round.id, round.deadline_version, outcome, now):
        raise RoundNotOpen(f"round {round.id} is already closed")
    deal_id = None
    if outcome is None or outcome.winner is None:
        await contracts.release_hold(conn, HoldSource.ROUND, round.id)
    elif deal_later:  # the round keeps its usage hold until its deal takes it over
        deal_id = uuid4()
        await store.insert_award(conn, round.id, deal_id, now)
    else:
        deal_id = await _make_deal(conn, round, outcome.winner, now, actor)
    disclosed = isinstance(round.params, SealedBidParams) and round.params.reveal_seconds is not None
    closed = Closed(
        closed_at=now, outcome=outcome, deal_id=deal_id,
        commitments=tuple(bid for bid in bids if isinstance(bid, Commitment)) if disclosed else (),
        reveals=tuple(reveals) if disclosed else (),
    )  # fmt: skip
    created = None if deal_id is None or deal_later else await contracts.deal_created(conn, deal_id)
    return await store.append_event(conn, round.id, closed, actor, now), created


async def _make_deal(
    conn: asyncpg.Connection, round: Round, winner: Winner, agreed_at: datetime, actor: UUID | None,
    deal_id: UUID | None = None,
) -> UUID:  # fmt: skip
    """The winner's deal, taking over the round's usage hold."""
    deal = await contracts.create_deal(
        conn, source=DealSource.ROUND, source_id=round.id, track_id=round.track_id, seller=round.seller,
        buyer=winner.bidder, price=winner.price, usage=round.usage, mechanism=IN_POLICY_WORDS[round.params.mechanism],
        agreed_at=agreed_at, actor=actor, held_by=(HoldSource.ROUND, round.id), deal_id=deal_id,
    )  # fmt: skip
    await contracts.release_hold(conn, HoldSource.ROUND, round.id)
    return deal.id


# ---------------------------------------------------------------- negotiation


async def start_negotiation(
    connect: Connect, relay: Relay, caller: Principal, round_id: UUID, amount: Money,
    limits: OfferLimits = DEFAULT_OFFER_LIMITS,
) -> NegotiationView:  # fmt: skip
    """A buyer's opening offer; the rights holder's range may answer it at once."""
    refused = None
    async with connect() as conn, conn.transaction():
        stored, now = await _locked_open(conn, round_id)
        if await store.standing_negotiation(conn, round_id, caller.organisation_id) is not None:
            raise AlreadyDone("you are already negotiating on this round: answer or withdraw that offer")
        await _require_offers_allowed(conn, stored.round.id, caller, now, limits)
        try:
            with _as_conflicts():
                negotiation = mechanisms.make_offer(
                    stored.round, uuid4(), caller.organisation_id, amount, now
                )
        except OfferBelowFloor as below:
            refused = below
            await _note_below_floor(conn, stored.round.id, caller, None, amount, now)
        else:
            await store.insert_negotiation(conn, negotiation, caller.user_id)
            event, created = await _record_move(conn, stored, negotiation, caller, now)
    if refused is not None:
        raise refused  # after the commit, so the refusal counts
    await _after_move(relay, negotiation, event)
    await relay.deal(created)
    return NegotiationView.of(negotiation)


class TooManyOffersUnderTheFloor(ValueError):
    """A buyer that made several offers under the floor waits before the next (429)."""

    status_code = 429


async def _require_offers_allowed(
    conn: asyncpg.Connection, round_id: UUID, caller: Principal, now: datetime, limits: OfferLimits
) -> None:
    since = now - timedelta(seconds=limits.window_seconds)
    refused_at = await store.refused_offers_since(conn, round_id, caller.organisation_id, since)
    wait = mechanisms.below_floor_wait(refused_at, now, limits)
    if wait > 0:
        raise TooManyOffersUnderTheFloor(
            f"your last {limits.below_floor_offers} offers were under what the rights holder accepts: "
            f"you can make another offer in {math.ceil(wait / 60)} min"
        )


async def _note_below_floor(
    conn: asyncpg.Connection, round_id: UUID, caller: Principal, negotiation_id: UUID | None, amount: Money,
    now: datetime,
) -> None:  # fmt: skip
    """Count the refused offer against the buyer and put it in the audit trail."""
    await store.insert_refused_offer(
        conn, round_id, caller.organisation_id, negotiation_id, amount, caller.user_id, now
    )
    payload: dict[str, object] = {"buyer": str(caller.organisation_id), "amount": amount,
                                  "negotiation_id": str(negotiation_id) if negotiation_id else None}  # fmt: skip
    await append_audit(conn, "round", round_id, "offer_below_floor", payload, caller.user_id)


class Move(enum.Enum):
    COUNTER = "counter"
    ACCEPT = "accept"
    REJECT = "reject"
    WITHDRAW = "withdraw"


async def move(
    connect: Connect, relay: Relay, caller: Principal, negotiation_id: UUID, move: Move,
    amount: Money | None = None, limits: OfferLimits = DEFAULT_OFFER_LIMITS,
) -> NegotiationView:  # fmt: skip
    """Counter, accept, reject or withdraw in a negotiation the caller is a party to."""
    refused = None
    async with connect() as conn, conn.transaction():
        stored, negotiation = await _locked_negotiation(conn, negotiation_id, caller)
        party = Party.BUYER if caller.organisation_id == negotiation.buyer else Party.RIGHTS_HOLDER
        now = await store.server_now(conn)
        try:
            with _as_conflicts():
                if move is Move.COUNTER:
                    if amount is None:
                        raise ValueError("a counter-offer needs an amount")
                    if party is Party.BUYER:
                        await _require_offers_allowed(conn, stored.round.id, caller, now, limits)
                    moved = mechanisms.counter(negotiation, party, amount, now)
                elif move is Move.ACCEPT:
                    moved = mechanisms.accept(negotiation, party, now)
                elif move is Move.REJECT:
                    moved = mechanisms.reject(negotiation, party, now)
                else:
                    moved = mechanisms.withdraw(negotiation, party, now)
        except OfferBelowFloor as below:
            if party is not Party.BUYER or amount is None:
                raise
            refused = below
            await _note_below_floor(conn, stored.round.id, caller, negotiation.id, amount, now)
        else:
            await store.save_negotiation(conn, moved, len(negotiation.offers), caller.user_id)
            event, created = await _record_move(conn, stored, moved, caller, now)
    if refused is not None:
        raise refused  # after the commit, so the refusal counts
    await _after_move(relay, moved, event)
    await relay.deal(created)
    return NegotiationView.of(moved)


async def expire_negotiation(
    connect: Connect, relay: Relay, negotiation_id: UUID, moves: int
) -> tuple[Fired, float]:
    """End a negotiation whose standing offer went unanswered, if the offer this timer was set for still stands."""
    async with connect() as conn, conn.transaction():
        round_id = await store.negotiation_round(conn, negotiation_id)
        stored = None if round_id is None else await store.lock_round(conn, round_id)
        if stored is None or not isinstance(stored.round.params, NegotiationTerms):
            return Fired.STALE, 0.0
        negotiation = await store.negotiation(conn, negotiation_id, stored.round.params)
        if negotiation is None or negotiation.respond_by is None or len(negotiation.offers) != moves:
            return Fired.STALE, 0.0
        now = await store.server_now(conn)
        if now < negotiation.respond_by:
            return Fired.EARLY, (negotiation.respond_by - now).total_seconds()
        expired = mechanisms.expire(negotiation, now)
        await store.save_negotiation(conn, expired, len(negotiation.offers), None)
        event, _ = await _record_move(conn, stored, expired, None, now)
    await relay.events([event])
    return Fired.DONE, 0.0


async def get_negotiation(
    conn: asyncpg.Connection, caller: Principal, negotiation_id: UUID
) -> NegotiationView:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        round_id = await store.negotiation_round(conn, negotiation_id)
        stored = None if round_id is None else await store.get_round(conn, round_id)
        _, found = await _negotiation_for(conn, stored, negotiation_id, caller)
    return NegotiationView.of(found)


async def negotiations(conn: asyncpg.Connection, caller: Principal, round_id: UUID) -> list[NegotiationView]:
    """The round's negotiations the caller is a party to: all of them for its rights holder."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        stored = await store.get_round(conn, round_id)
        if stored is None:
            raise RoundNotFound(f"no round {round_id}")
        buyer = None if caller.acts_for(stored.round.seller) else caller.organisation_id
        ids = await store.negotiations_on(conn, round_id, buyer)
        return [NegotiationView.of((await _negotiation_for(conn, stored, found, caller))[1]) for found in ids]


async def _locked_negotiation(
    conn: asyncpg.Connection, negotiation_id: UUID, caller: Principal
) -> tuple[StoredRound, Negotiation]:
    round_id = await store.negotiation_round(conn, negotiation_id)
    stored = None if round_id is None else await store.lock_round(conn, round_id)
    return await _negotiation_for(conn, stored, negotiation_id, caller)


async def _negotiation_for(
    conn: asyncpg.Connection, stored: StoredRound | None, negotiation_id: UUID, caller: Principal
) -> tuple[StoredRound, Negotiation]:
    """The negotiation and its round, if the caller is its buyer or acts for the round's rights holder."""
    if stored is not None and isinstance(stored.round.params, NegotiationTerms):
        found = await store.negotiation(conn, negotiation_id, stored.round.params)
        if found is not None and (
            caller.organisation_id == found.buyer or caller.acts_for(stored.round.seller)
        ):
            return stored, found
    raise NegotiationNotFound(f"no negotiation {negotiation_id} of yours")


async def _record_move(
    conn: asyncpg.Connection, stored: StoredRound, negotiation: Negotiation, caller: Principal | None,
    now: datetime,
) -> tuple[RoundEvent, DealUpdate | None]:  # fmt: skip
    """The negotiation's event and, when it was accepted, the update that announces its deal.

    An exclusive licence is sold once: the round's row lock serialises acceptances, and any after the
    first are refused, rolling their move back.
    """
    round = stored.round
    actor = None if caller is None else caller.user_id
    deal_id = None
    if negotiation.state is NegotiationState.ACCEPTED and negotiation.price is not None:
        if round.usage.exclusive and await store.other_accepted_negotiation(conn, round.id, negotiation.id):
            raise RoundNotOpen("this exclusive licence has already been agreed with another buyer")
        deal = await contracts.create_deal(
            conn, source=DealSource.NEGOTIATION, source_id=negotiation.id, track_id=round.track_id,
            seller=round.seller, buyer=negotiation.buyer, price=negotiation.price, usage=round.usage,
            mechanism=IN_POLICY_WORDS[round.params.mechanism], agreed_at=now, actor=actor,
            held_by=(HoldSource.ROUND, round.id),
        )  # fmt: skip
        deal_id = deal.id
    payload = NegotiationMoved(negotiation=NegotiationView.of(negotiation), deal_id=deal_id)
    created = None if deal_id is None else await contracts.deal_created(conn, deal_id)
    return await store.append_event(conn, round.id, payload, actor, now), created


async def _after_move(relay: Relay, negotiation: Negotiation, event: RoundEvent) -> None:
    await relay.events([event])
    if negotiation.respond_by is not None:
        await relay.expiry_timer(negotiation.id, len(negotiation.offers), negotiation.respond_by)


# ---------------------------------------------------------------- timers from PostgreSQL


async def reschedule_timers(connect: Connect, relay: Relay) -> int:
    """Set every standing negotiation's timer again (jobs already queued stay single). Rounds need none:
    the workers' deadline loops read close times from PostgreSQL."""
    async with connect() as conn:
        negotiations = await store.negotiation_timers(conn, overdue_only=False)
    for negotiation_id, moves, respond_by in negotiations:
        await relay.expiry_timer(negotiation_id, moves, respond_by)
    return len(negotiations)


async def sweep(connect: Connect, relay: Relay, limit: int = 200) -> int:
    """Close overdue rounds, make the deals their closes awarded, and expire lapsed offers, straight from
    PostgreSQL, whatever became of their timers (or of a worker killed between a close and its deal)."""
    done = await close_due_rounds(connect, relay, closers=1, limit=limit)
    done += await make_awarded_deals(connect, relay, makers=1)
    async with connect() as conn:
        negotiations = await store.negotiation_timers(conn, overdue_only=True)
    for negotiation_id, moves, _ in negotiations:
        fired, _ = await expire_negotiation(connect, relay, negotiation_id, moves)
        done += fired is Fired.DONE
    return done


# ---------------------------------------------------------------- helpers


async def _locked_open(conn: asyncpg.Connection, round_id: UUID) -> tuple[StoredRound, datetime]:
    """The round, locked, and the database's time read after the lock; 404 or 409 when it cannot take bids."""
    return await _locked_open_round(conn, round_id), await store.server_now(conn)


async def _locked_open_round(conn: asyncpg.Connection, round_id: UUID) -> StoredRound:
    """The round, locked; 404 or 409 when it cannot take bids. The time is read after this, never with it:
    a statement that waited for the lock would have read the clock before the wait."""
    return _open(await store.lock_round(conn, round_id), round_id)


async def _locked_open_round_for_bids(
    conn: asyncpg.Connection, round_id: UUID, bid_ids: list[UUID], bidders: list[UUID]
) -> tuple[StoredRound, store.BidCheck]:
    """The round, locked, with what its bids are checked against read after the lock; 404 or 409 as above."""
    locked = await store.lock_round_for_bids(conn, round_id, bid_ids, bidders)
    stored = _open(None if locked is None else locked[0], round_id)
    assert locked is not None  # refused above
    return stored, locked[1]


def _open(stored: StoredRound | None, round_id: UUID) -> StoredRound:
    if stored is None:
        raise RoundNotFound(f"no round {round_id}")
    if stored.round.state is RoundState.CLOSED:
        assert stored.closed_at is not None
        raise RoundNotOpen(f"round {round_id} closed at {stored.closed_at.isoformat()}")
    return stored


# ---------------------------------------------------------------- audit


async def bids_disagreeing_with_audit(
    conn: asyncpg.Connection, limit: int = 100
) -> tuple[int, list[tuple[str, str]]]:
    """(bids and reveals checked, those that differ from their audited events with the reason)."""
    return await store.bids_and_reveals(conn), await store.bids_disagreeing_with_audit(conn, limit)
