"""What one watcher is sent next: state conflated, events never.

A bid that is not the watcher's own and does not move the deadline only changes state where the
latest value is all that matters (the bid count, the deadline and time left). Such a state update
waits at most `interval` seconds and is replaced by a newer one while it waits, so a round with
a thousand watchers and a hundred bids a second sends each watcher a handful of state messages
a second instead of every bid. Everything else (the watcher's own receipt, a deadline extension,
a reveal, the opening, the close and award, negotiation moves) must each arrive, in order.

Messages leave in sequence order: a pending state is sent before a later event, never after it.
A watcher whose unsent events exceed `bound` has fallen behind: it is dropped and resumes from
PostgreSQL with `after=<last seq sent>`. Pure: the caller passes `now` (monotonic seconds).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from auction.live import BidTaken, RoundEvent

STATE_INTERVAL = 0.15  # seconds between two state messages to one watcher
EVENT_BOUND = 256  # unsent must-arrive events before a watcher counts as fallen behind


def is_state(seen: RoundEvent) -> bool:
    """Whether `seen` (an event as shown to one watcher) only updates state a newer one supersedes."""
    payload = seen.payload
    return isinstance(payload, BidTaken) and payload.bid_id is None and not payload.extended


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: an event, or a state update standing for `replaced` older ones too."""

    event: RoundEvent
    state: bool = False
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

    def put(self, seen: RoundEvent) -> None:
        """Queue the next event shown to this watcher (events arrive in sequence order)."""
        if is_state(seen):
            replaced = 0 if self.state is None else self.state.replaced + 1
            self.state = Outgoing(seen, state=True, replaced=replaced)
            return
        if self.state is not None:  # the older state leaves first, keeping sequence order
            self.events.append(self.state)
            self.state = None
        self.events.append(Outgoing(seen))
        if len(self.events) > self.bound:
            raise FellBehind(f"{len(self.events)} events wait unsent")

    def take(self, now: float) -> tuple[list[Outgoing], float | None]:
        """What to send at `now`, and in how many seconds to ask again (None: when something is put)."""
        ready = list(self.events)
        self.events.clear()
        if any(item.state for item in ready):
            self.last_state_at = now
        if self.state is not None:
            due = self.last_state_at + self.interval
            if now < due:
                return ready, due - now
            ready.append(self.state)
            self.state = None
            self.last_state_at = now
        return ready, None
