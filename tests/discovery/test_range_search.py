"""A tempo, key or mood-in-tempo filter is answered from its range's btree (migrations 0090, 0092): the exact k
nearest, whatever else it holds."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import numpy as np
import pytest
from asyncpg.connection import LoggedQuery

from discovery import embedding, search_plan, service, store
from discovery.model import Key, Mode, Mood, SearchFilters
from rights import service as rights
from tests.discovery.conftest import label_owner

ROWS = 240
# One mode: the statistics take tonic and mode as independent, which four keys of two modes are not.
KEYS = (Key(0, Mode.MAJOR), Key(9, Mode.MAJOR), Key(7, Mode.MAJOR), Key(2, Mode.MAJOR))
A_MAJOR = KEYS[1]


class Catalogue:
    """The rows the fixture writes."""

    def __init__(self) -> None:
        self.ids: list[UUID] = []
        self.vectors = np.random.default_rng(3).standard_normal((ROWS, embedding.EMBEDDING_DIM))
        self.vectors /= np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.bpm = 60 + np.arange(ROWS) % 120
        self.keys = [KEYS[i % len(KEYS)] for i in range(ROWS)]
        self.moods = [Mood.UPLIFTING if i % 3 == 0 else Mood.CALM for i in range(ROWS)]
        self.done = np.arange(ROWS) % 10 != 3  # one track in ten is being analysed again


async def brute_force(
    db: asyncpg.Connection, query: np.ndarray, filters: SearchFilters, k: int
) -> list[UUID]:
    """The k nearest analysed tracks passing the filters, every embedding in the database weighed in numpy.

    Other tests' committed tracks are in the database too, and pass or fail the filters like any other.
    """
    rows = await db.fetch(
        """SELECT e.track_id, e.embedding, d.bpm, d.key_tonic, d.mode, d.mood FROM discovery_embeddings e
           JOIN discovery_tracks d USING (track_id) WHERE d.status = 'done'"""
    )
    passing = [
        r
        for r in rows
        if (filters.bpm_min is None or (r["bpm"] is not None and r["bpm"] >= filters.bpm_min))
        and (filters.bpm_max is None or (r["bpm"] is not None and r["bpm"] <= filters.bpm_max))
        and (
            filters.key is None or (r["key_tonic"], r["mode"]) == (filters.key.tonic, filters.key.mode.value)
        )
        and (filters.mood is None or r["mood"] == filters.mood.value)
    ]
    vectors = np.stack([r["embedding"].to_numpy() for r in passing]).astype(np.float64)
    similarity = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [passing[i]["track_id"] for i in np.argsort(-similarity, kind="stable")[:k]]


@pytest.fixture
async def keyed(db: asyncpg.Connection) -> Catalogue:
    """ROWS tracks spread over 120 tempi, four keys (a quarter each) and two moods (a third uplifting), analysed
    inside the test's transaction. Not tense: test_vector_search's 30 tense rows need a graph free of
    these rolled-back rows, which pgvector 0.6 spends candidates on until autovacuum clears them."""
    user = await label_owner(db, "Ranges")
    await db.execute("INSERT INTO discovery_audio VALUES ($1, 'wav', 1, 1) ON CONFLICT DO NOTHING", "0" * 64)
    catalogue = Catalogue()
    for i in range(ROWS):
        track = await rights.create_track(
            db, owner_organisation_id=user.organisation_id, title=f"R{i}", artist="R"
        )
        catalogue.ids.append(track.id)
        await db.execute(
            """INSERT INTO discovery_tracks (track_id, audio_sha256, status, mood, bpm, key_tonic, mode)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            track.id, "0" * 64, "done" if catalogue.done[i] else "running", catalogue.moods[i].value,
            float(catalogue.bpm[i]), catalogue.keys[i].tonic, catalogue.keys[i].mode.value,
        )  # fmt: skip
        await db.execute(
            "INSERT INTO discovery_embeddings VALUES ($1, 1, $2)", track.id, catalogue.vectors[i]
        )
    await db.execute("ANALYZE discovery_tracks")
    service.CATALOGUE_STATISTICS.forget()
    return catalogue


QUERIES = np.random.default_rng(5).standard_normal((6, embedding.EMBEDDING_DIM))


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(bpm_min=100, bpm_max=129),  # a quarter of the tempi
        SearchFilters(key=A_MAJOR),  # a quarter of the tracks
        SearchFilters(key=Key(7, Mode.MAJOR), bpm_min=60, bpm_max=159),
        SearchFilters(
            mood=Mood.UPLIFTING, bpm_min=60, bpm_max=159
        ),  # a third of the tracks in 100 of 120 tempi
    ],
    ids=["tempo", "key", "key-and-tempo", "mood-and-tempo"],
)
async def test_a_tempo_key_or_mood_in_tempo_search_returns_the_exact_k_nearest_that_pass_read_from_its_range(
    db: asyncpg.Connection, keyed: Catalogue, filters: SearchFilters
) -> None:
    for query in QUERIES:
        found, method = await service.nearest(db, query, filters, 10)
        assert method == "range"
        assert [c.track_id for c in found] == await brute_force(db, query, filters, 10)


async def test_a_range_answer_left_short_by_the_rest_of_the_filter_is_redone_exactly(
    db: asyncpg.Connection, keyed: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_plan, "rows_to_take", lambda k, share: k)  # no over-fetch at all
    # Track 13 is in A major and being analysed again: nearest to itself, it is taken and filtered out.
    query = keyed.vectors[13]
    assert keyed.keys[13] == A_MAJOR and not keyed.done[13]
    found, method = await service.nearest(db, query, SearchFilters(key=A_MAJOR), 10)
    assert method == "exact"
    assert [c.track_id for c in found] == await brute_force(db, query, SearchFilters(key=A_MAJOR), 10)


async def _copy(db: asyncpg.Connection, track_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT bpm, key_tonic, mode, embedding FROM discovery_tempo_key_embeddings WHERE track_id = $1",
        track_id,
    )


async def test_the_range_s_copy_follows_its_track_s_tempo_key_and_embedding_however_written(
    db: asyncpg.Connection, keyed: Catalogue
) -> None:
    track_id = keyed.ids[0]
    copy = await _copy(db, track_id)
    assert copy is not None and (copy["bpm"], copy["key_tonic"], copy["mode"]) == (60, 0, "major")
    await db.execute(
        "UPDATE discovery_tracks SET bpm = 121.5, key_tonic = 2, mode = 'minor' WHERE track_id = $1", track_id
    )
    copy = await _copy(db, track_id)
    assert copy is not None and (copy["bpm"], copy["key_tonic"], copy["mode"]) == (121.5, 2, "minor")
    moved = keyed.vectors[1]
    await db.execute("UPDATE discovery_embeddings SET embedding = $2 WHERE track_id = $1", track_id, moved)
    copy = await _copy(db, track_id)
    assert copy is not None and np.allclose(copy["embedding"].to_numpy(), moved, atol=1e-6)
    await db.execute("DELETE FROM discovery_embeddings WHERE track_id = $1", track_id)
    assert await _copy(db, track_id) is None
    # An embedding written before its track's analysis row, as a restore might: the tempo still follows.
    await db.execute("DELETE FROM discovery_tracks WHERE track_id = $1", track_id)
    await db.execute("INSERT INTO discovery_embeddings VALUES ($1, 1, $2)", track_id, moved)
    await db.execute(
        "INSERT INTO discovery_tracks (track_id, audio_sha256, status, bpm) VALUES ($1, $2, 'done', 90)",
        track_id, "0" * 64,
    )  # fmt: skip
    copy = await _copy(db, track_id)
    assert copy is not None and (copy["bpm"], copy["key_tonic"], copy["mode"]) == (90, None, None)


RANGE_BTREES = {
    "tempo": "discovery_tempo_key_embeddings_bpm_idx",
    "key": "discovery_tempo_key_embeddings_key_idx",
    "mood": "discovery_tempo_key_embeddings_mood_idx",
}


async def _btree_scans(db: asyncpg.Connection) -> dict[str, int]:
    """How many scans each range btree has had in this transaction."""
    return {
        name: await db.fetchval("SELECT pg_stat_get_xact_numscans($1::regclass)", index)
        for name, index in RANGE_BTREES.items()
    }


@pytest.mark.parametrize(
    ("filters", "btree"),
    [
        (SearchFilters(mood=Mood.UPLIFTING, bpm_min=100, bpm_max=129), "mood"),
        (SearchFilters(mood=Mood.UPLIFTING, bpm_min=100), "mood"),
        (
            SearchFilters(mood=Mood.UPLIFTING, key=A_MAJOR),
            "key",
        ),  # one key's range is narrower than one mood's
        (SearchFilters(mood=Mood.UPLIFTING, key=A_MAJOR, bpm_max=129), "key"),
        (SearchFilters(bpm_min=100, bpm_max=129), "tempo"),
    ],
    ids=["mood-and-tempo", "mood-and-lowest-tempo", "mood-and-key", "mood-key-and-tempo", "tempo"],
)
async def test_a_range_search_reads_the_one_btree_ordered_by_its_range_and_finds_the_exact_k_nearest(
    db: asyncpg.Connection, keyed: Catalogue, filters: SearchFilters, btree: str
) -> None:
    await db.execute("SET LOCAL enable_seqscan = off")  # a few hundred rows: a scan would beat any index
    before = await _btree_scans(db)
    for query in QUERIES:
        found = await store.range_neighbours(db, query, filters, 10, take=ROWS)
        assert [c.track_id for c in found] == await brute_force(db, query, filters, 10)
    after = await _btree_scans(db)
    assert {name: after[name] - before[name] for name in after} == {
        **{name: 0 for name in after},
        btree: len(QUERIES),
    }


async def test_a_mood_in_a_tempo_range_is_read_by_an_index_only_scan_of_the_mood_btree(
    db: asyncpg.Connection, keyed: Catalogue
) -> None:
    await db.execute("SET LOCAL enable_seqscan = off")
    sent: list[LoggedQuery] = []

    def keep(record: LoggedQuery) -> None:
        sent.append(record)

    db.add_query_logger(keep)
    await store.range_neighbours(
        db, QUERIES[0], SearchFilters(mood=Mood.UPLIFTING, bpm_min=100, bpm_max=129), 10, 20
    )
    await asyncio.sleep(0)  # asyncpg calls its query loggers on the loop's next turn
    db.remove_query_logger(keep)
    (statement,) = sent
    plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {statement.query}", *statement.args))
    # The btree holds every column read: the table's pages are skipped once VACUUM marks them all-visible.
    assert f"Index Only Scan using {RANGE_BTREES['mood']}" in plan, plan


async def test_the_range_s_copy_follows_its_track_s_mood_into_another_mood_s_range(
    db: asyncpg.Connection, keyed: Catalogue
) -> None:
    calm = next(i for i, mood in enumerate(keyed.moods) if mood is Mood.CALM and keyed.done[i])
    track_id, query = keyed.ids[calm], keyed.vectors[calm]
    in_tempo = SearchFilters(
        mood=Mood.UPLIFTING, bpm_min=float(keyed.bpm[calm]), bpm_max=float(keyed.bpm[calm])
    )
    assert track_id not in [c.track_id for c in await store.range_neighbours(db, query, in_tempo, 10, 20)]
    await db.execute("UPDATE discovery_tracks SET mood = 'uplifting' WHERE track_id = $1", track_id)
    assert (
        await db.fetchval("SELECT mood FROM discovery_tempo_key_embeddings WHERE track_id = $1", track_id)
        == "uplifting"
    )
    found = await store.range_neighbours(db, query, in_tempo, 10, 20)
    assert found[0].track_id == track_id and found[0].distance == pytest.approx(0.0, abs=1e-6)
    await db.execute("UPDATE discovery_tracks SET mood = NULL WHERE track_id = $1", track_id)
    assert await db.fetchval(
        "SELECT mood IS NULL FROM discovery_tempo_key_embeddings WHERE track_id = $1", track_id
    )
