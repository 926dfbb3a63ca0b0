"""Filtered vector search is sized from the catalogue's statistics: estimates, and the plan they choose."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom

from discovery import search_plan
from discovery.model import (
    CatalogueStatistics,
    ColumnStatistics,
    GraphCalibration,
    Key,
    Mode,
    Mood,
    NearestPlan,
    RecallMeasurement,
    SearchFilters,
)

BUCKETS = 100


def analysed(values: np.ndarray) -> ColumnStatistics:
    """A numeric column as ANALYZE describes it: values as frequent as a bucket are common, the rest bucketed."""
    distinct, counts = np.unique(values, return_counts=True)
    common = counts / len(values) > 1 / BUCKETS
    rest = values[~np.isin(values, distinct[common])]
    bounds = np.quantile(rest, np.linspace(0, 1, BUCKETS + 1)) if len(rest) else ()
    return ColumnStatistics(
        null_fraction=0.0,
        distinct=float(len(distinct)),
        common_values=tuple(str(float(v)) for v in distinct[common]),
        common_frequencies=tuple(float(c) for c in counts[common] / len(values)),
        histogram=tuple(float(b) for b in bounds),
    )


MOODS = ColumnStatistics(
    null_fraction=0.0, distinct=4, common_values=("calm", "tense"), common_frequencies=(0.7, 0.2)
)
CATALOGUE = CatalogueStatistics(
    rows=100_000,
    columns={
        "status": ColumnStatistics(
            null_fraction=0.0, distinct=1, common_values=("done",), common_frequencies=(1.0,)
        ),
        "mood": MOODS,
        "bpm": analysed(np.random.default_rng(1).uniform(60, 180, 10_000)),
        "key_tonic": ColumnStatistics(null_fraction=0.0, distinct=12),
        "mode": ColumnStatistics(
            null_fraction=0.0, distinct=2, common_values=("major", "minor"), common_frequencies=(0.6, 0.4)
        ),
    },
)

any_filters = st.builds(
    SearchFilters,
    bpm_min=st.none() | st.floats(0, 300),
    bpm_max=st.none() | st.floats(0, 300),
    key=st.none() | st.builds(Key, st.integers(0, 11), st.sampled_from(Mode)),
    mode=st.none() | st.sampled_from(Mode),
    mood=st.none() | st.sampled_from(Mood),
    duration_min=st.none() | st.floats(0, 3600),
    instrumental=st.none() | st.booleans(),
)


def test_a_common_value_keeps_its_recorded_share_and_a_rare_one_shares_the_rest() -> None:
    assert search_plan.equal_share(MOODS, "tense", 100_000) == 0.2
    # 10 % of rows are neither calm nor tense, spread over the two other distinct moods.
    assert math.isclose(search_plan.equal_share(MOODS, "melancholic", 100_000), 0.05)


def test_a_column_never_analysed_narrows_nothing() -> None:
    assert search_plan.equal_share(None, "tense", 100_000) == 1.0
    assert search_plan.between_share(None, 100, 120) == 1.0


@given(
    values=st.lists(st.floats(0, 1_000), min_size=200, max_size=2_000).map(np.array),
    low=st.floats(-10, 1_010),
    width=st.floats(0, 1_000),
)
def test_a_range_estimate_is_within_a_bucket_of_the_true_share(
    values: np.ndarray, low: float, width: float
) -> None:
    high = low + width
    true_share = float(np.mean((values >= low) & (values <= high)))
    estimate = search_plan.between_share(analysed(values), low, high)
    # Interpolating inside a bucket is off by at most a bucket at each end, and a bound that falls on a
    # repeated value by that value's share (at most a bucket's, or it would be a common value).
    assert abs(estimate - true_share) <= 3 / BUCKETS + 1e-9


@given(filters=any_filters)
def test_an_estimated_share_is_a_fraction(filters: SearchFilters) -> None:
    assert 0.0 <= search_plan.matching_share(CATALOGUE, filters) <= 1.0


@given(filters=any_filters, mood=st.sampled_from(Mood), bpm_max=st.floats(0, 300))
def test_another_condition_never_raises_the_estimate(
    filters: SearchFilters, mood: Mood, bpm_max: float
) -> None:
    narrower = msgspec.structs.replace(
        filters,
        mood=filters.mood or mood,
        bpm_max=bpm_max if filters.bpm_max is None else min(filters.bpm_max, bpm_max),
    )
    assert search_plan.matching_share(CATALOGUE, narrower) <= search_plan.matching_share(CATALOGUE, filters)


@given(filters=any_filters, mood=st.sampled_from(Mood))
def test_a_mood_is_counted_once_whether_its_range_is_read_or_it_is_applied_afterwards(
    filters: SearchFilters, mood: Mood
) -> None:
    without = msgspec.structs.replace(filters, mood=None)
    with_mood = msgspec.structs.replace(filters, mood=mood)
    mood_share = search_plan.equal_share(MOODS, mood.value, CATALOGUE.rows)
    assert search_plan.matching_share(CATALOGUE, with_mood) == pytest.approx(
        search_plan.matching_share(CATALOGUE, without) * mood_share
    )
    # The range read narrows by the mood exactly when the (mood, bpm) btree is read.
    in_range = search_plan.range_share(CATALOGUE, without)
    if search_plan.range_mood(with_mood) is not None:
        in_range *= mood_share
    assert search_plan.range_share(CATALOGUE, with_mood) == pytest.approx(in_range)


@given(filters=any_filters)
def test_a_range_read_holds_every_row_the_filter_keeps(filters: SearchFilters) -> None:
    assert (
        search_plan.matching_share(CATALOGUE, filters) <= search_plan.range_share(CATALOGUE, filters) + 1e-12
    )


def test_a_mood_is_read_with_a_tempo_range_but_applied_afterwards_to_a_key_s() -> None:
    assert search_plan.range_mood(SearchFilters(mood=Mood.TENSE, bpm_max=90)) is Mood.TENSE
    assert search_plan.range_mood(SearchFilters(mood=Mood.TENSE, bpm_max=90, key=Key(9, Mode.MINOR))) is None
    assert search_plan.range_mood(SearchFilters(mood=Mood.TENSE, key=Key(9, Mode.MINOR))) is None
    assert search_plan.range_mood(SearchFilters(mood=Mood.TENSE)) is None


def graph_share(filters: SearchFilters) -> float:
    """The share of the catalogue in the graph a search with these filters walks: its mood's, or all."""
    if filters.mood is None:
        return 1.0
    return search_plan.equal_share(MOODS, filters.mood.value, CATALOGUE.rows)


@given(filters=any_filters, k=st.integers(1, 101), excluded=st.integers(0, 3))
def test_an_index_plan_walks_the_named_mood_s_graph_and_leaves_k_rows_all_but_once_in_a_thousand(
    filters: SearchFilters, k: int, excluded: int
) -> None:
    filters = msgspec.structs.replace(filters, exclude=frozenset(uuid.uuid4() for _ in range(excluded)))
    plan = search_plan.plan_nearest(filters, k, CATALOGUE)
    if plan.method != "hnsw":
        return
    assert plan.graph == filters.mood
    in_graph = graph_share(filters)
    kept = search_plan.matching_share(CATALOGUE, filters) / in_graph if search_plan.narrows(filters) else 1.0
    # The rows taken are of the graph walked: the filter keeps its share of them, not of the catalogue.
    assert binom.cdf(k - 1, plan.take - excluded, min(kept, 1.0)) <= search_plan.SHORT_ANSWER_CHANCE + 1e-9
    assert plan.take <= plan.ef_search <= search_plan.HNSW_MAX_EF_SEARCH
    assert plan.ef_search >= search_plan.recall_ef_search(CATALOGUE.rows * in_graph)


@given(filters=any_filters, k=st.integers(1, 101), excluded=st.integers(0, 3))
def test_an_exact_plan_scores_fewer_rows_than_the_index_would_weigh_or_a_range_read_or_more_than_it_yields(
    filters: SearchFilters, k: int, excluded: int
) -> None:
    filters = msgspec.structs.replace(filters, exclude=frozenset(uuid.uuid4() for _ in range(excluded)))
    plan = search_plan.plan_nearest(filters, k, CATALOGUE)
    if plan.method != "exact":
        return
    expected_rows = search_plan.matching_share(CATALOGUE, filters) * CATALOGUE.rows
    kept = min(1.0, search_plan.matching_share(CATALOGUE, filters) / graph_share(filters))
    take = search_plan.rows_to_take(k, kept) + excluded
    assert (
        take > search_plan.HNSW_MAX_EF_SEARCH
        or expected_rows
        <= search_plan.EXACT_ROWS_PER_CANDIDATE
        * max(take, search_plan.recall_ef_search(CATALOGUE.rows * graph_share(filters)))
    )
    in_range = search_plan.range_share(CATALOGUE, filters)
    if search_plan.names_a_range(filters) and in_range > 0:  # and fewer than a range read, in the same units
        range_take = search_plan.rows_to_take(k, min(1.0, expected_rows / CATALOGUE.rows / in_range))
        assert expected_rows <= (
            CATALOGUE.rows * in_range / search_plan.RANGE_ROWS_PER_EXACT_ROW + range_take + excluded
        )


@given(filters=any_filters, k=st.integers(1, 101), excluded=st.integers(0, 3))
def test_a_range_plan_reads_the_filter_s_tempo_and_key_and_leaves_k_rows_all_but_once_in_a_thousand(
    filters: SearchFilters, k: int, excluded: int
) -> None:
    filters = msgspec.structs.replace(filters, exclude=frozenset(uuid.uuid4() for _ in range(excluded)))
    plan = search_plan.plan_nearest(filters, k, CATALOGUE)
    if plan.method != "range":
        return
    assert search_plan.names_a_range(filters)
    in_range = search_plan.range_share(CATALOGUE, filters)
    kept = min(1.0, search_plan.matching_share(CATALOGUE, filters) / in_range)
    # The rows taken are the nearest in the range: the rest of the filter keeps its share of them.
    assert binom.cdf(k - 1, plan.take - excluded, kept) <= search_plan.SHORT_ANSWER_CHANCE + 1e-9 or (
        plan.take > search_plan.HNSW_MAX_EF_SEARCH  # sized by the normal approximation alone
    )
    # Cheaper than scoring every match exactly: the range's rows are read at a tenth of the cost.
    expected_rows = search_plan.matching_share(CATALOGUE, filters) * CATALOGUE.rows
    assert in_range * CATALOGUE.rows / search_plan.RANGE_ROWS_PER_EXACT_ROW + plan.take < expected_rows


@given(
    filters=any_filters,
    k=st.integers(1, 101),
    bpm_max=st.floats(0, 300),
    mode=st.sampled_from(Mode),
)
def test_a_further_condition_never_turns_a_scan_into_a_graph_walk(
    filters: SearchFilters, k: int, bpm_max: float, mode: Mode
) -> None:
    narrower = msgspec.structs.replace(
        filters,
        mode=filters.mode or mode,
        bpm_max=bpm_max if filters.bpm_max is None else min(filters.bpm_max, bpm_max),
    )
    # Narrower, fewer rows match and more must be taken from a graph for k to pass; a range only shrinks.
    if search_plan.plan_nearest(filters, k, CATALOGUE).method == "exact":
        assert search_plan.plan_nearest(narrower, k, CATALOGUE).method != "hnsw"


@given(k=st.integers(1, 101), share=st.floats(1e-4, 1.0))
def test_the_rows_taken_leave_k_passing_the_filter_all_but_once_in_a_thousand_searches(
    k: int, share: float
) -> None:
    taken = search_plan.rows_to_take(k, share)
    assert taken >= search_plan.MIN_OVER_FETCH * k
    if taken <= search_plan.HNSW_MAX_EF_SEARCH:  # more would be scanned exactly
        assert binom.cdf(k - 1, taken, share) <= search_plan.SHORT_ANSWER_CHANCE + 1e-9


@given(taken=st.integers(0, 1000), k=st.integers(1, 101), share=st.floats(0, 1, exclude_min=True))
def test_the_chance_of_a_short_answer_is_binomial(taken: int, k: int, share: float) -> None:
    assert math.isclose(
        search_plan.short_answer_chance(taken, k, share), binom.cdf(k - 1, taken, share), abs_tol=1e-9
    )


@given(k=st.integers(1, 101), share=st.floats(1e-4, 1.0), narrower=st.floats(0.01, 1.0))
def test_a_narrower_filter_never_takes_fewer_rows(k: int, share: float, narrower: float) -> None:
    assert search_plan.rows_to_take(k, share * narrower) >= search_plan.rows_to_take(k, share)


def test_an_unfiltered_search_goes_to_the_index_without_statistics() -> None:
    plan = search_plan.plan_nearest(SearchFilters(), 10, None)
    assert plan.method == "hnsw" and plan.take == search_plan.MIN_OVER_FETCH * 10
    # Not knowing the catalogue's size, the index weighs what the largest one measured needed.
    assert plan.ef_search == search_plan.RECALL_EF_SEARCH[-1][1]


def test_an_unfiltered_search_weighs_what_its_catalogue_size_needs() -> None:
    for rows, ef_search in search_plan.RECALL_EF_SEARCH:
        plan = search_plan.plan_nearest(SearchFilters(), 10, CatalogueStatistics(rows=rows))
        assert plan.method == "hnsw" and plan.ef_search == ef_search


@given(rows=st.floats(0, 1e9), more=st.floats(0, 1e9))
def test_a_larger_catalogue_never_weighs_fewer_candidates(rows: float, more: float) -> None:
    assert search_plan.recall_ef_search(rows) <= search_plan.recall_ef_search(rows + more)


@given(rows=st.none() | st.floats(-1, 1e12))
def test_the_candidates_weighed_stay_between_the_smallest_measured_and_pgvectors_ceiling(
    rows: float | None,
) -> None:
    ef_search = search_plan.recall_ef_search(rows)
    assert search_plan.RECALL_EF_SEARCH[0][1] <= ef_search <= search_plan.HNSW_MAX_EF_SEARCH


def test_a_catalogue_between_two_measured_sizes_weighs_between_their_candidates() -> None:
    (small_rows, small_ef), (large_rows, large_ef) = search_plan.RECALL_EF_SEARCH[:2]
    between = search_plan.recall_ef_search(math.sqrt(small_rows * large_rows))
    assert small_ef < between < large_ef
    assert search_plan.recall_ef_search(small_rows / 100) == small_ef


def test_a_filter_expected_to_keep_few_rows_is_scanned_exactly() -> None:
    # 300 tracks (e.g. those clearable for a use) of 100,000: the graph would have to yield thousands.
    few = SearchFilters(track_ids=frozenset(uuid.uuid4() for _ in range(300)), mood=Mood.TENSE)
    assert search_plan.plan_nearest(few, 10, CATALOGUE).method == "exact"


def test_a_mood_and_key_filter_reads_the_key_s_rows_rather_than_scoring_each_match_through_two_btrees() -> (
    None
):
    # 20 % tense × 1/12 of keys × 40 % minor of 100,000 is about 670 rows to score exactly; the key's
    # 3,333 rows cost 333 of those, and 1 in 5 of them is tense: 10 pass among the nearest 100 or so.
    rare = SearchFilters(mood=Mood.TENSE, key=Key(9, Mode.MINOR))
    plan = search_plan.plan_nearest(rare, 10, CATALOGUE)
    assert plan.method == "range" and plan.take == search_plan.rows_to_take(10, 0.2)


def test_a_tempo_window_keeping_5_percent_scores_its_range_rather_than_walk_500_candidates() -> None:
    window = SearchFilters(bpm_min=118, bpm_max=124)
    # Every track of the window passes the rest of the filter (all are analysed): twice k suffice.
    assert search_plan.plan_nearest(window, 10, CATALOGUE) == NearestPlan(method="range", take=20)
    in_graph = search_plan.plan_nearest(window, 10, msgspec.structs.replace(CATALOGUE, rows=1_000_000))
    # Ten times the catalogue, ten times the rows in the window, and the graph's walk barely longer.
    assert in_graph.method == "hnsw" and in_graph.graph is None and in_graph.take > 400


def test_a_narrow_tempo_window_is_read_from_its_range_not_scored_row_by_row() -> None:
    # 0.5 % of 100,000: 500 rows scored exactly, or read from the range at a tenth of the cost.
    exactly_120 = SearchFilters(bpm_min=119.7, bpm_max=120.3)
    assert search_plan.plan_nearest(exactly_120, 10, CATALOGUE) == NearestPlan(method="range", take=20)


def test_a_key_alone_and_a_key_in_a_tempo_window_read_their_range() -> None:
    a_minor = SearchFilters(key=Key(9, Mode.MINOR))
    assert search_plan.plan_nearest(a_minor, 10, CATALOGUE) == NearestPlan(method="range", take=20)
    in_tempo = SearchFilters(key=Key(9, Mode.MINOR), bpm_min=118, bpm_max=124)
    assert search_plan.plan_nearest(in_tempo, 10, CATALOGUE) == NearestPlan(method="range", take=20)


def test_a_mood_filter_walks_its_own_graph_taking_no_more_than_an_unfiltered_search() -> None:
    plan = search_plan.plan_nearest(SearchFilters(mood=Mood.TENSE), 10, CATALOGUE)
    # Every row of the tense graph is tense: twice k, as unfiltered (the whole graph would need 118).
    assert plan == NearestPlan(method="hnsw", take=20, ef_search=64, graph=Mood.TENSE)


def test_a_mood_and_mode_filter_takes_by_the_share_of_the_mood_s_tracks_in_that_mode() -> None:
    # 20 % tense × 40 % minor keep 8,000 rows of 100,000: two fifths of the tense graph.
    minor_and_tense = SearchFilters(mood=Mood.TENSE, mode=Mode.MINOR)
    plan = search_plan.plan_nearest(minor_and_tense, 10, CATALOGUE)
    assert plan == NearestPlan(
        method="hnsw", take=search_plan.rows_to_take(10, 0.4), ef_search=64, graph=Mood.TENSE
    )


def test_a_mood_and_tempo_filter_reads_the_mood_s_tracks_in_its_tempo_from_their_range() -> None:
    # 20 % tense × 10 % of tempi keep 2,000 rows of 100,000, read from the (mood, bpm) btree at a
    # tenth of their exact cost, every one passing: twice k taken. The tense graph would weigh 246.
    narrow = SearchFilters(mood=Mood.TENSE, bpm_min=100, bpm_max=112)
    tempo_share = search_plan.between_share(CATALOGUE.columns["bpm"], 100, 112)
    assert search_plan.range_share(CATALOGUE, narrow) == pytest.approx(0.2 * tempo_share)
    assert search_plan.plan_nearest(narrow, 10, CATALOGUE) == NearestPlan(method="range", take=20)


def benchmark_catalogue(rows: int) -> CatalogueStatistics:
    """Statistics shaped like benchmarks.discovery's catalogue: 5 % tense, tempo uniform 60–180, 60 % major."""
    return CatalogueStatistics(
        rows=rows,
        columns={
            **CATALOGUE.columns,
            "mood": ColumnStatistics(
                null_fraction=0.0,
                distinct=2,
                common_values=("calm", "tense"),
                common_frequencies=(0.95, 0.05),
            ),
        },
    )


TENSE_AT_100_112 = SearchFilters(mood=Mood.TENSE, bpm_min=100, bpm_max=112)


def test_at_a_million_tracks_a_mood_in_a_tempo_window_reads_its_5000_rows_rather_than_walk_its_graph() -> (
    None
):
    million = benchmark_catalogue(1_000_000)
    # The tense graph holds 50,000 tracks, a tenth of them in the window: about 250 candidates weighed
    # (4.1 ms of CPU measured), against 5,000 rows read from the (mood, bpm) btree (about 1 ms).
    assert search_plan.range_share(million, TENSE_AT_100_112) * million.rows == pytest.approx(5_000, rel=0.05)
    assert search_plan.plan_nearest(TENSE_AT_100_112, 10, million) == NearestPlan(method="range", take=20)


@pytest.mark.parametrize(
    ("filters", "plan"),
    [
        (SearchFilters(), NearestPlan(method="hnsw", take=20, ef_search=64)),
        (SearchFilters(mood=Mood.TENSE), NearestPlan(method="hnsw", take=20, ef_search=64, graph=Mood.TENSE)),
        (SearchFilters(mood=Mood.CALM), NearestPlan(method="hnsw", take=20, ef_search=64, graph=Mood.CALM)),
        (TENSE_AT_100_112, NearestPlan(method="range", take=20)),  # was exact: 1.6 ms of CPU for its 500 rows
        (SearchFilters(bpm_min=118, bpm_max=124), NearestPlan(method="range", take=20)),
        (SearchFilters(bpm_min=119.7, bpm_max=120.3), NearestPlan(method="range", take=20)),
        (SearchFilters(key=Key(9, Mode.MINOR)), NearestPlan(method="range", take=20)),
        (
            SearchFilters(bpm_min=118, bpm_max=124, key=Key(9, Mode.MINOR)),
            NearestPlan(method="range", take=20),
        ),
    ],
    ids=["unfiltered", "tense", "calm", "tense-in-tempo", "tempo", "narrow-tempo", "key", "key-in-tempo"],
)
def test_the_benchmark_s_searches_at_100000_tracks_keep_the_plans_measured_cheapest(
    filters: SearchFilters, plan: NearestPlan
) -> None:
    assert search_plan.plan_nearest(filters, 10, benchmark_catalogue(100_000)) == plan


def test_a_filter_keeping_two_fifths_takes_more_than_twice_and_a_half_the_rows_wanted_from_the_index() -> (
    None
):
    plan = search_plan.plan_nearest(SearchFilters(mode=Mode.MINOR), 10, CATALOGUE)
    # Of 53 rows 21.2 are expected to pass, give or take 3.6 (one standard deviation): 10 is 3.1 below.
    assert plan == NearestPlan(method="hnsw", take=53, ef_search=64)


def test_a_filter_needing_more_rows_than_the_graph_yields_reads_its_tempo_range() -> None:
    # 40 % minor × 10 % of tempi keep about 4,000 rows of 100,000: 100 of them need about 3,400 rows
    # from the graph, past its ceiling; the range's 10,000 rows cost about 1,000 scored exactly.
    narrow = SearchFilters(mode=Mode.MINOR, bpm_min=100, bpm_max=112)
    plan = search_plan.plan_nearest(narrow, 100, CATALOGUE)
    assert plan.method == "range" and plan.take == search_plan.rows_to_take(100, 0.4)


def test_a_catalogue_never_analysed_tries_the_index_first() -> None:
    unknown = CatalogueStatistics(rows=-1)
    assert search_plan.plan_nearest(SearchFilters(mood=Mood.TENSE), 10, unknown).method == "hnsw"


MEASURED_AT = datetime(2026, 11, 28, 12, tzinfo=UTC)


def calibration(
    rows: int, recalls: dict[int, float], measured_at: datetime = MEASURED_AT
) -> GraphCalibration:
    return GraphCalibration(
        measured_at=measured_at,
        rows=rows,
        queries=100,
        recalls=tuple(RecallMeasurement(ef_search=ef, recall=r) for ef, r in recalls.items()),
    )


EASY_CATALOGUE = calibration(1_000_000, {20: 0.97, 40: 0.993, 64: 0.998, 100: 1.0})


def test_a_calibrated_graph_weighs_the_fewest_candidates_measured_to_reach_the_recall() -> None:
    statistics = CatalogueStatistics(rows=1_000_000, calibration=EASY_CATALOGUE)
    plan = search_plan.plan_nearest(SearchFilters(), 10, statistics)
    assert plan.method == "hnsw" and plan.ef_search == 64
    assert search_plan.RECALL_EF_SEARCH[-1] == (1_000_000, 400), "the size table alone would weigh 400"


def test_a_filter_still_takes_its_over_fetch_from_a_calibrated_graph() -> None:
    statistics = msgspec.structs.replace(CATALOGUE, calibration=calibration(int(CATALOGUE.rows), {20: 1.0}))
    calm = SearchFilters(bpm_min=90, bpm_max=150)
    plan = search_plan.plan_nearest(calm, 10, statistics)
    assert plan.method == "hnsw" and plan.take > 20 and plan.ef_search == plan.take


def test_a_catalogue_that_outgrew_its_calibration_is_sized_by_the_table_again() -> None:
    grown = EASY_CATALOGUE.rows * search_plan.CALIBRATION_HOLDS_FOR_GROWTH + 1
    statistics = CatalogueStatistics(rows=grown, calibration=EASY_CATALOGUE)
    assert search_plan.plan_nearest(
        SearchFilters(), 10, statistics
    ).ef_search == search_plan.recall_ef_search(grown)


def test_a_calibration_where_no_ef_search_reached_the_recall_leaves_the_table_in_charge() -> None:
    hard = calibration(1_000_000, {400: 0.989, 1_000: 0.994})
    assert search_plan.calibrated_ef_search(hard, 1_000_000) is None
    statistics = CatalogueStatistics(rows=1_000_000, calibration=hard)
    assert search_plan.graph_ef_search(statistics, 1_000_000) == 400


def test_recall_is_the_share_of_the_true_neighbours_found() -> None:
    truth = [uuid.UUID(int=i) for i in range(10)]
    assert search_plan.recall(truth[::-1], truth) == 1.0
    assert search_plan.recall([*truth[:7], *(uuid.UUID(int=100 + i) for i in range(3))], truth) == 0.7


def test_a_measured_calibration_averages_each_ef_searchs_recall_over_the_queries() -> None:
    truths = [[uuid.UUID(int=q * 10 + i) for i in range(10)] for q in range(2)]
    found = {40: [truths[0][:9], truths[1][:8]], 20: [truths[0][:5], truths[1][:6]]}
    measured = search_plan.measured_calibration(MEASURED_AT, 5_000, truths, found)
    assert measured.queries == 2 and measured.rows == 5_000
    assert [(m.ef_search, round(m.recall, 6)) for m in measured.recalls] == [(20, 0.55), (40, 0.85)]


def test_a_small_catalogue_is_never_calibrated() -> None:
    assert not search_plan.needs_calibration(None, search_plan.MIN_CALIBRATION_ROWS - 1, MEASURED_AT)
    assert search_plan.needs_calibration(None, search_plan.MIN_CALIBRATION_ROWS, MEASURED_AT)


def test_a_week_old_calibration_is_measured_again() -> None:
    week = search_plan.RECALIBRATE_AFTER
    assert not search_plan.needs_calibration(EASY_CATALOGUE, EASY_CATALOGUE.rows, MEASURED_AT + week / 2)
    assert search_plan.needs_calibration(EASY_CATALOGUE, EASY_CATALOGUE.rows, MEASURED_AT + week)


@given(
    measured_rows=st.integers(search_plan.MIN_CALIBRATION_ROWS, 10**8),
    rows=st.integers(0, 10**9),
    age_hours=st.floats(0, 24 * 30),
)
def test_a_calibration_is_measured_again_before_the_catalogue_outgrows_it(
    measured_rows: int, rows: int, age_hours: float
) -> None:
    measured = calibration(measured_rows, {64: 1.0})
    now = MEASURED_AT + timedelta(hours=age_hours)
    if search_plan.calibrated_ef_search(measured, rows) is None and rows >= search_plan.MIN_CALIBRATION_ROWS:
        assert search_plan.needs_calibration(measured, rows, now)
    if rows == measured_rows and age_hours < 24:
        assert not search_plan.needs_calibration(measured, rows, now)


@given(
    seed=st.integers(0, 2**32 - 1),
    distance=st.floats(1e-4, 0.5),
)
def test_a_calibration_query_is_a_unit_vector_as_far_from_its_track_as_asked(
    seed: int, distance: float
) -> None:
    random = np.random.default_rng(seed)
    tracks = random.standard_normal((20, 47))
    tracks /= np.linalg.norm(tracks, axis=1, keepdims=True)
    direction = search_plan.directions_like(tracks, random)[0]
    query = search_plan.query_near(tracks[0], distance, direction)
    assert np.linalg.norm(query) == pytest.approx(1.0)
    assert 1.0 - float(query @ tracks[0]) == pytest.approx(distance, abs=1e-9)


def test_calibration_directions_follow_the_catalogues_spread() -> None:
    random = np.random.default_rng(3)
    # A catalogue spread along its first axis only (a little elsewhere): so are the directions drawn.
    tracks = random.standard_normal((200, 47)) * np.r_[10.0, np.full(46, 0.1)]
    directions = search_plan.directions_like(tracks, random)
    assert np.median(np.abs(directions[:, 0])) > 20 * np.median(np.abs(directions[:, 1:]))
