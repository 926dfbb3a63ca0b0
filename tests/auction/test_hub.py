"""A round's hub: each event applied once and handed only to the sockets that must get it, the state
encoded once per tick for everyone owed it, and every watcher's messages in order and complete."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import asyncpg
import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from auction import conflation
from auction.hub import WAKE_BATCH, Hub, Watcher
from auction.live import BidTaken, Revealed, RoundEvent, RoundView
from auction.model import RoundState, VickreyParams
from rights.identity import Principal, Role
from rights.terms import Media, Money, Usage

SELLER = UUID(int=3)
ALICE, BOB, CAROL = UUID(int=10), UUID(int=11), UUID(int=12)  # buyers' organisations
AT = datetime(2027, 1, 1, tzinfo=UTC)


def principal(organisation: UUID) -> Principal:
    return Principal(
        user_id=uuid4(),
        organisation_id=organisation,
        role=Role.BUYER,
        email="b@example.test",
        display_name="B",
    )


def view(round_id: UUID) -> RoundView:
    params = VickreyParams(reserve=Money(1_000, "EUR"))
    return RoundView(
        id=round_id, track_id=UUID(int=2), seller=SELLER, mechanism=params.mechanism,
        usage=Usage(media=Media.ONLINE_ADS, territories=("WORLD",), term_months=12, start=date(2027, 1, 1)),
        currency="EUR", params=params, state=RoundState.OPEN, opens_at=AT - timedelta(minutes=5),
        deadline=AT + timedelta(days=1), deadline_version=1, extensions=0, closes_at=AT + timedelta(days=1),
        bids=0, seq=1, server_time=AT,
    )  # fmt: skip


def bid(hub: Hub, seq: int, bidder: UUID, *, extended: bool = False) -> RoundEvent:
    payload = BidTaken(
        bids=seq - 1, deadline=AT, deadline_version=1 + int(extended), extensions=int(extended), extended=extended,
        closes_at=AT, bid_id=UUID(int=1_000 + seq), bidder=bidder, amount=Money(2_000 + seq, "EUR"),
    )  # fmt: skip
    return RoundEvent(round_id=hub.round_id, seq=seq, payload=payload, at=AT)


def reveal(hub: Hub, seq: int) -> RoundEvent:
    payload = Revealed(revealed=1, bid_id=UUID(int=seq), bidder=CAROL, amount=Money(5, "EUR"))
    return RoundEvent(round_id=hub.round_id, seq=seq, payload=payload, at=AT)


def new_hub() -> Hub:
    """A hub of its own round (frames are shared per process by round and seq)."""
    return Hub(uuid4(), cast(asyncpg.Pool, None), on_empty=lambda _: None)


def join(hub: Hub, organisation: UUID) -> Watcher:
    watcher = Watcher(principal(organisation), SELLER, seq=1)
    hub.add(watcher, view(hub.round_id), watchers=3)
    return watcher


def drain(watcher: Watcher) -> list[dict[str, Any]]:
    frames = []
    while (item := watcher.outbox.take()) is not None:
        frames.append(msgspec.json.decode(item.data))
    return frames


def test_another_buyers_bid_touches_no_socket_until_the_tick_and_then_one_encoding_serves_all() -> None:
    hub = new_hub()
    watchers = [join(hub, BOB) for _ in range(50)]
    for seq in (2, 3, 4):
        hub.pass_on(bid(hub, seq, CAROL))
    assert all(w.outbox.idle for w in watchers), "nothing queued per socket for another buyer's bid"
    hub.due_states()
    sent = {w.outbox.items[0].data for w in watchers}
    assert len(sent) == 1, "the same bytes for every socket owed the same"
    [frame] = drain(watchers[0])
    assert (frame["type"], frame["seq"], frame["replaced"], frame["state"]["bids"]) == ("state", 4, 2, 3)


def test_a_small_rooms_state_goes_out_as_the_bid_is_heard_then_no_sooner_than_the_interval() -> None:
    hub = new_hub()
    watchers = [join(hub, BOB) for _ in range(WAKE_BATCH)]
    hub.take_live(bid(hub, 2, CAROL))
    assert all([f["seq"] for f in drain(w)] == [2] for w in watchers), "no wait for the tick task"
    hub.take_live(bid(hub, 3, CAROL))
    assert all(w.outbox.idle for w in watchers), "conflated until STATE_INTERVAL has passed"
    hub.last_tick -= conflation.STATE_INTERVAL
    hub.take_live(bid(hub, 4, CAROL))
    [frame] = drain(watchers[0])
    assert (frame["seq"], frame["replaced"], frame["state"]["bids"]) == (4, 1, 3)


def test_a_crowds_state_is_left_to_the_tick_which_wakes_its_writers_a_batch_at_a_time() -> None:
    hub = new_hub()
    watchers = [join(hub, BOB) for _ in range(WAKE_BATCH + 1)]
    hub.take_live(bid(hub, 2, CAROL))
    assert all(w.outbox.idle for w in watchers)
    assert hub.ticks.is_set()


def test_a_receipt_goes_only_to_its_bidders_sockets_after_the_state_they_were_owed() -> None:
    hub = new_hub()
    alice, bob = join(hub, ALICE), join(hub, BOB)
    hub.pass_on(bid(hub, 2, CAROL))
    hub.pass_on(bid(hub, 3, ALICE))
    assert bob.outbox.idle
    state, receipt = drain(alice)
    assert (state["type"], state["seq"], state["replaced"]) == ("state", 2, 0)
    assert (receipt["type"], receipt["seq"], receipt["event"]["amount"]["amount"]) == ("event", 3, 2_003)
    hub.due_states()
    [bobs] = drain(bob)
    assert (bobs["type"], bobs["seq"], bobs["replaced"], "amount" in json(bobs)) == ("state", 3, 1, False)
    assert alice.outbox.idle, "the receipt told alice all there was"


def test_a_slow_socket_with_events_unsent_does_not_hold_back_the_others_state() -> None:
    hub = new_hub()
    slow, quick = join(hub, ALICE), join(hub, BOB)
    hub.pass_on(bid(hub, 2, ALICE))  # the slow socket's own receipt, never taken
    hub.pass_on(bid(hub, 3, CAROL))
    hub.due_states()
    assert [f["seq"] for f in drain(quick)] == [3]
    assert [item.seq for item in slow.outbox.items] == [2], "the slow one gets the state once caught up"


def json(frame: dict[str, Any]) -> str:
    return msgspec.json.encode(frame).decode()


actions = st.lists(
    st.sampled_from(["alice bids", "bob bids", "carol bids", "extension", "reveal", "watchers", "tick",
                     "alice sends", "bob sends"]),
    min_size=1, max_size=80,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(actions=actions)
def test_each_watcher_gets_its_events_once_in_order_and_every_state_change_sent_or_counted(
    actions: list[str],
) -> None:
    hub = new_hub()
    watchers = {"alice": join(hub, ALICE), "bob": join(hub, BOB)}
    frames: dict[str, list[dict[str, Any]]] = {name: [] for name in watchers}
    must_arrive: dict[str, list[int]] = {name: [] for name in watchers}
    state_changes = dict.fromkeys(watchers, 0)
    seq, count = 1, 3
    for action in actions:
        if action == "tick":
            hub.due_states()
        elif action.endswith("sends"):
            name = action.split()[0]
            frames[name] += drain(watchers[name])
        elif action == "watchers":
            count += 1
            hub.on_watchers(count)
            for name in watchers:
                state_changes[name] += 1
        else:
            seq += 1
            bidder = {"alice bids": ALICE, "bob bids": BOB}.get(action, CAROL)
            event = (
                reveal(hub, seq)
                if action == "reveal"
                else bid(hub, seq, bidder, extended=action == "extension")
            )
            hub.pass_on(event)
            for name, organisation in (("alice", ALICE), ("bob", BOB)):
                if action in ("extension", "reveal") or organisation == bidder:
                    must_arrive[name].append(seq)
                else:
                    state_changes[name] += 1
    for name, watcher in watchers.items():  # each writer catches up, then the tick sends what it is owed
        frames[name] += drain(watcher)
    hub.due_states()
    for name, watcher in watchers.items():
        frames[name] += drain(watcher)
        seqs = [f["seq"] for f in frames[name]]
        assert seqs == sorted(seqs), "in sequence order, never an older state after a newer one"
        assert [f["seq"] for f in frames[name] if f["type"] == "event"] == must_arrive[name], (
            "each event once"
        )
        states = [f for f in frames[name] if f["type"] == "state"]
        assert sum(1 + f["replaced"] for f in states) == state_changes[name], (
            "each state change sent or counted"
        )
        if state_changes[name]:
            assert frames[name][-1]["seq"] == seq, "current at the end"
            assert states[-1]["state"]["watchers"] == count
