"""The 100 % rule every import path meets: shares of one side above 100 % anywhere on any day are found."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from rights.model import ControlEdge, Period, Right
from rights.splits import over_full
from rights.territories import TerritoryScope

SUBJECT = uuid4()


def _edge(share_bp: int, include: tuple[str, ...] = ("WORLD",), start: date = date(2026, 1, 1),
          end: date | None = None) -> ControlEdge:  # fmt: skip
    return ControlEdge(id=uuid4(), party_id=uuid4(), subject_id=SUBJECT, right=Right.MASTER, share_bp=share_bp,
                       territories=TerritoryScope(include=include), period=Period(start=start, end=end))  # fmt: skip


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8))
def test_shares_are_refused_exactly_when_they_sum_above_100_percent(shares: list[int]) -> None:
    problems = over_full([_edge(s) for s in shares], {SUBJECT: "Song"})
    assert bool(problems) == (sum(shares) > 10_000)


def test_the_sentence_names_the_worst_countries_and_the_day() -> None:
    edges = [_edge(6_000), _edge(6_000, ("DE",), start=date(2026, 3, 1))]
    assert over_full(edges, {SUBJECT: "Song"}) == [
        "the master shares of 'Song' add up to 120 % in DE from 2026-03-01"
    ]


def test_shares_in_periods_that_do_not_meet_do_not_add_up() -> None:
    edges = [_edge(10_000, end=date(2026, 12, 31)), _edge(10_000, start=date(2027, 1, 1))]
    assert over_full(edges, {SUBJECT: "Song"}) == []
