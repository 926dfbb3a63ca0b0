"""Work queued on one key in this process, taken together: bids on one round share its lock and COMMIT.

A bid holds its round's row lock until its COMMIT has flushed the WAL, and on a busy round the next bid
waits for that flush (6–7 ms of a bid's 8–10 ms under the lock on a busy machine). Bids on the same
round that arrive in this process meanwhile are taken by the next one to get its turn, in one
transaction: one lock, one insert each, one flush for all. Each caller still gets its own answer (its
receipt or its own refusal) only after that COMMIT; a batch that fails as a whole is taken again one
item at a time, so a request that breaks a transaction fails alone.

The caller whose turn takes a batch may be cancelled meanwhile (the server shutting down). Its batch is
finished all the same, and every caller answered by what happened, before the cancellation goes on: a
COMMIT that its sender stops waiting for may still take effect, so a batch stopped part-way could only
guess, and might tell a bidder "not taken" of a bid that was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
Take = Callable[[list[Item]], Awaitable[list[Result | Exception]]]


@dataclass
class _Queued(Generic[Item, Result]):
    item: Item
    answer: asyncio.Future[Result] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Line(Generic[Item, Result]):
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: list[_Queued[Item, Result]] = field(default_factory=list)
    callers: int = 0


class Batches(Generic[Item, Result]):
    """`await batches.take(key, item, take)`: `take(items)` runs for this item and every other queued on
    `key` when its turn comes (in arrival order, at most `limit` together), one after another per key,
    and answers one result or exception per item, in order."""

    def __init__(self, limit: int = 50) -> None:
        if limit < 1:
            raise ValueError("a batch takes at least one item")
        self.limit = limit
        self._lines: dict[Hashable, _Line[Item, Result]] = {}

    async def take(self, key: Hashable, item: Item, take: Take[Item, Result]) -> Result:
        line = self._lines.setdefault(key, _Line())
        queued: _Queued[Item, Result] = _Queued(item)
        line.waiting.append(queued)
        line.callers += 1
        try:
            async with line.turn:
                if not queued.answer.done():
                    batch, line.waiting = line.waiting[: self.limit], line.waiting[self.limit :]
                    await _outlast(_answer(batch, take))
        except asyncio.CancelledError:
            if queued.answer.done():  # answered, but nobody is left to hear it: no error to log at exit
                queued.answer.exception()
            raise
        finally:
            line.callers -= 1
            if line.callers == 0:
                del self._lines[key]
        return queued.answer.result()


async def _outlast(work: Coroutine[object, object, None]) -> None:
    """Run `work` to its end even if the caller is cancelled meanwhile; then let the cancellation on."""
    running = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not running.done():
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError as cancellation:
            cancelled = cancellation
    running.result()
    if cancelled is not None:
        raise cancelled


async def _answer(batch: list[_Queued[Item, Result]], take: Take[Item, Result]) -> None:
    try:
        answers = await take([queued.item for queued in batch])
        if len(answers) != len(batch):
            raise RuntimeError(f"{len(answers)} answers for {len(batch)} items")
    except Exception as failure:
        if len(batch) > 1:  # each alone, so that whatever broke the transaction fails only its sender
            for queued in batch:
                await _answer([queued], take)
            return
        answers = [failure]
    for queued, answer in zip(batch, answers, strict=True):  # lengths checked above
        if isinstance(answer, Exception):
            queued.answer.set_exception(answer)
        else:
            queued.answer.set_result(answer)
