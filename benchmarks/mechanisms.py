"""Closing rounds of 10³..10⁶ bids per mechanism, and validate-bid throughput.

Run with `python -m benchmarks.mechanisms` (add `--quick` for 10³ and 10⁴ bids only). Closing is
one pass over the bids, so its time should grow linearly with their number.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from auction.mechanisms import close, close_due_at, commitment_digest, validate_bid
from auction.model import (
    Bid,
    ClockParams,
    Commitment,
    FirstPriceParams,
    Reveal,
    Round,
    RoundParams,
    SoftClose,
    VickreyParams,
)
from rights.terms import Media, Money, Usage

OPENS = datetime(2026, 11, 24, 12, tzinfo=UTC)
HOUR_US = 3_600_000_000
ROUND_ID = UUID(int=1)
SELLER = UUID(int=2)
PLACED_BY = UUID(int=3)
NONCE = "5f" * 16
USAGE = Usage(media=Media.FILM, territories=("WORLD",), term_months=12, start=date(2027, 1, 1))


def make_round(params: RoundParams) -> Round:
    return Round(
        id=ROUND_ID,
        track_id=UUID(int=4),
        seller=SELLER,
        usage=USAGE,
        params=params,
        opens_at=OPENS,
        deadline=OPENS + timedelta(hours=1),
    )


def make_bids(count: int, rng: random.Random) -> list[Bid]:
    money: dict[int, Money] = {}
    bids = []
    for index in range(count):
        amount = rng.randint(1_000, 1_000_000)
        bids.append(
            Bid(
                id=UUID(int=10**7 + index),
                round_id=ROUND_ID,
                bidder=UUID(int=2 * 10**7 + index),
                placed_by=PLACED_BY,
                amount=money.setdefault(amount, Money(amount, "EUR")),
                committed_at=OPENS + timedelta(microseconds=rng.randrange(HOUR_US)),
            )
        )
    return bids


def sealed(bids: Sequence[Bid], reveal_at: datetime) -> tuple[list[Commitment], list[Reveal]]:
    commitments = [
        Commitment(
            id=bid.id,
            round_id=bid.round_id,
            bidder=bid.bidder,
            placed_by=bid.placed_by,
            digest=commitment_digest(bid.amount, NONCE, bid.bidder, bid.round_id),
            committed_at=bid.committed_at,
        )
        for bid in bids
    ]
    reveals = [Reveal(bid_id=bid.id, amount=bid.amount, nonce=NONCE, revealed_at=reveal_at) for bid in bids]
    return commitments, reveals


def timed(action: Callable[..., object], *args: Any, **kwargs: Any) -> float:
    gc.collect()  # so a collection owed to building the bids is not charged to the action
    started = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - started


def close_rows(sizes: Sequence[int], rng: random.Random) -> list[tuple[str, int, float]]:
    reserve = Money(1_000, "EUR")
    rounds = {
        "first price": make_round(FirstPriceParams(reserve=reserve)),
        "vickrey": make_round(VickreyParams(reserve=reserve)),
        "clock": make_round(
            ClockParams(start=Money(10**6, "EUR"), floor=reserve, step=Money(1_000, "EUR"), step_seconds=1)
        ),
    }
    revealed = make_round(VickreyParams(reserve=reserve, reveal_seconds=600))
    rows = []
    for size in sizes:
        bids = make_bids(size, rng)
        for name, round in rounds.items():
            rows.append((name, size, timed(close, round, bids, round.deadline)))
        commitments, reveals = sealed(bids, revealed.deadline)
        seconds = timed(close, revealed, commitments, close_due_at(revealed), reveals=reveals)
        rows.append(("vickrey commit–reveal", size, seconds))
        del bids, commitments, reveals
    return rows


def take_all(round: Round, bids: Sequence[Bid], existing: Sequence[Bid]) -> None:
    for bid in bids:
        round = validate_bid(round, existing, bid, bid.committed_at).round


def validate_rows(count: int, rng: random.Random) -> list[tuple[str, int, float]]:
    reserve = Money(1_000, "EUR")
    soft_close = SoftClose(window_seconds=3_600, extension_seconds=1, max_extensions=10**9)
    rows = []
    for name, params in [
        ("validate bid", VickreyParams(reserve=reserve)),
        ("validate bid, soft close extends", VickreyParams(reserve=reserve, soft_close=soft_close)),
    ]:
        round = make_round(params)
        bids = sorted(make_bids(count, rng), key=lambda bid: bid.committed_at)
        existing = bids[:3]  # the store fetches only bids with the same id or bidder

        rows.append((name, count - 3, timed(take_all, round, bids[3:], existing)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10³ and 10⁴ bids only")
    quick = parser.parse_args().quick
    rng = random.Random(20261124)
    sizes = [10**3, 10**4] if quick else [10**3, 10**4, 10**5, 10**6]
    rows = close_rows(sizes, rng) + validate_rows(10**4 if quick else 10**5, rng)
    print("| what | bids | seconds | bids per second |")
    print("| --- | ---: | ---: | ---: |")
    for name, count, seconds in rows:
        action = name if name.startswith("validate") else f"close {name}"
        print(f"| {action} | {count:,} | {seconds:.3f} | {count / seconds:,.0f} |")


if __name__ == "__main__":
    main()
