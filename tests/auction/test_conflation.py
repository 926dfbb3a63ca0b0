"""Conflation of one watcher's messages: state may be replaced by newer state, events never."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.conflation import FellBehind, Outbox, Outgoing, Standing, is_state
from auction.live import BidTaken, Closed, Revealed, RoundEvent, RoundView
from auction.model import ClockParams, Mechanism, RoundState, VickreyParams
from rights.terms import Media, Money, Usage

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


def view(params: VickreyParams | ClockParams | None = None, *, deadline: datetime = AT) -> RoundView:
    params = params or VickreyParams(reserve=Money(1_000, "EUR"))
    return RoundView(
        id=ROUND, track_id=UUID(int=2), seller=UUID(int=3), mechanism=params.mechanism,
        usage=Usage(media=Media.ONLINE_ADS, territories=("WORLD",), term_months=12, start=date(2027, 1, 1)),
        currency="EUR", params=params, state=RoundState.OPEN, opens_at=AT - timedelta(minutes=5),
        deadline=deadline, deadline_version=1, extensions=0, closes_at=deadline + timedelta(seconds=30),
        bids=0, seq=1, server_time=AT,
    )  # fmt: skip


STANDING = Standing(view(), watchers=1)


def put(outbox: Outbox, seen: RoundEvent) -> None:
    """As the socket does: state for another buyer's bid, an event for the rest."""
    if is_state(seen):
        outbox.put_state(seen.seq, STANDING.applied(seen))
    else:
        outbox.put_event(seen)


def test_another_buyers_bid_is_state_and_an_own_receipt_an_extension_or_a_reveal_are_events() -> None:
    assert is_state(bid(1))
    assert not is_state(bid(1, own=True))
    assert not is_state(bid(1, extended=True))
    assert not is_state(reveal(1))


def test_a_newer_state_replaces_an_unsent_older_one_and_counts_what_it_replaced() -> None:
    outbox = Outbox(interval=0.15)
    put(outbox, bid(1))
    assert [(m.seq, m.replaced) for m in outbox.take(now=10.0)[0]] == [(1, 0)]
    for seq in (2, 3, 4):
        put(outbox, bid(seq))
    ready, wait = outbox.take(now=10.05)
    assert ready == [] and wait == pytest.approx(0.10), "state waits out the interval"
    [sent] = outbox.take(now=10.15)[0]
    assert (sent.seq, sent.replaced) == (4, 2)
    assert sent.standing is not None and sent.standing.state(AT - timedelta(seconds=1)).bids == 4


def test_a_change_in_watchers_is_state_as_of_the_last_event_and_replaces_like_a_bid() -> None:
    outbox = Outbox(interval=0.15)
    put(outbox, bid(1))
    outbox.put_state(1, Standing(STANDING.applied(bid(1)).view, watchers=7))
    [sent] = outbox.take(now=0.0)[0]
    assert sent.seq == 1 and sent.replaced == 1 and sent.standing is not None
    state = sent.standing.state(AT - timedelta(seconds=2))
    assert (state.bids, state.watchers, state.time_left_ms) == (1, 7, 2_000)


def test_an_event_is_sent_at_once_after_the_older_state_it_follows() -> None:
    outbox = Outbox(interval=0.15)
    outbox.take(now=0.0)
    put(outbox, bid(1))
    outbox.take(now=0.0)
    put(outbox, bid(2))
    put(outbox, bid(3, own=True))
    ready, wait = outbox.take(now=0.01)
    assert [(m.seq, m.standing is not None) for m in ready] == [(2, True), (3, False)] and wait is None


def test_a_watcher_with_more_unsent_events_than_its_bound_has_fallen_behind() -> None:
    outbox = Outbox(bound=3)
    for seq in (1, 2, 3):
        outbox.put_event(reveal(seq))
    with pytest.raises(FellBehind):
        outbox.put_event(reveal(4))


def test_time_left_runs_to_the_deadline_then_to_the_close_and_is_zero_once_closed() -> None:
    standing = Standing(view(deadline=AT), watchers=2)
    assert standing.state(AT - timedelta(seconds=3)).time_left_ms == 3_000
    assert standing.state(AT + timedelta(seconds=10)).time_left_ms == 20_000, "the reveal window"
    closed = RoundEvent(round_id=ROUND, seq=2, payload=Closed(closed_at=AT, outcome=None), at=AT)
    assert standing.applied(closed).state(AT - timedelta(seconds=3)).time_left_ms == 0


def test_a_descending_clock_states_its_price_now_and_when_it_next_drops() -> None:
    clock = ClockParams(
        start=Money(10_000, "EUR"), floor=Money(7_000, "EUR"), step=Money(1_000, "EUR"), step_seconds=60
    )
    standing = Standing(view(clock, deadline=AT + timedelta(hours=1)), watchers=1)
    opened = standing.view.opens_at
    assert standing.state(opened + timedelta(seconds=61)).clock_price == Money(9_000, "EUR")
    assert standing.next_price_drop(opened + timedelta(seconds=61)) == opened + timedelta(seconds=120)
    assert standing.next_price_drop(opened + timedelta(minutes=3)) is None, "on its floor"
    assert (
        Standing(view(), 1).next_price_drop(AT) is None and Standing(view(), 1).state(AT).clock_price is None
    )
    assert view(clock).mechanism is Mechanism.CLOCK


kinds = st.lists(st.sampled_from(["state", "own", "extended", "reveal", "watchers"]), min_size=1, max_size=60)
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
    now, seq = 0.0, 0
    for kind, gap, take in zip(kinds, gaps, takes, strict=False):
        if kind == "watchers":  # no event: state as of the last one
            outbox.put_state(seq, Standing(STANDING.view, watchers=len(sent) + 2))
        else:
            seq += 1
            put(outbox, make[kind](seq))
        now += gap
        if take:
            ready, _ = outbox.take(now)
            sent += ready
    while not outbox.empty:  # a state due after the events it follows waits out its interval
        now += 1.0
        sent += outbox.take(now)[0]
    seqs = [m.seq for m in sent]
    assert seqs == sorted(seqs), "in sequence order, never an older state after a newer one"
    events = [m.seq for m in sent if m.event is not None]
    assert events == [s for s, k in enumerate([k for k in kinds if k != "watchers"], 1) if k != "state"]
    assert len(set(events)) == len(events), "every event once"
    states = sum(1 for kind in kinds if kind in ("state", "watchers"))
    assert sum(1 + m.replaced for m in sent if m.standing is not None) == states, (
        "each state sent or replaced"
    )
    if kinds[-1] in ("state", "watchers"):
        assert sent[-1].standing is not None and sent[-1].seq == seq, "the latest state arrives last"
