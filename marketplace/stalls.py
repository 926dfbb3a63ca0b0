"""This process's event loop, watched for stalls, and its start-up heap kept out of the collector's way.

While the loop is stalled nobody is answered: a bid's acknowledgement waits however long the stall
lasts. A stall of `STALL_MS` or more is logged (logger `marketplace.stalls`) with the part of it that
Python's cyclic garbage collector took, which with a few thousand sockets was most of the long ones:
a full collection walked every object the process ever imported (modules, the app, its routes),
hundreds of milliseconds on a shared core. `freeze_start_up_heap` moves those objects, which live as
long as the process, into the permanent generation once the server has started, so each full
collection walks only what came after (sockets, requests), and sets `COLLECTION_THRESHOLDS` so that
full collections come rarely.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

log = logging.getLogger("marketplace.stalls")

LOOK_EVERY = 0.02  # seconds between two looks at the loop
STALL_MS = 50.0  # a loop late by this much is logged
KEPT_PAUSES = 256
# Young collections every 10,000 net allocations rather than 700, so that what is briefly alive (a
# tick's thousand sends, a crowd of bids in flight) is not promoted to the old generation; and full
# collections considered after 100 middle ones rather than 10: each walks every socket's objects.
COLLECTION_THRESHOLDS = (10_000, 10, 100)


class Pause(NamedTuple):
    """One garbage collection: when it started and ended (`time.perf_counter` seconds), its generation."""

    started: float
    ended: float
    generation: int


def collected_within(pauses: Iterable[Pause], start: float, end: float) -> tuple[float, int]:
    """Milliseconds of garbage collection between `start` and `end`, and the oldest generation
    collected then (-1 if none)."""
    ms, oldest = 0.0, -1
    for pause in pauses:
        overlap = min(end, pause.ended) - max(start, pause.started)
        if overlap > 0:
            ms += overlap * 1000
            oldest = max(oldest, pause.generation)
    return ms, oldest


class Collections:
    """The latest garbage collections of this process, as `gc.callbacks` reports them."""

    def __init__(self) -> None:
        self.pauses: deque[Pause] = deque(maxlen=KEPT_PAUSES)
        self.started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append(Pause(self.started, time.perf_counter(), info["generation"]))


def freeze_start_up_heap() -> None:
    """Collect once, then leave everything alive now (imports, the app) out of later collections,
    and collect less often (`COLLECTION_THRESHOLDS`). Once a process: a later app in the same process
    (the tests make many) would freeze what the earlier ones leave behind, never to be collected."""
    if gc.get_freeze_count() > 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTION_THRESHOLDS)


async def watch_the_loop() -> None:
    """Look at the loop every `LOOK_EVERY` seconds and log each stall of `STALL_MS` or more."""
    collections = Collections()
    gc.callbacks.append(collections)
    try:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LOOK_EVERY)
            after = time.perf_counter()
            stalled_ms = (after - before - LOOK_EVERY) * 1000
            if stalled_ms >= STALL_MS:
                gc_ms, generation = collected_within(collections.pauses, before + LOOK_EVERY, after)
                log.warning(
                    "the event loop stalled",
                    extra={
                        "stalled_ms": round(stalled_ms, 1),
                        "gc_ms": round(gc_ms, 1),
                        "gc_generation": generation,
                    },
                )
    finally:
        gc.callbacks.remove(collections)
