"""The event-loop watch: stalls logged with the garbage collection inside them; the start-up heap frozen."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace import stalls
from marketplace.stalls import Pause, collected_within


def test_only_the_part_of_a_collection_inside_the_stall_counts() -> None:
    pauses = [Pause(0.0, 1.0, 0), Pause(2.0, 2.5, 2), Pause(4.0, 5.0, 1)]
    assert collected_within(pauses, 0.5, 2.25) == pytest.approx((750.0, 2))
    assert collected_within(pauses, 3.0, 3.5) == (0.0, -1)


@given(
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 10), st.integers(0, 2)), max_size=20),
    st.floats(0, 100),
    st.floats(0, 50),
)
def test_collection_time_within_a_stall_never_exceeds_the_stall(
    spans: list[tuple[float, float, int]], start: float, length: float
) -> None:
    # Collections never overlap each other: lay them end to end from each one's start.
    pauses, at = [], 0.0
    for gap, duration, generation in spans:
        at += gap
        pauses.append(Pause(at, at + duration, generation))
        at += duration
    ms, oldest = collected_within(pauses, start, start + length)
    assert 0 <= ms <= length * 1000 + 1e-6
    assert (oldest == -1) == (ms == 0)


def compute_for(seconds: float) -> None:
    """A handler busy on the event loop: nothing else runs meanwhile."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


class Heard(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.some = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.some.set()


async def test_a_stalled_event_loop_is_logged_with_how_long_it_stalled() -> None:
    heard = Heard()
    logging.getLogger("marketplace.stalls").addHandler(heard)
    watching = asyncio.create_task(stalls.watch_the_loop())
    try:
        await asyncio.sleep(stalls.LOOK_EVERY * 2)  # the watch is looking
        compute_for(stalls.STALL_MS * 2 / 1000)
        await asyncio.wait_for(heard.some.wait(), 5)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        logging.getLogger("marketplace.stalls").removeHandler(heard)
    record = max(heard.records, key=lambda record: record.stalled_ms)
    assert record.stalled_ms >= stalls.STALL_MS
    assert 0 <= record.gc_ms < record.stalled_ms


def test_the_start_up_heap_is_left_out_of_later_collections() -> None:
    thresholds = gc.get_threshold()
    try:
        stalls.freeze_start_up_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == stalls.COLLECTION_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_second_app_in_the_same_process_freezes_nothing_more() -> None:
    thresholds = gc.get_threshold()
    try:
        stalls.freeze_start_up_heap()
        frozen = gc.get_freeze_count()
        left_by_the_first_app = [[] for _ in range(1_000)]
        stalls.freeze_start_up_heap()
        assert gc.get_freeze_count() == frozen, "what the first app left behind stays collectable"
        assert len(left_by_the_first_app) == 1_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
