"""One subscription per round per server process, fanning the round's events out to its sockets.

A round's `Hub` takes the round's published events from Channels once (those this process
published, at once, without waiting for Redis to bring them back), puts them in sequence
(an early event waits `REORDER_WAIT` for those before it, then the gap is read from PostgreSQL),
applies each once to the round's shared `Standing`, and hands it to the round's sockets as plain
calls: an event that must arrive goes to the sockets that may see it (a buyer's own receipt only to
its organisation's sockets); a change of state (another buyer's bid, the watchers, a clock's price)
only counts up the round's state `version`. Every `STATE_INTERVAL` at most, a tick encodes the state
once, with one `now`, for every socket owed it (once per distinct `replaced`) and queues the same
bytes on each. Each socket keeps its own writer, so a slow one delays only itself; one with too many
events unsent is closed (1013) and resumes from PostgreSQL with `after=<seq>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar.channels import ChannelsPlugin, Subscriber

from auction import conflation, service
from auction.conflation import FellBehind, Outbox, Standing, due_states, is_state
from auction.live import Frame, RoundEvent, RoundView
from auction.model import RoundState
from auction.views import Audience, audience, shown
from rights.identity import Principal

log = logging.getLogger("auction.hub")

OVERDUE = 2.0  # seconds past a round's close with no close heard before PostgreSQL is asked
LATEST_SEQ = 2**31 - 1
REORDER_WAIT = 0.2  # seconds an early event waits for those before it before they are read from PostgreSQL
RECENT = 512  # events a hub keeps for sockets joining while it passes them on
WAKE_BATCH = 50  # writers woken at once by a tick
FRESH_FOR = 0.5  # seconds a shared frame's server_time stays close enough to now to reuse it


def server_time() -> datetime:
    return datetime.now(UTC)


class SharedFrames:
    """Each event's views shown and encoded once for every socket in the same audience: with a
    thousand watchers, fan-out is then a thousand sends of the same bytes. A frame is reused while
    its `server_time` is within `FRESH_FOR` of now."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.frames: dict[tuple[UUID, int, Audience], tuple[float, RoundEvent | None, bytes]] = {}

    def seen(self, event: RoundEvent, to: Audience) -> RoundEvent | None:
        return self._cached(event, to)[1]

    def frame(self, event: RoundEvent, to: Audience) -> bytes:
        """The event frame of `event` as shown to `to` (which must see it)."""
        return self._cached(event, to)[2]

    def _cached(self, event: RoundEvent, to: Audience) -> tuple[float, RoundEvent | None, bytes]:
        key = (event.round_id, event.seq, to)
        now = time.monotonic()
        cached = self.frames.get(key)
        if cached is None or now - cached[0] >= FRESH_FOR:
            seen = shown(event, to)
            encoded = b"" if seen is None else msgspec.json.encode(event_frame(seen))
            cached = self.frames[key] = (now, seen, encoded)
            while len(self.frames) > self.size:  # oldest first: dicts keep insertion order
                del self.frames[next(iter(self.frames))]
        return cached


def event_frame(seen: RoundEvent) -> Frame:
    return Frame(type="event", server_time=server_time(), seq=seen.seq, event=seen.payload, at=seen.at)


shared = SharedFrames()


class SharedGaps:
    """Events missing from pub/sub read from PostgreSQL once per process for everyone missing the
    same ones: one read, not one per watcher."""

    def __init__(self) -> None:
        self.reading: dict[tuple[UUID, int, int], asyncio.Task[list[RoundEvent]]] = {}

    async def read(self, pool: asyncpg.Pool, round_id: UUID, after: int, upto: int) -> list[RoundEvent]:
        key = (round_id, after, upto)
        reading = self.reading.get(key)
        if reading is None:
            reading = self.reading[key] = asyncio.create_task(self._read(pool, round_id, after, upto))
            reading.add_done_callback(lambda _: self.reading.pop(key, None))
        return await asyncio.shield(reading)  # one reader leaving does not cancel the others' read

    @staticmethod
    async def _read(pool: asyncpg.Pool, round_id: UUID, after: int, upto: int) -> list[RoundEvent]:
        async with pool.acquire() as conn:
            return await service.stored_events_between(conn, round_id, after, upto)


gaps = SharedGaps()


class Watcher:
    """What the hub needs of one socket: who watches, its outbox, and how to wake or drop it."""

    def __init__(self, watcher: Principal, seller: UUID, seq: int) -> None:
        self.watcher = watcher
        self.seller = seller
        self.last_seq = seq  # the last event passed to this socket (sent, queued, or not its to see)
        self.outbox = Outbox(bound=conflation.EVENT_BOUND)
        self.wake = asyncio.Event()
        self.dropped = False
        self.on_behind: Callable[[], None] = lambda: None

    def audience(self, event: RoundEvent) -> Audience:
        return audience(event, self.seller, self.watcher)


class Hub:
    """One round's subscription in this process, its order, its shared standing and its sockets."""

    def __init__(self, round_id: UUID, pool: asyncpg.Pool, on_empty: Callable[[Hub], None]) -> None:
        self.round_id = round_id
        self.pool = pool
        self.on_empty = on_empty
        self.watchers: set[Watcher] = set()
        self.streams = 0  # sockets that joined and have not left (some not yet added: reading the round)
        self.by_organisation: dict[UUID, set[Watcher]] = {}
        self.last_seq = 0  # the last event passed on, in order
        self.recent: deque[RoundEvent] = deque(maxlen=RECENT)
        self.early: dict[int, RoundEvent] = {}  # published events whose predecessors have not come yet
        self.ordering = asyncio.Lock()  # one event, or one gap's reading, passed on at a time
        self.standing: Standing | None = None  # the round's state as of last_seq, once a socket read it
        self.version = 0  # state changes so far (a bid, the watchers, a clock's price)
        self.ticks = asyncio.Event()  # set when a state change is owed to someone
        self.last_tick = float("-inf")
        self.tasks: set[asyncio.Task[None]] = set()
        self.subscriber: Subscriber | None = None
        self.filling = False  # a gap's reading is waiting or under way

    # ------------------------------------------------------------ joining and leaving

    async def start(self, channels: ChannelsPlugin) -> None:
        self.subscriber = subscriber = await channels.subscribe(service.channel(self.round_id))
        self.spawn(self.listen(subscriber))
        self.spawn(self.tick())

    async def stop(self, channels: ChannelsPlugin) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.subscriber is not None:
            await channels.unsubscribe(self.subscriber)

    def spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.ended)

    def ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (failure := task.exception()) is not None:
            log.error("a round's hub failed: its sockets are dropped", exc_info=failure)
            self.drop_all()

    def add(self, watcher: Watcher, view: RoundView, watchers: int) -> None:
        """Pass `watcher`, which read the round at `view.seq`, every event from there on. Events this
        hub passed on while the socket read are taken from its recent ones (too many: dropped)."""
        if not self.watchers and self.standing is None:  # the first socket sets where the round stands
            self.last_seq = max(self.last_seq, view.seq)
            self.early = {seq: event for seq, event in self.early.items() if seq > self.last_seq}
        if self.standing is None or view.seq > self.standing.view.seq:
            if self.standing is not None:  # read ahead of pub/sub: the other sockets are owed it too
                self.version += 1
            self.standing = Standing(view, watchers)
        missed = [event for event in self.recent if event.seq > watcher.last_seq]
        if self.last_seq > watcher.last_seq and (not missed or missed[0].seq != watcher.last_seq + 1):
            raise FellBehind("joined too far behind the round's live events")
        watcher.outbox.told = self.version
        for event in missed:
            seen = shared.seen(event, watcher.audience(event))
            if seen is not None and is_state(seen):
                watcher.outbox.told -= 1
            elif seen is not None:
                watcher.outbox.put_event(
                    event.seq, shared.frame(event, watcher.audience(event)), self.version
                )
            watcher.last_seq = event.seq
        self.watchers.add(watcher)
        self.by_organisation.setdefault(watcher.watcher.organisation_id, set()).add(watcher)
        self.ticks.set()
        self.pass_on_early()  # the first socket may have moved the round on past early events

    def remove(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        organisation = self.by_organisation.get(watcher.watcher.organisation_id)
        if organisation is not None:
            organisation.discard(watcher)
            if not organisation:
                del self.by_organisation[watcher.watcher.organisation_id]
        self.release()

    def release(self) -> None:
        """A stream that joined has left: the last one ends the subscription."""
        self.streams -= 1
        if self.streams == 0:
            self.on_empty(self)

    def position(self, watcher: Watcher, sent_seq: int) -> int:
        """Where `watcher` resumes from: after every event once nothing waits for it, otherwise after
        the last message it was sent."""
        if watcher.outbox.idle and watcher.outbox.unsent_states(self.version) <= 0:
            return max(sent_seq, self.last_seq)
        return sent_seq

    # ------------------------------------------------------------ events in order

    async def listen(self, subscriber: Subscriber) -> None:
        async for data in subscriber.iter_events():
            try:
                event = msgspec.json.decode(data, type=RoundEvent)
            except msgspec.DecodeError:
                log.exception("an unreadable round event", extra={"round_id": str(self.round_id)})
                continue
            await self.on_live(event)

    async def on_live(self, event: RoundEvent) -> None:
        """Pass a published event on in sequence. One that comes early (publishes race each other
        after their commits) waits up to `REORDER_WAIT` for those before it; only then is the gap
        read from PostgreSQL, once for every socket on the round."""
        async with self.ordering:
            self.take_live(event)

    def heard_here(self, event: RoundEvent) -> None:
        """An event this process committed, passed on at once rather than after Redis brings it back
        (as it then does, to be passed over: its seq is passed already). While a gap is being read,
        it waits its turn."""
        if self.ordering.locked():
            self.spawn(self.on_live(event))
        else:
            self.take_live(event)

    def take_live(self, event: RoundEvent) -> None:
        """`on_live`'s work, done holding `ordering` or with nobody holding it (it does not wait)."""
        if event.seq <= self.last_seq:
            return
        self.early[event.seq] = event
        self.pass_on_early()
        self.fill_gaps_later()
        self.tick_now_if_free()

    def fill_gaps_later(self) -> None:
        if self.early and not self.filling:
            self.filling = True
            self.spawn(self.fill_gap(REORDER_WAIT))

    async def fill_gap(self, wait: float) -> None:
        """Read from PostgreSQL the events still missing after `wait` seconds, then pass on the rest."""
        try:
            await asyncio.sleep(wait)
            async with self.ordering:
                if not self.early:
                    return
                try:
                    missed = await gaps.read(self.pool, self.round_id, self.last_seq, min(self.early) - 1)
                except Exception:  # unreadable now: every socket resumes from PostgreSQL
                    log.warning("could not read a gap in a round's events", exc_info=True)
                    self.drop_all()
                    return
                self.take_in(missed)
        finally:
            self.filling = False
        self.fill_gaps_later()  # not when cancelled: a hub being stopped starts no new reading

    def take_in(self, stored: list[RoundEvent]) -> None:
        """Events read from PostgreSQL, passed on in order with those pub/sub brought early."""
        for event in stored:
            if event.seq > self.last_seq:
                self.early.setdefault(event.seq, event)
        self.pass_on_early()
        self.early = {seq: event for seq, event in self.early.items() if seq > self.last_seq}

    async def catch_up(self) -> None:
        """Read whatever PostgreSQL has after the last event passed on (a round overdue to close)."""
        try:
            missed = await gaps.read(self.pool, self.round_id, self.last_seq, LATEST_SEQ)
        except Exception:
            log.warning("could not ask PostgreSQL about an overdue round", exc_info=True)
            return
        async with self.ordering:
            self.take_in(missed)

    def pass_on_early(self) -> None:
        while (event := self.early.pop(self.last_seq + 1, None)) is not None:
            self.pass_on(event)

    def pass_on(self, event: RoundEvent) -> None:
        """Apply `event` to the standing once and hand it to the sockets that must get it."""
        changes_state = self.standing is not None and event.seq > self.standing.view.seq
        version = self.version + 1 if changes_state else self.version
        public = shared.seen(event, Audience.PUBLIC)
        if public is not None and is_state(public):  # state to all but the bidder's organisation
            party = getattr(event.payload, "bidder", None)
            receivers: set[Watcher] = self.by_organisation.get(party, set()) if party else set()
        else:
            receivers = self.watchers
        unsent_states: dict[int, bytes] = {}  # each distinct state frame a receiver is owed, encoded once
        for watcher in list(receivers):
            self.deliver(watcher, event, version, unsent_states)
        if self.standing is not None and changes_state:
            self.standing = self.standing.applied(event)
        self.version = version
        self.last_seq = event.seq
        self.recent.append(event)
        self.ticks.set()

    def deliver(
        self, watcher: Watcher, event: RoundEvent, version: int, unsent_states: dict[int, bytes]
    ) -> None:
        """An event `watcher` may have to see: queued after the state it had not been sent yet."""
        if watcher.dropped or event.seq <= watcher.last_seq:
            return
        watcher.last_seq = event.seq
        to = watcher.audience(event)
        seen = shared.seen(event, to)
        if seen is None:
            watcher.wake.set()  # passed unseen: the resume point moves on
            return
        try:
            if is_state(seen):
                return  # counted by the version; sent at the next tick
            outbox = watcher.outbox
            unsent = outbox.unsent_states(self.version)
            if unsent > 0 and self.standing is not None:
                if (frame := unsent_states.get(unsent)) is None:
                    frame = unsent_states[unsent] = self.state_frame(unsent - 1, server_time())
                outbox.put_state(self.standing.view.seq, frame, self.version)
            outbox.put_event(event.seq, shared.frame(event, to), version)
        except FellBehind:
            self.drop(watcher)
            return
        watcher.wake.set()

    def drop(self, watcher: Watcher) -> None:
        watcher.dropped = True
        watcher.on_behind()

    def drop_all(self) -> None:
        for watcher in list(self.watchers):
            self.drop(watcher)

    # ------------------------------------------------------------ state, once per tick

    def restate(self, standing: Standing) -> None:
        """State changed without an event (the watchers, a clock's price)."""
        self.standing = standing
        self.version += 1
        self.ticks.set()

    def on_watchers(self, total: int) -> None:
        if self.standing is not None and self.standing.watchers != total:
            self.restate(dataclasses.replace(self.standing, watchers=total))

    def state_frame(self, replaced: int, now: datetime) -> bytes:
        assert self.standing is not None
        state = Frame(
            type="state", server_time=now, seq=self.standing.view.seq, state=self.standing.state(now),
            replaced=replaced,
        )  # fmt: skip
        return msgspec.json.encode(state)

    def due_states(self) -> list[Watcher]:
        """Queue the state, encoded once per distinct `replaced`, for every socket owed it and idle:
        the sockets whose writers must be woken."""
        if self.standing is None:
            return []
        now = server_time()
        groups = due_states(((watcher, watcher.outbox) for watcher in self.watchers), self.version)
        woken = []
        for replaced, watchers in groups.items():
            frame = self.state_frame(replaced, now)
            for watcher in watchers:
                if not watcher.dropped:
                    watcher.outbox.put_state(self.standing.view.seq, frame, self.version)
                    woken.append(watcher)
        return woken

    def tick_now_if_free(self) -> None:
        """Send the state owed now, sparing the tick task's hand-overs, when a tick may go anyway (the
        last was `STATE_INTERVAL` ago) and few sockets watch; a crowd's writers are left to the tick,
        which wakes them a batch at a time."""
        if not self.ticks.is_set() or len(self.watchers) > WAKE_BATCH:
            return
        if time.monotonic() - self.last_tick < conflation.STATE_INTERVAL:
            return
        self.ticks.clear()
        self.last_tick = time.monotonic()
        for watcher in self.due_states():
            watcher.wake.set()

    async def send_states(self) -> None:
        """Wake the writers owed the state a batch at a time, letting the event loop take in what
        came meanwhile (a bid's next statement, say) between batches rather than after them all."""
        woken = self.due_states()
        for start in range(0, len(woken), WAKE_BATCH):
            for watcher in woken[start : start + WAKE_BATCH]:
                watcher.wake.set()
            await asyncio.sleep(0)

    async def tick(self) -> None:
        """Send state at most every `STATE_INTERVAL`, when owed; step a descending clock's price; ask
        PostgreSQL about a round overdue to close (a lost publish with nothing after it shows no gap)."""
        asked_at = datetime.min.replace(tzinfo=UTC)
        price_drop: datetime | None = None
        loop = asyncio.get_running_loop()
        while True:
            wait: float | None = None
            now = server_time()
            if price_drop is not None and now >= price_drop and self.standing is not None:
                self.restate(self.standing)
            ask_at = self.ask_at(asked_at)
            if ask_at is not None and now >= ask_at:
                asked_at = now
                self.spawn(self.catch_up())
                ask_at = self.ask_at(asked_at)
            price_drop = self.standing.next_price_drop(now) if self.standing else None
            for at in (price_drop, ask_at):
                if at is not None:
                    until = max(0.0, (at - now).total_seconds())
                    wait = until if wait is None else min(wait, until)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(None if wait is None else loop.time() + wait):
                    await self.ticks.wait()
            if not self.ticks.is_set():  # timed out, or the state went out at once (`tick_now_if_free`)
                continue
            if (too_soon := self.last_tick + conflation.STATE_INTERVAL - time.monotonic()) > 0:
                await asyncio.sleep(too_soon)
            self.ticks.clear()
            self.last_tick = time.monotonic()
            await self.send_states()

    def ask_at(self, asked_at: datetime) -> datetime | None:
        """When to ask PostgreSQL for events pub/sub did not bring: once the round is `OVERDUE` past its
        close with no close heard, then every `OVERDUE` while it stays so. None while the round is not
        overdue or has closed."""
        if self.standing is None or self.standing.view.state is RoundState.CLOSED:
            return None
        overdue = timedelta(seconds=OVERDUE)
        return max(self.standing.view.closes_at + overdue, asked_at + overdue)


class Hubs:
    """This process's hubs, one per round watched here."""

    def __init__(self) -> None:
        self.hubs: dict[UUID, Hub] = {}
        self.by_channel: dict[str, Hub] = {}
        self.starting: dict[UUID, asyncio.Task[None]] = {}
        self.stopping: set[asyncio.Task[None]] = set()

    def heard_here(self, channel: str, data: bytes) -> None:
        """A round event published by this process (`data` on `channel`): its watchers here get it at
        once; Redis carries it to the other processes."""
        hub = self.by_channel.get(channel)
        if hub is None:
            return
        try:
            hub.heard_here(msgspec.json.decode(data, type=RoundEvent))
        except Exception:  # as when Redis brings an event: the publish to the others still goes out
            log.exception("passing on a round event failed: its sockets are dropped")
            hub.drop_all()

    async def join(self, channels: ChannelsPlugin, pool: asyncpg.Pool, round_id: UUID) -> Hub:
        """The round's hub, subscribed (so nothing published from now on is missed)."""
        hub = self.hubs.get(round_id)
        if hub is None:
            hub = self.hubs[round_id] = Hub(round_id, pool, lambda empty: self.leave(channels, empty))
            self.by_channel[service.channel(round_id)] = hub
            self.starting[round_id] = asyncio.create_task(hub.start(channels))
        hub.streams += 1  # from now on the hub lives until this stream leaves (`Hub.remove`)
        if (starting := self.starting.get(round_id)) is not None:
            try:
                await asyncio.shield(starting)
            except BaseException:
                hub.release()
                raise
            self.starting.pop(round_id, None)
        return hub

    def leave(self, channels: ChannelsPlugin, hub: Hub) -> None:
        if self.hubs.get(hub.round_id) is hub:
            del self.hubs[hub.round_id]
            del self.by_channel[service.channel(hub.round_id)]
        stopping = asyncio.create_task(hub.stop(channels))
        self.stopping.add(stopping)
        stopping.add_done_callback(self.stopping.discard)


hubs = Hubs()
