"""A tempo or key filter is answered from its range's btree (migration 0090): the exact k nearest, whatever else it holds."""

from __future__ import annotations

import secrets
from uuid import UUID

import asyncpg
import numpy as np
import pytest

from discovery import embedding, search_plan, service
from discovery.model import Key, Mode, SearchFilters
from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind
from rights import service as rights
from rights.identity import Role

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
        self.done = np.arange(ROWS) % 10 != 3  # one track in ten is being analysed again


async def brute_force(
    db: asyncpg.Connection, query: np.ndarray, filters: SearchFilters, k: int
) -> list[UUID]:
    """The k nearest analysed tracks passing the filters, every embedding in the database weighed in numpy.

    Other tests' committed tracks are in the database too, and pass or fail the filters like any other.
    """
    rows = await db.fetch(
        """SELECT e.track_id, e.embedding, d.bpm, d.key_tonic, d.mode FROM discovery_embeddings e
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
    ]
    vectors = np.stack([r["embedding"].to_numpy() for r in passing]).astype(np.float64)
    similarity = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [passing[i]["track_id"] for i in np.argsort(-similarity, kind="stable")[:k]]


@pytest.fixture
async def keyed(db: asyncpg.Connection) -> Catalogue:
    """ROWS tracks spread over 120 tempi and four keys (a quarter each), analysed inside the test's transaction."""
    suffix = secrets.token_hex(4)
    user = await accounts.create_user(
        db, organisation_name=f"Ranges {suffix}", organisation_kind=OrganisationKind.LABEL,
        email=f"ranges-{suffix}@example.test", display_name="R", role=Role.RIGHTS_HOLDER, password="x" * 12,
    )  # fmt: skip
    await db.execute("INSERT INTO discovery_audio VALUES ($1, 'wav', 1, 1) ON CONFLICT DO NOTHING", "0" * 64)
    catalogue = Catalogue()
    for i in range(ROWS):
        track = await rights.create_track(
            db, owner_organisation_id=user.organisation_id, title=f"R{i}", artist="R"
        )
        catalogue.ids.append(track.id)
        await db.execute(
            """INSERT INTO discovery_tracks (track_id, audio_sha256, status, mood, bpm, key_tonic, mode)
               VALUES ($1, $2, $3, 'calm', $4, $5, $6)""",
            track.id, "0" * 64, "done" if catalogue.done[i] else "running", float(catalogue.bpm[i]),
            catalogue.keys[i].tonic, catalogue.keys[i].mode.value,
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
    ],
    ids=["tempo", "key", "key-and-tempo"],
)
async def test_a_tempo_or_key_search_returns_the_exact_k_nearest_that_pass_read_from_its_range(
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
