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
PostgreSQL with `after=<last seq sent>`. Pure: the caller passes `now`; `auction.hub` does the
sending, one tick per round for all its watchers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

import msgspec

from auction.clock import next_step_at, price_at
from auction.live import BidTaken, Closed, LiveState, Revealed, RoundEvent, RoundView
from auction.model import ClockParams, RoundState

STATE_INTERVAL = 0.15  # seconds between two state messages to one watcher
EVENT_BOUND = 256  # unsent must-arrive events before a watcher counts as fallen behind

K = TypeVar("K")


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


class Outgoing(NamedTuple):  # a tuple: a tick makes one for each of a thousand watchers
    """One encoded message to send, in the round's sequence: an event that must arrive, or the
    round's state as of `seq` (standing also for the state changes it replaced)."""

    seq: int
    data: bytes
    event: bool


class FellBehind(Exception):
    """More than the bound of must-arrive events wait unsent: drop the watcher, it resumes from PostgreSQL."""


class Outbox:
    """One watcher's messages not yet sent, in sequence order, and how many of the round's state
    changes (counted by the round, one `version` each) it has been told of: sent or queued as state,
    or carried by an event it was sent instead.

    The round's state is shared by every watcher: a state message is encoded once for all watchers
    owed the same number of changes (`due_states`), so only `replaced` differs between them."""

    def __init__(self, bound: int = EVENT_BOUND, told: int = 0) -> None:
        self.bound = bound
        self.told = told
        self.items: deque[Outgoing] = deque()
        self.events = 0  # must-arrive events among the items

    @property
    def idle(self) -> bool:
        return not self.items

    def unsent_states(self, version: int) -> int:
        """State changes up to `version` this watcher was not told of: a state message stands for
        them all, replacing all but the newest."""
        return version - self.told

    def put_state(self, seq: int, data: bytes, version: int) -> None:
        """Queue the state as of event `seq`, which is the round's `version`."""
        self.items.append(Outgoing(seq, data, event=False))
        self.told = version

    def put_event(self, seq: int, data: bytes, version: int) -> None:
        """Queue an event that must arrive (in sequence order); after it the watcher knows the round
        as of `version`. Any state change unsent before it must be queued first (`put_state`)."""
        self.items.append(Outgoing(seq, data, event=True))
        self.told = version
        self.events += 1
        if self.events > self.bound:
            raise FellBehind(f"{self.events} events wait unsent")

    def take(self) -> Outgoing | None:
        if not self.items:
            return None
        item = self.items.popleft()
        if item.event:
            self.events -= 1
        return item


def due_states(outboxes: Iterable[tuple[K, Outbox]], version: int) -> dict[int, list[K]]:
    """Who gets a state message at a tick, grouped by how many state changes it replaces: those
    owed some, with nothing else waiting (a watcher still sending gets the newest state once it has
    caught up, never a state behind its queued events)."""
    groups: dict[int, list[K]] = {}
    for key, outbox in outboxes:
        unsent = outbox.unsent_states(version)
        if unsent > 0 and outbox.idle:
            groups.setdefault(unsent - 1, []).append(key)
    return groups
