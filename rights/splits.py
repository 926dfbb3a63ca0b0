"""Whether the shares of one side add up to more than 100 % anywhere, on any day (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from uuid import UUID

from rights.model import FULL_SHARE_BP, ControlEdge, Period, Right
from rights.territories import describe


def over_full(edges: Sequence[ControlEdge], titles: Mapping[UUID, str]) -> list[str]:
    """For each side and right with more than 100 % in some countries on some day: a sentence saying where.

    A sum of shares can only rise where a share starts, so the start days are the days to look at.
    """
    problems: list[str] = []
    sides: dict[tuple[UUID, Right], list[ControlEdge]] = defaultdict(list)
    for edge in edges:
        sides[edge.subject_id, edge.right].append(edge)
    for (subject_id, right), side in sides.items():
        for start in sorted({e.period.start for e in side}):
            day = Period(start=start, end=start)
            totals: dict[str, int] = {}
            for edge in side:
                if edge.period.overlaps(day):
                    for country in edge.territories.countries():
                        totals[country] = totals.get(country, 0) + edge.share_bp
            over = frozenset(c for c, total in totals.items() if total > FULL_SHARE_BP)
            if over:
                most = max(totals[c] for c in over)
                worst = frozenset(c for c in over if totals[c] == most)
                problems.append(
                    f"the {right.value} shares of {titles.get(subject_id, str(subject_id))!r} add up to "
                    f"{most / 100:g} % in {describe(worst)} "
                    f"from {start}"
                )
                break
    return problems
