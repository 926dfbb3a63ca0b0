"""Conflation of one watcher's messages: state may be replaced by newer state, events never."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.conflation import FellBehind, Outbox, Outgoing, Standing, due_states, is_state
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


def test_another_buyers_bid_is_state_and_an_own_receipt_an_extension_or_a_reveal_are_events() -> None:
    assert is_state(bid(1))
    assert not is_state(bid(1, own=True))
    assert not is_state(bid(1, extended=True))
    assert not is_state(reveal(1))


def test_a_state_message_stands_for_every_state_change_the_watcher_was_not_told_of() -> None:
    outbox = Outbox(told=3)
    assert outbox.unsent_states(version=7) == 4
    outbox.put_state(5, b"state", version=7)
    assert outbox.unsent_states(version=7) == 0 and outbox.unsent_states(version=8) == 1
    assert outbox.take() == Outgoing(5, b"state", event=False) and outbox.idle


def test_an_event_tells_the_watcher_the_round_as_of_itself() -> None:
    outbox = Outbox(told=2)
    outbox.put_event(4, b"receipt", version=3)
    assert outbox.unsent_states(version=3) == 0


def test_a_watcher_with_more_unsent_events_than_its_bound_has_fallen_behind() -> None:
    outbox = Outbox(bound=3)
    for seq in (1, 2, 3):
        outbox.put_event(seq, b"event", version=0)
    outbox.put_state(3, b"state", version=1)  # state never counts against the bound
    with pytest.raises(FellBehind):
        outbox.put_event(4, b"event", version=1)


def test_a_tick_groups_idle_watchers_by_what_they_are_owed_and_skips_busy_ones() -> None:
    current, behind, busy, told = Outbox(told=10), Outbox(told=7), Outbox(told=7), Outbox(told=6)
    busy.put_event(3, b"event", version=7)
    groups = due_states(
        [("current", current), ("behind", behind), ("busy", busy), ("told", told)], version=10
    )
    assert groups == {2: ["behind"], 3: ["told"]}


@settings(max_examples=200, deadline=None)
@given(told=st.lists(st.integers(min_value=0, max_value=20), max_size=40), version=st.integers(0, 20))
def test_every_idle_watcher_owed_state_is_in_exactly_one_group_with_its_replaced_count(
    told: list[int], version: int
) -> None:
    outboxes = [(i, Outbox(told=min(t, version))) for i, t in enumerate(told)]
    groups = due_states(outboxes, version)
    grouped = sorted(i for members in groups.values() for i in members)
    assert grouped == [i for i, outbox in outboxes if outbox.told < version]
    for replaced, members in groups.items():
        assert all(version - outboxes[i][1].told == replaced + 1 for i in members)


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
