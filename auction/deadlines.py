"""How long the worker's deadline loop sleeps before it looks again for rounds to close."""

from __future__ import annotations

LONGEST_SLEEP_SECONDS = 1.0
"""What a lost wake-up can cost: a new round's close time is announced over Redis, but read from PostgreSQL."""

HELD_ROUND_RETRY_SECONDS = 0.02
"""A round already due but held (a bid committing, another worker closing it) is looked at again this soon."""


def sleep_before_next_look(seconds_until_next_close: float | None) -> float:
    """Sleep until the soonest open round is due, by the database's clock (None: no round is open), but
    never longer than `LONGEST_SLEEP_SECONDS`, and only briefly when one is due but was held."""
    if seconds_until_next_close is None:
        return LONGEST_SLEEP_SECONDS
    if seconds_until_next_close <= 0:
        return HELD_ROUND_RETRY_SECONDS
    return min(seconds_until_next_close, LONGEST_SLEEP_SECONDS)
