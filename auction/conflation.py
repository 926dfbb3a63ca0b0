"""What one watcher is sent next: state conflated, events never.

State is what only its latest value matters for: the bid count, time left and the deadline, the
watchers on the round, a descending clock's price. Another buyer's bid (not the watcher's own, not
moving the deadline) changes only state, as does a watcher joining or leaving or the clock stepping
down. A state message waits at most `interval` seconds and is replaced by a newer one while it
waits, so a round with a thousand watchers and a hundred bids a second sends each watcher a handful
of state messages a second instead of every bid. Everything else (the watcher's own receipt, a
deadline extension, a reveal, the opening, the close and award, negotiation moves) must each
arrive, in order.

Messages leave in sequence order: a pending state is sent before a later event, never after it.
A watcher whose unsent events exceed `bound` has fallen behind: it is dropped and resumes from
PostgreSQL with `after=<last seq sent>`. Pure: the caller passes `now`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import msgspec

from auction.clock import next_step_at, price_at
from auction.live import BidTaken, Closed, LiveState, Revealed, RoundEvent, RoundView
from auction.model import ClockParams, RoundState

STATE_INTERVAL = 0.15  # seconds between two state messages to one watcher
EVENT_BOUND = 256  # unsent must-arrive events before a watcher counts as fallen behind


def is_state(seen: RoundEvent) -> bool:
    """Whether `seen` (an event as shown to one watcher) only updates state a newer one supersedes."""
    payload = seen.payload
    return isinstance(payload, BidTaken) and payload.bid_id is None and not payload.extended


@dataclass(frozen=True, slots=True)
class Standing:
    """The round as one watcher knows it, and how many watch it: what a state message is made of."""

    view: RoundView
    watchers: int

    def applied(self, seen: RoundEvent) -> Standing:
        """After `seen`, an event as this watcher is shown it."""
        payload, view = seen.payload, msgspec.structs.replace(self.view, seq=seen.seq)
        if isinstance(payload, BidTaken):
            view = msgspec.structs.replace(
                view, bids=payload.bids, deadline=payload.deadline, deadline_version=payload.deadline_version,
                extensions=payload.extensions, closes_at=payload.closes_at,
            )  # fmt: skip
        elif isinstance(payload, Revealed):
            view = msgspec.structs.replace(view, revealed=payload.revealed)
        elif isinstance(payload, Closed):
            view = msgspec.structs.replace(
                view, state=RoundState.CLOSED, closed_at=payload.closed_at, clock_price=None
            )
        return replace(self, view=view)

    def state(self, now: datetime) -> LiveState:
        view = self.view
        open_ = view.state is not RoundState.CLOSED
        until = view.deadline if now < view.deadline else view.closes_at
        left = max(0, (until - now) // timedelta(milliseconds=1)) if open_ else 0
        price = None
        if open_ and isinstance(view.params, ClockParams):
            price = price_at(view.params, view.opens_at, now)
        return LiveState(
            bids=view.bids, watchers=self.watchers, time_left_ms=left, deadline=view.deadline,
            deadline_version=view.deadline_version, extensions=view.extensions, closes_at=view.closes_at,
            clock_price=price,
        )  # fmt: skip

    def next_price_drop(self, now: datetime) -> datetime | None:
        """When a descending clock's price next changes; None for other rounds and closed ones."""
        view = self.view
        if view.state is RoundState.CLOSED or not isinstance(view.params, ClockParams):
            return None
        return next_step_at(view.params, view.opens_at, now)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send, in the round's sequence: an event, or the standing as of `seq`,
    standing also for `replaced` older state messages never sent."""

    seq: int
    event: RoundEvent | None = None
    standing: Standing | None = None
    replaced: int = 0


class FellBehind(Exception):
    """More than the bound of must-arrive events wait unsent: drop the watcher, it resumes from PostgreSQL."""


class Outbox:
    def __init__(self, interval: float = STATE_INTERVAL, bound: int = EVENT_BOUND) -> None:
        self.interval = interval
        self.bound = bound
        self.events: deque[Outgoing] = deque()
        self.state: Outgoing | None = None
        self.last_state_at = float("-inf")

    @property
    def empty(self) -> bool:
        return not self.events and self.state is None

    def put_state(self, seq: int, standing: Standing) -> None:
        """The standing as of event `seq` changed; it replaces an unsent older one."""
        replaced = 0 if self.state is None else self.state.replaced + 1
        self.state = Outgoing(seq, standing=standing, replaced=replaced)

    def put_event(self, seen: RoundEvent) -> None:
        """Queue an event that must arrive (events are put in sequence order)."""
        if self.state is not None:  # the older state leaves first, keeping sequence order
            self.events.append(self.state)
            self.state = None
        self.events.append(Outgoing(seen.seq, event=seen))
        if len(self.events) > self.bound:
            raise FellBehind(f"{len(self.events)} events wait unsent")

    def take(self, now: float) -> tuple[list[Outgoing], float | None]:
        """What to send at `now` (monotonic seconds), and in how many seconds to ask again (None:
        when something is put)."""
        ready = list(self.events)
        self.events.clear()
        if any(item.standing is not None for item in ready):
            self.last_state_at = now
        if self.state is not None:
            due = self.last_state_at + self.interval
            if now < due:
                return ready, due - now
            ready.append(self.state)
            self.state = None
            self.last_state_at = now
        return ready, None
