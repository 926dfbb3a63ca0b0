"""Bids queued on one round in one process are taken together, each answered on its own (`auction.batches`)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.batches import Batches


class Taker:
    """Records each batch; the first one waits for `release`, so that others queue behind it."""

    def __init__(self, refuse: frozenset[int] = frozenset(), breaks: frozenset[int] = frozenset()) -> None:
        self.batches: list[list[int]] = []
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.refuse, self.breaks = refuse, breaks

    async def take(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        self.started.set()
        if len(self.batches) == 1:
            await self.release.wait()
        if self.breaks & set(items):
            raise RuntimeError("this transaction broke")
        return [ValueError(f"refused {i}") if i in self.refuse else i * 10 for i in items]


async def _queue(
    batches: Batches[int, int], taker: Taker, items: list[int], key: str = "round"
) -> list[object]:
    tasks = [asyncio.create_task(batches.take(key, item, taker.take)) for item in items]
    await taker.started.wait()  # the first item is being taken; the rest queued behind it
    taker.release.set()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_bids_queued_while_one_is_taken_are_taken_next_together_in_arrival_order() -> None:
    taker = Taker()
    answers = await _queue(Batches(), taker, [1, 2, 3, 4])
    assert taker.batches == [[1], [2, 3, 4]]
    assert answers == [10, 20, 30, 40]


async def test_a_refused_bid_gets_its_own_refusal_and_the_others_their_answers() -> None:
    taker = Taker(refuse=frozenset({3}))
    answers = await _queue(Batches(), taker, [1, 2, 3, 4])
    assert answers[:2] == [10, 20] and answers[3] == 40
    assert isinstance(answers[2], ValueError) and str(answers[2]) == "refused 3"


async def test_a_batch_that_breaks_is_taken_again_one_by_one_so_only_the_breaker_fails() -> None:
    taker = Taker(breaks=frozenset({3}))
    answers = await _queue(Batches(), taker, [1, 2, 3, 4])
    assert taker.batches == [[1], [2, 3, 4], [2], [3], [4]]
    assert answers[:2] == [10, 20] and answers[3] == 40
    assert isinstance(answers[2], RuntimeError)


async def test_no_batch_is_larger_than_the_limit() -> None:
    taker = Taker()
    await _queue(Batches(limit=2), taker, [1, 2, 3, 4, 5, 6])
    assert taker.batches == [[1], [2, 3], [4, 5], [6]]


async def test_bids_on_different_rounds_are_never_taken_together() -> None:
    batches: Batches[str, str] = Batches()
    seen: list[list[str]] = []

    async def take(items: list[str]) -> list[str | Exception]:
        seen.append(items)
        await asyncio.sleep(0)
        return items

    answers = await asyncio.gather(*(batches.take(item[0], item, take) for item in ["a1", "b1", "a2", "b2"]))
    assert answers == ["a1", "b1", "a2", "b2"]
    assert all(len({item[0] for item in batch}) == 1 for batch in seen)


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=30), st.integers(1, 8))
def test_every_bid_is_answered_once_with_its_own_answer_in_batches_of_arrival_order(
    items: list[int], limit: int
) -> None:
    async def run() -> None:
        taker = Taker(refuse=frozenset(i for i in items if i % 7 == 0))
        answers = await _queue(Batches(limit=limit), taker, items)
        for item, answer in zip(items, answers, strict=True):
            if item % 7 == 0:
                assert isinstance(answer, ValueError)
            else:
                assert answer == item * 10
        taken = [item for batch in taker.batches for item in batch]
        assert taken == items, "each taken once, in arrival order"
        assert all(len(batch) <= limit for batch in taker.batches)

    asyncio.run(run())


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Batches(limit=0)


async def test_a_taker_stopped_mid_batch_finishes_it_and_every_bid_in_it_gets_its_answer() -> None:
    batches: Batches[int, int] = Batches()
    taken: list[list[int]] = []
    started, release = [asyncio.Event(), asyncio.Event()], [asyncio.Event(), asyncio.Event()]

    async def take(items: list[int]) -> list[int | Exception]:
        turn = len(taken)
        taken.append(items)
        started[turn].set()
        await release[turn].wait()
        return [item * 10 for item in items]

    first, taker, waiter = (asyncio.create_task(batches.take("round", item, take)) for item in (1, 2, 3))
    await started[0].wait()  # the first bid is being taken; the other two queue behind it
    release[0].set()
    await started[1].wait()
    taker.cancel()  # the server stopping, while the batch it takes waits for its COMMIT
    release[1].set()
    assert (await first, await waiter) == (10, 30)
    with pytest.raises(asyncio.CancelledError):
        await taker
    assert taken == [[1], [2, 3]], "the stopped taker's batch was taken once, whole"
