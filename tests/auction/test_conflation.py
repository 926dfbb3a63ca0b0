"""Conflation of one watcher's messages: state may be replaced by newer state, events never."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.conflation import FellBehind, Outbox, Outgoing, is_state
from auction.live import BidTaken, Revealed, RoundEvent

ROUND = UUID(int=1)
AT = datetime(2027, 1, 1, tzinfo=UTC)


def bid(seq: int, *, own: bool = False, extended: bool = False) -> RoundEvent:
    payload = BidTaken(
        bids=seq, deadline=AT, deadline_version=1, extensions=int(extended), extended=extended,
        closes_at=AT, bid_id=UUID(int=seq) if own else None,
    )  # fmt: skip
    return RoundEvent(round_id=ROUND, seq=seq, payload=payload, at=AT)


def reveal(seq: int) -> RoundEvent:
    return RoundEvent(round_id=ROUND, seq=seq, payload=Revealed(revealed=1), at=AT)


def test_another_buyers_bid_is_state_and_an_own_receipt_an_extension_or_a_reveal_are_events() -> None:
    assert is_state(bid(1))
    assert not is_state(bid(1, own=True))
    assert not is_state(bid(1, extended=True))
    assert not is_state(reveal(1))


def test_a_newer_state_replaces_an_unsent_older_one_and_counts_what_it_replaced() -> None:
    outbox = Outbox(interval=0.15)
    outbox.put(bid(1))
    assert [(m.event.seq, m.replaced) for m in outbox.take(now=10.0)[0]] == [(1, 0)]
    for seq in (2, 3, 4):
        outbox.put(bid(seq))
    ready, wait = outbox.take(now=10.05)
    assert ready == [] and wait == pytest.approx(0.10), "state waits out the interval"
    assert [(m.event.seq, m.replaced) for m in outbox.take(now=10.15)[0]] == [(4, 2)]


def test_an_event_is_sent_at_once_after_the_older_state_it_follows() -> None:
    outbox = Outbox(interval=0.15)
    outbox.take(now=0.0)
    outbox.put(bid(1))
    outbox.take(now=0.0)
    outbox.put(bid(2))
    outbox.put(bid(3, own=True))
    ready, wait = outbox.take(now=0.01)
    assert [(m.event.seq, m.state) for m in ready] == [(2, True), (3, False)] and wait is None


def test_a_watcher_with_more_unsent_events_than_its_bound_has_fallen_behind() -> None:
    outbox = Outbox(bound=3)
    for seq in (1, 2, 3):
        outbox.put(reveal(seq))
    with pytest.raises(FellBehind):
        outbox.put(reveal(4))


kinds = st.lists(st.sampled_from(["state", "own", "extended", "reveal"]), min_size=1, max_size=60)
gaps = st.lists(st.floats(min_value=0, max_value=0.4), min_size=60, max_size=60)


@settings(max_examples=200, deadline=None)
@given(kinds=kinds, gaps=gaps, takes=st.lists(st.booleans(), min_size=60, max_size=60))
def test_messages_leave_in_order_every_event_once_and_the_latest_state_last(
    kinds: list[str], gaps: list[float], takes: list[bool]
) -> None:
    make = {
        "state": lambda s: bid(s),
        "own": lambda s: bid(s, own=True),
        "extended": lambda s: bid(s, extended=True),
        "reveal": reveal,
    }
    outbox = Outbox(interval=0.15, bound=1_000)
    sent: list[Outgoing] = []
    now = 0.0
    for seq, (kind, gap, take) in enumerate(zip(kinds, gaps, takes, strict=False), start=1):
        outbox.put(make[kind](seq))
        now += gap
        if take:
            ready, _ = outbox.take(now)
            sent += ready
    now += 1.0
    sent += outbox.take(now)[0]
    seqs = [m.event.seq for m in sent]
    assert seqs == sorted(set(seqs)), "in sequence order, nothing twice"
    events = [seq for seq, kind in enumerate(kinds, start=1) if kind != "state"]
    assert [m.event.seq for m in sent if not m.state] == events, "every event arrives"
    states = [seq for seq, kind in enumerate(kinds, start=1) if kind == "state"]
    assert sum(1 + m.replaced for m in sent if m.state) == len(states), "each state sent or replaced"
    if kinds[-1] == "state":
        assert sent[-1].state and sent[-1].event.seq == len(kinds), "the latest state arrives"
