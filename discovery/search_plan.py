"""How a nearest-neighbour search is run: how many catalogue rows a filter keeps, and index, range or exact scan.

pgvector 0.6 applies WHERE filters after its HNSW scan and yields at most `hnsw.ef_search` rows, so
a filter that keeps 5 % of the catalogue must take about 20 × k rows from the index, and one that
keeps a few hundred rows is cheaper to scan exactly. A filter naming a mood walks that mood's own
graph (migration 0088), so only the rest of the filter is over-fetched for. A filter naming a tempo
range or a key can instead score every track in that range, read with its vector from one btree
(migration 0090; a mood in a tempo window from the (mood, bpm) one, migration 0092): cheaper than
either for the few thousand rows of a narrow tempo window, a mood in one, or one key at 100,000
tracks, dearer than the graph for the wide ranges of 1,000,000. Each plan's cost is estimated in
rows scored exactly and the cheapest is run. The fraction a filter keeps is estimated the way PostgreSQL's
planner does (most common values, histograms, conditions independent) from the statistics ANALYZE
keeps, read once in a while instead of asking the planner on every query. An estimate only chooses
the plan: an index or range answer that comes up short is redone exactly.
"""

from __future__ import annotations

import itertools
import math
import statistics as stats
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import msgspec
import numpy as np
import numpy.typing as npt

from discovery.model import (
    CatalogueStatistics,
    ColumnStatistics,
    GraphCalibration,
    Mood,
    NearestPlan,
    RecallMeasurement,
    SearchFilters,
)

# Scoring a matching row exactly (found through the filters' btrees, its embedding looked up by key)
# costs 2.5 µs of CPU; a search weighing candidates in the graphs of migrations 0087–0088 (m = 32)
# costs 11–16 µs a candidate, all in: 5.4 ms for 504 in the whole graph and 10.2 ms for 760 at
# 100,000 tracks, 4.1 ms for about 250 in the tense graph at 1,000,000 on a quiet machine
# (docs/benchmarks.md). So at or below this many matching rows per candidate the index would weigh,
# the exact scan is the cheaper, and it is always complete. (It was 2, from the difference between
# two walks of the small tense graph at 100,000: the candidates added to a walk, not a walk's cost.)
EXACT_ROWS_PER_CANDIDATE = 4.0
# Reading a row of a tempo range, a key or a mood in a tempo range from its btree, its vector beside
# it (migrations 0090, 0092), and scoring it costs about a tenth of scoring a row exactly: 0.18–0.24
# µs of CPU against 2.5 µs, measured at 100,000 tracks for the 5,000 of a tempo window, the 3,300 of
# one key and the 500 of a mood in a tempo window (docs/benchmarks.md).
RANGE_ROWS_PER_EXACT_ROW = 10.0
HNSW_MAX_EF_SEARCH = 1_000  # pgvector's ceiling for hnsw.ef_search
# The fewest candidates the index weighed for recall@10 of at least 0.995 (a margin over the 0.99
# wanted), by catalogue size, on the graph of migration 0087 (benchmarks.discovery,
# docs/benchmarks.md; at 100,000: 0.990 at 40, 1.000 at 64; at 1,000,000: 0.989 at 200, 0.999 at
# 400). A graph search needs more of them the more rows it passes on its way, about in proportion to
# the logarithm of their number. Measured on vectors that vary alike in all 47 directions, the
# hardest case: the graph's recall on the catalogue itself, once measured, replaces this.
RECALL_EF_SEARCH = ((100_000, 64), (1_000_000, 400))
# The graph's recall@10 is measured on the catalogue itself (service.calibrate_graph) at these
# ef_search values, with this many of its tracks as queries, and the fewest candidates that reached
# the wanted recall are weighed from then on. It is measured again once the catalogue has changed
# by a tenth or in a week (edits wear a graph), and a measurement is trusted only while the
# catalogue has grown by less than a quarter: the job, hourly, measures again well before.
CALIBRATION_EF_SEARCH = (20, 40, 64, 100, 200, 400, 700, 1_000)
CALIBRATION_QUERIES = 100
CALIBRATION_K = 10
CALIBRATED_RECALL = 0.995  # the same margin over 0.99 as RECALL_EF_SEARCH
MIN_CALIBRATION_ROWS = 500  # smaller graphs: the table's 64 candidates are an eighth of them or more
RECALIBRATE_AFTER_CHANGE = 0.1
RECALIBRATE_AFTER = timedelta(days=7)
CALIBRATION_HOLDS_FOR_GROWTH = 1.25
# How many of the rows taken from the index pass a filter is binomial. Enough are taken that fewer
# than k pass in at most one search in 1,000: a short answer is redone exactly, which for a filter
# keeping 5 % costs five times the index search and set the p99. At least twice k either way:
# tracks being analysed again keep their embedding but are not 'done'.
SHORT_ANSWER_CHANCE = 1e-3
MIN_OVER_FETCH = 2.0


def narrows(filters: SearchFilters) -> bool:
    """Whether the filters keep a fraction of the catalogue (a handful of exclusions does not)."""
    return msgspec.structs.replace(filters, exclude=frozenset()) != SearchFilters()


def _share_below(bounds: tuple[float, ...], value: float) -> float:
    """The share of a histogram's values below `value`, linear within a bucket."""
    if value <= bounds[0]:
        return 0.0
    if value >= bounds[-1]:
        return 1.0
    bucket = bisect_right(bounds, value) - 1
    low, high = bounds[bucket], bounds[bucket + 1]
    within = (value - low) / (high - low) if high > low else 1.0
    return (bucket + within) / (len(bounds) - 1)


def _others(column: ColumnStatistics) -> float:
    """The share of rows neither null nor one of the most common values."""
    return max(0.0, 1.0 - column.null_fraction - sum(column.common_frequencies))


def equal_share(column: ColumnStatistics | None, value: str, rows: float) -> float:
    """The share of rows whose column equals `value` (as text); 1 when the column was never analysed."""
    if column is None:
        return 1.0
    if value in column.common_values:
        return column.common_frequencies[column.common_values.index(value)]
    distinct = column.distinct if column.distinct >= 0 else -column.distinct * max(rows, 0.0)
    uncommon = distinct - len(column.common_values)
    return min(1.0, _others(column) / uncommon) if uncommon >= 1 else 0.0


def between_share(column: ColumnStatistics | None, low: float | None, high: float | None) -> float:
    """The share of rows whose numeric column lies in [low, high] (None: unbounded on that side)."""
    if column is None:
        return 1.0
    lowest = -math.inf if low is None else low
    highest = math.inf if high is None else high
    if lowest > highest:
        return 0.0
    common = sum(
        share
        for value, share in zip(column.common_values, column.common_frequencies, strict=True)
        if lowest <= float(value) <= highest
    )
    spread = 1.0
    if len(column.histogram) >= 2:
        spread = _share_below(column.histogram, highest) - _share_below(column.histogram, lowest)
    return min(1.0, common + spread * _others(column))


def names_a_range(filters: SearchFilters) -> bool:
    """Whether the filters name a tempo bound or a key, which a range scan reads (migration 0090)."""
    return filters.bpm_min is not None or filters.bpm_max is not None or filters.key is not None


def range_mood(filters: SearchFilters) -> Mood | None:
    """The mood a range scan reads with the tempo range from the (mood, bpm) btree (migration 0092), if any.

    A mood narrows the range beside a tempo bound and no key. With a key, the key's btree is read
    and the mood applied to the nearest rows afterwards: no btree holds all three, and one key holds
    about a 24th of a catalogue, a mood about a quarter (the benchmark's rarest a 20th), a row of
    either btree costing the same to read.
    """
    bounded = filters.bpm_min is not None or filters.bpm_max is not None
    return filters.mood if bounded and filters.key is None else None


def range_share(statistics: CatalogueStatistics, filters: SearchFilters) -> float:
    """The share of the catalogue in the range a range scan reads: the filters' tempo range, and their
    key or (see range_mood) mood; 1 when they name no range."""
    columns, rows = statistics.columns, statistics.rows
    share = 1.0
    if filters.bpm_min is not None or filters.bpm_max is not None:
        share *= between_share(columns.get("bpm"), filters.bpm_min, filters.bpm_max)
    if filters.key is not None:
        share *= equal_share(columns.get("key_tonic"), str(filters.key.tonic), rows)
        share *= equal_share(columns.get("mode"), filters.key.mode.value, rows)
    mood = range_mood(filters)
    if mood is not None:
        share *= equal_share(columns.get("mood"), mood.value, rows)
    return share


def matching_share(statistics: CatalogueStatistics, filters: SearchFilters) -> float:
    """The share of the catalogue expected to pass the filters (and be analysed), conditions independent."""
    columns, rows = statistics.columns, statistics.rows
    share = equal_share(columns.get("status"), "done", rows) * range_share(statistics, filters)
    if filters.mode is not None:
        share *= equal_share(columns.get("mode"), filters.mode.value, rows)
    if filters.mood is not None and range_mood(filters) is None:  # else counted in the range's share
        share *= equal_share(columns.get("mood"), filters.mood.value, rows)
    if filters.duration_min is not None or filters.duration_max is not None:
        share *= between_share(columns.get("duration_s"), filters.duration_min, filters.duration_max)
    if filters.instrumental is not None:
        instrumental = columns.get("instrumental")
        share *= (
            between_share(instrumental, 0.5, None)
            if filters.instrumental
            else between_share(instrumental, None, 0.5)
        )
    if filters.track_ids is not None and rows > 0:
        share *= min(1.0, len(filters.track_ids) / rows)
    return share


def recall_ef_search(rows: float | None) -> int:
    """ef_search for recall@10 of 0.99 at this many catalogue rows (None or negative: not known).

    Interpolated on the logarithm of the size between measured sizes and extrapolated beyond them,
    never below the smallest measurement's value; an unknown size is taken as the largest measured.
    """
    small_rows, small_ef = RECALL_EF_SEARCH[0]
    if rows is None or rows < 0:
        return RECALL_EF_SEARCH[-1][1]
    if rows <= small_rows:
        return small_ef
    brackets = list(itertools.pairwise(RECALL_EF_SEARCH))
    # The two measured sizes either side, or beyond the largest the last two, extrapolated.
    (low_rows, low_ef), (high_rows, high_ef) = next((b for b in brackets if rows <= b[1][0]), brackets[-1])
    along = math.log(rows / low_rows) / math.log(high_rows / low_rows)
    return min(HNSW_MAX_EF_SEARCH, math.ceil(low_ef + along * (high_ef - low_ef)))


def recall(found: Sequence[UUID], truth: Sequence[UUID]) -> float:
    """The share of the true nearest tracks a search found."""
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def directions_like(vectors: npt.NDArray[np.float64], random: np.random.Generator) -> npt.NDArray[np.float64]:
    """One random direction per vector, drawn with the vectors' own spread (their covariance)."""
    spread = np.linalg.cholesky(np.cov(vectors, rowvar=False) + 1e-9 * np.eye(vectors.shape[1]))
    return np.asarray(random.standard_normal(vectors.shape) @ spread.T)


def query_near(
    track: npt.NDArray[np.float64], distance: float, direction: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """A query as a new track near this one would be: `distance` (cosine) from it along `direction`.

    A catalogue track's own embedding is an easy query for the graph that holds it: the walk
    reaches it and its links are its neighbours (recall 1.000 at ef_search 20 where new vectors
    got 0.988, docs/benchmarks.md). Moved as far as its nearest neighbour is, in a direction drawn
    with the catalogue's spread, it is no longer in the graph, yet as near to it as new tracks are.
    """
    tangent = direction - (direction @ track) * track
    tangent /= np.linalg.norm(tangent)
    angle = math.acos(max(-1.0, min(1.0, 1.0 - distance)))
    return np.asarray(math.cos(angle) * track + math.sin(angle) * tangent)


def measured_calibration(
    measured_at: datetime,
    rows: int,
    truths: Sequence[Sequence[UUID]],
    found: Mapping[int, Sequence[Sequence[UUID]]],
) -> GraphCalibration:
    """The mean recall at each ef_search, from each query's true nearest tracks and what the graph found."""
    return GraphCalibration(
        measured_at=measured_at,
        rows=rows,
        queries=len(truths),
        recalls=tuple(
            RecallMeasurement(
                ef_search=ef_search,
                recall=stats.fmean(recall(f, t) for f, t in zip(answers, truths, strict=True)),
            )
            for ef_search, answers in sorted(found.items())
        ),
    )


def calibrated_ef_search(calibration: GraphCalibration | None, rows: float | None) -> int | None:
    """The fewest candidates measured to reach CALIBRATED_RECALL on this catalogue; None when there is no
    such measurement, none reached it, or the catalogue (`rows`, None: not known) has outgrown it."""
    if calibration is None or rows is None or rows < 0:
        return None
    if rows > calibration.rows * CALIBRATION_HOLDS_FOR_GROWTH:
        return None
    reaching = [m.ef_search for m in calibration.recalls if m.recall >= CALIBRATED_RECALL]
    return min(reaching, default=None)


def needs_calibration(calibration: GraphCalibration | None, rows: int, now: datetime) -> bool:
    """Whether the graph's recall should be measured (again) for a catalogue of `rows` embeddings."""
    if rows < MIN_CALIBRATION_ROWS:
        return False
    if calibration is None or now - calibration.measured_at >= RECALIBRATE_AFTER:
        return True
    return abs(rows - calibration.rows) >= RECALIBRATE_AFTER_CHANGE * calibration.rows


def graph_ef_search(statistics: CatalogueStatistics | None, graph_rows: float | None) -> int:
    """ef_search for recall@10 of 0.99 in a graph of `graph_rows`: as measured on this catalogue while
    that holds (a mood's graph, a part of the whole, needs no more than the whole), else by size."""
    if statistics is not None:
        calibrated = calibrated_ef_search(statistics.calibration, statistics.rows)
        if calibrated is not None:
            return calibrated
    return recall_ef_search(graph_rows)


def short_answer_chance(taken: int, k: int, share: float) -> float:
    """The chance that fewer than k of `taken` rows pass a filter keeping `share` (binomial)."""
    if share >= 1.0:
        return 0.0 if taken >= k else 1.0
    log_pass, log_fail = math.log(share), math.log1p(-share)
    return sum(
        math.exp(
            math.lgamma(taken + 1) - math.lgamma(i + 1) - math.lgamma(taken - i + 1)
            + i * log_pass + (taken - i) * log_fail
        )
        for i in range(min(k, taken + 1))
    )  # fmt: skip


def rows_to_take(k: int, share: float) -> int:
    """Index rows to take for k to pass a filter keeping `share` of them, all but once in 1,000 searches.

    Starts where k lies 3.1 standard deviations below the expected passing count (the normal
    approximation, which falls short for few rows and shares near 1) and adds rows until the
    binomial chance of a short answer is at most SHORT_ANSWER_CHANCE; never fewer than twice k.
    Past pgvector's ceiling the estimate is returned as it is: such a filter is scanned exactly.
    """
    share = min(1.0, max(share, 1e-6))
    spread = 3.1 * math.sqrt(1.0 - share)
    passing = ((spread + math.sqrt(spread**2 + 4 * k)) / 2) ** 2  # m − spread·√m = k, solved for m
    taken = math.ceil(max(MIN_OVER_FETCH * k, passing / share))
    while taken <= HNSW_MAX_EF_SEARCH and short_answer_chance(taken, k, share) > SHORT_ANSWER_CHANCE:
        taken += 1
    return taken


def _kept(share: float, among: float) -> float:
    """The share of the rows of a graph or range (`among` of the catalogue) that pass a filter keeping `share`."""
    return min(1.0, share / among) if among > 0 else 0.0


def plan_nearest(filters: SearchFilters, k: int, statistics: CatalogueStatistics | None) -> NearestPlan:
    """The cheapest of an index scan, a range scan and an exact scan, each sized by the share the filter keeps.

    An index scan is over-fetched by the share of rows the filter keeps. A filter naming a mood walks
    that mood's own graph, which holds only its tracks: the over-fetch is sized by the share of them
    the rest of the filter keeps, ef_search by the graph's size. A range scan scores every track in
    the filter's tempo range and key (or mood: range_mood) and takes as many of the nearest as the
    rest of the filter needs. Costs are counted in rows scored exactly (a candidate weighed in a
    graph, a row read from a range: see the constants); on a tie the exact scan, which is always
    complete, then the range scan wins. An index scan over-fetching past pgvector's ceiling is not considered (the capped answer
    would mostly come up short and be redone anyway). Without statistics (or when the catalogue was
    never analysed) the index is tried first: its short answer falls back to the exact scan, so not
    knowing costs time, never rows.
    """
    share, graph_share, expected_rows = 1.0, 1.0, None
    if narrows(filters) and statistics is not None and statistics.rows > 0:
        share = matching_share(statistics, filters)
        expected_rows = share * statistics.rows
        if filters.mood is not None:
            graph_share = equal_share(statistics.columns.get("mood"), filters.mood.value, statistics.rows)
    take = rows_to_take(k, _kept(share, graph_share)) + len(filters.exclude)
    graph_rows = statistics.rows * graph_share if statistics is not None and statistics.rows >= 0 else None
    ef_search = max(graph_ef_search(statistics, graph_rows), take)
    index = NearestPlan(
        method="hnsw",
        take=min(take, HNSW_MAX_EF_SEARCH),
        ef_search=min(ef_search, HNSW_MAX_EF_SEARCH),
        graph=filters.mood,
    )
    if expected_rows is None or statistics is None:
        return index
    costed = [(expected_rows, NearestPlan(method="exact"))]
    if names_a_range(filters):
        in_range = range_share(statistics, filters)
        range_take = rows_to_take(k, _kept(share, in_range)) + len(filters.exclude)
        range_cost = statistics.rows * in_range / RANGE_ROWS_PER_EXACT_ROW + range_take
        costed.append((range_cost, NearestPlan(method="range", take=range_take)))
    if take <= HNSW_MAX_EF_SEARCH:
        costed.append((EXACT_ROWS_PER_CANDIDATE * ef_search, index))
    return min(costed, key=lambda plan: plan[0])[1]  # the first of equals
