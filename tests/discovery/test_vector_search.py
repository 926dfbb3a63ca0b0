"""Filtered vector search returns k rows whenever k tracks pass the filter (pgvector 0.6 has no iterative scan)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest
from asyncpg.connection import LoggedQuery

from discovery import embedding, jobs, search_plan, service, store
from discovery.model import CatalogueStatistics, Mood, SearchFilters
from marketplace.worker import worker_settings
from rights import service as rights
from tests.discovery.conftest import label_owner, mood_and_its_copy

ROWS = 600
RARE = 30  # one row in twenty carries the rare mood


@pytest.fixture
async def many_vectors(db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """ROWS random embeddings in the test's transaction; exact scans only when no row matches, so the
    rare mood (30 rows) goes through the index."""
    monkeypatch.setattr(search_plan, "EXACT_ROWS_PER_CANDIDATE", 0.0)
    user = await label_owner(db, "Vectors")
    await db.execute("INSERT INTO discovery_audio VALUES ($1, 'wav', 1, 1)", "0" * 64)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((ROWS, embedding.EMBEDDING_DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, vector in enumerate(vectors):
        track = await rights.create_track(
            db, owner_organisation_id=user.organisation_id, title=f"V{i}", artist="V"
        )
        mood = Mood.TENSE.value if i % (ROWS // RARE) == 0 else Mood.CALM.value
        await db.execute(
            """INSERT INTO discovery_tracks (track_id, audio_sha256, status, mood, bpm)
               VALUES ($1, $2, 'done', $3, $4)""",
            track.id, "0" * 64, mood, 60 + i % 120,
        )  # fmt: skip
        await db.execute("INSERT INTO discovery_embeddings VALUES ($1, 1, $2)", track.id, vector)
    # Search steers by the planner's statistics, which autovacuum keeps for committed rows.
    await db.execute("ANALYZE discovery_tracks")
    service.CATALOGUE_STATISTICS.forget()
    return vectors


async def test_a_selective_filter_still_returns_k_rows_through_the_index(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    query = many_vectors[1] + 0.1
    query /= np.linalg.norm(query)
    rare = SearchFilters(mood=Mood.TENSE)
    # The plain index scan pgvector 0.6 would do: 40 candidates (ef_search), then the filter.
    naive = await db.fetch(
        """SELECT c.track_id FROM (SELECT track_id, embedding <=> $1 AS d FROM discovery_embeddings
           ORDER BY embedding <=> $1 LIMIT 40) c JOIN discovery_tracks USING (track_id) WHERE mood = 'tense'""",
        query,
    )
    assert len(naive) < 10
    found, method = await service.nearest(db, query, rare, 10)
    exact = await store.exact_neighbours(db, query, rare, 10)
    assert method == "hnsw" and len(found) == 10
    assert len({c.track_id for c in found} & {c.track_id for c in exact}) >= 9  # recall@10 against exact


async def test_an_index_answer_that_comes_up_short_is_redone_exactly(
    db: asyncpg.Connection, many_vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_plan, "rows_to_take", lambda k, share: k)  # no over-fetch at all
    # Half the tense tracks are at 100 BPM or slower: of the 10 nearest tense ones, about 5 pass.
    slow_and_tense = SearchFilters(mood=Mood.TENSE, bpm_max=100)
    found, method = await service.nearest(db, many_vectors[0], slow_and_tense, 10)
    assert method == "exact" and len(found) == 10


async def test_when_fewer_than_k_match_all_of_them_come_back(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    narrow = SearchFilters(mood=Mood.TENSE, bpm_min=60, bpm_max=100)
    expected = await db.fetchval(
        "SELECT count(*) FROM discovery_tracks WHERE mood = 'tense' AND bpm BETWEEN 60 AND 100"
    )
    found, _ = await service.nearest(db, many_vectors[3], narrow, 50)
    assert 0 < len(found) == expected


async def test_a_filter_that_keeps_most_rows_returns_k_rows_through_the_index(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    found, method = await service.nearest(db, many_vectors[5], SearchFilters(mood=Mood.CALM), 10)
    assert method == "hnsw" and len(found) == 10
    assert {c.track_id for c in found} == {
        c.track_id
        for c in await store.exact_neighbours(db, many_vectors[5], SearchFilters(mood=Mood.CALM), 10)
    }


async def test_recall_at_10_against_exact_search_holds_with_and_without_filters(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    queries = np.random.default_rng(11).standard_normal((20, embedding.EMBEDDING_DIM))
    for filters in (SearchFilters(), SearchFilters(mood=Mood.CALM), SearchFilters(mood=Mood.TENSE)):
        recalls = []
        for query in queries:
            found, _ = await service.nearest(db, query, filters, 10)
            exact = await store.exact_neighbours(db, query, filters, 10)
            assert len(found) == 10
            recalls.append(len({c.track_id for c in found} & {c.track_id for c in exact}) / 10)
        assert np.mean(recalls) >= 0.99, filters


async def test_statistics_that_know_nothing_of_the_filter_cost_time_not_rows(
    db: asyncpg.Connection, many_vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_analysed(conn: asyncpg.Connection) -> CatalogueStatistics:
        return CatalogueStatistics(rows=1_000_000)  # big, and nothing known of any column

    monkeypatch.setattr(store, "catalogue_statistics", never_analysed)
    service.CATALOGUE_STATISTICS.forget()
    # The plan takes 20 rows from the index expecting all to pass; about 2 are this slow, so it is redone exactly.
    slow = SearchFilters(bpm_max=69)
    found, method = await service.nearest(db, many_vectors[2], slow, 10)
    assert method == "exact" and len(found) == 10
    service.CATALOGUE_STATISTICS.forget()


async def test_a_search_is_one_round_trip_once_the_statistics_are_read(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    sent: list[str] = []

    def count(record: LoggedQuery) -> None:
        sent.append(record.query)

    for filters in (SearchFilters(), SearchFilters(mood=Mood.TENSE), SearchFilters(mood=Mood.CALM)):
        await service.nearest(db, many_vectors[4], filters, 10)  # reads statistics, prepares the statement
        db.add_query_logger(count)
        await service.nearest(db, many_vectors[6], filters, 10)
        await asyncio.sleep(0)  # asyncpg calls its query loggers on the loop's next turn
        db.remove_query_logger(count)
        assert len(sent) == 1, sent
        sent.clear()


async def test_the_index_search_leaves_the_connection_s_ef_search_as_it_was(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    before = await db.fetchval("SHOW hnsw.ef_search")
    found, method = await service.nearest(db, many_vectors[1], SearchFilters(mood=Mood.TENSE), 10)
    assert method == "hnsw" and len(found) == 10
    assert await db.fetchval("SHOW hnsw.ef_search") == before


GRAPHS = {mood: f"discovery_embeddings_{mood.value}_hnsw_idx" for mood in Mood}
WHOLE_GRAPH = "discovery_embeddings_hnsw_idx"


async def _index_scans(db: asyncpg.Connection) -> dict[str, int]:
    """How many scans each HNSW index has had in this transaction."""
    return {
        name: await db.fetchval("SELECT pg_stat_get_xact_numscans($1::regclass)", name)
        for name in (WHOLE_GRAPH, *GRAPHS.values())
    }


async def test_a_mood_filtered_search_walks_only_that_mood_s_graph_and_returns_k_rows(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    before = await _index_scans(db)
    # More searches than the five after which PostgreSQL may switch a cached plan to a generic one.
    for query in many_vectors[:8]:
        found, method = await service.nearest(db, query, SearchFilters(mood=Mood.TENSE), 10)
        exact = await store.exact_neighbours(db, query, SearchFilters(mood=Mood.TENSE), 10)
        assert method == "hnsw" and [c.track_id for c in found] == [c.track_id for c in exact]
    after = await _index_scans(db)
    assert {name: after[name] - before[name] for name in after} == {
        **{name: 0 for name in after},
        GRAPHS[Mood.TENSE]: 8,
    }


async def test_only_a_plan_that_sees_the_mood_as_a_constant_can_walk_the_mood_s_graph(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    await db.execute("SET LOCAL enable_seqscan = off")  # 600 rows: a scan would beat any index
    await db.execute(
        """PREPARE nearest_of_mood (vector, text) AS SELECT track_id FROM discovery_embeddings
           WHERE mood = $2 ORDER BY embedding <-> $1 LIMIT 10"""
    )
    vector = "[" + ",".join(str(x) for x in many_vectors[0]) + "]"

    async def plan(mode: str) -> str:
        await db.execute(f"SET LOCAL plan_cache_mode = {mode}")
        rows = await db.fetch(f"EXPLAIN EXECUTE nearest_of_mood('{vector}', 'tense')")
        return "\n".join(r[0] for r in rows)

    # As discovery_mood_neighbours plans its query: the mood's value is known, its graph provably covers it.
    assert f"Index Scan using {GRAPHS[Mood.TENSE]}" in await plan("force_custom_plan")
    # A generic plan must serve any mood: not the tense graph, whatever else it does.
    assert GRAPHS[Mood.TENSE] not in await plan("force_generic_plan")
    await db.execute("DEALLOCATE nearest_of_mood")


async def test_an_embedding_carries_its_track_s_mood_whichever_is_written_and_however(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    track_id = await db.fetchval("SELECT track_id FROM discovery_tracks WHERE mood = 'tense' LIMIT 1")
    assert await mood_and_its_copy(db, track_id) == (
        "tense",
        "tense",
    )  # written by the fixture without a mood
    await db.execute("UPDATE discovery_tracks SET mood = 'melancholic' WHERE track_id = $1", track_id)
    assert await mood_and_its_copy(db, track_id) == ("melancholic", "melancholic")
    await db.execute("UPDATE discovery_embeddings SET mood = 'calm' WHERE track_id = $1", track_id)
    assert await mood_and_its_copy(db, track_id) == ("melancholic", "melancholic")
    await db.execute("UPDATE discovery_tracks SET mood = NULL WHERE track_id = $1", track_id)
    assert await mood_and_its_copy(db, track_id) == (None, None)
    # The embedding written before its track's analysis row, as a restore might: the mood still follows.
    await db.execute("DELETE FROM discovery_tracks WHERE track_id = $1", track_id)
    await db.execute(
        "INSERT INTO discovery_tracks (track_id, audio_sha256, status, mood) VALUES ($1, $2, 'done', 'uplifting')",
        track_id, "0" * 64,
    )  # fmt: skip
    assert await mood_and_its_copy(db, track_id) == ("uplifting", "uplifting")


async def test_the_graphs_recall_is_measured_on_the_catalogue_and_then_sizes_its_searches(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    now = datetime.now(UTC)
    measured = await service.calibrate_graph(db, now)
    assert measured is not None and measured.rows >= ROWS
    assert measured.queries == search_plan.CALIBRATION_QUERIES
    assert [m.ef_search for m in measured.recalls] == list(search_plan.CALIBRATION_EF_SEARCH)
    # Weighing 1,000 candidates in a graph of 600 finds every true neighbour.
    assert measured.recalls[-1].recall == 1.0
    # Not due again within the hour on the same catalogue; the statistics searches read carry it.
    assert await service.calibrate_graph(db, now + timedelta(hours=1)) is None
    service.CATALOGUE_STATISTICS.forget()
    statistics = await service.CATALOGUE_STATISTICS.get(db)
    assert statistics.calibration == measured
    chosen = search_plan.calibrated_ef_search(measured, statistics.rows)
    assert chosen is not None
    assert search_plan.plan_nearest(SearchFilters(), 10, statistics).ef_search == chosen
    service.CATALOGUE_STATISTICS.forget()


async def test_the_calibrations_true_neighbours_are_the_exact_searchs(
    db: asyncpg.Connection, many_vectors: np.ndarray
) -> None:
    for query in np.random.default_rng(5).standard_normal((5, embedding.EMBEDDING_DIM)):
        exact = [c.track_id for c in await store.exact_neighbours(db, query, SearchFilters(), 10)]
        assert await store.true_neighbours(db, query, 10) == exact


async def test_the_general_worker_measures_the_graph_hourly_and_only_when_due(pg_pool: asyncpg.Pool) -> None:
    scheduled = [job.coroutine for job in worker_settings()["cron_jobs"]]
    assert jobs.calibrate_search_graph in scheduled
    async with pg_pool.acquire() as conn:
        due = search_plan.needs_calibration(
            await store.latest_calibration(conn), await store.catalogue_rows(conn), datetime.now(UTC)
        )
    answer = await jobs.calibrate_search_graph({"pool": pg_pool})
    assert (answer != "not due") == due
