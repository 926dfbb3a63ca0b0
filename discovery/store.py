"""Discovery's SQL: audio, analysis state, features, embeddings, tags, fingerprints and search queries."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple
from uuid import UUID

import asyncpg
import msgspec
import numpy as np
import numpy.typing as npt

from discovery import fingerprint_runs, search_plan
from discovery.model import (
    AnalysisStatus,
    AudioFeatures,
    Candidate,
    CatalogueStatistics,
    ColumnStatistics,
    FingerprintHit,
    GraphCalibration,
    Landmark,
    Mood,
    RecallMeasurement,
    SearchFilters,
    StoredTag,
    Tag,
    TrackAnalysis,
)

TEXT_CANDIDATES = 1_000

_STATE_COLUMNS = (
    "track_id, status, progress, attempts, error, analysis_version, updated_at, near_duplicate_of, features"
)


def _analysis(row: asyncpg.Record) -> TrackAnalysis:
    features = row["features"]
    return TrackAnalysis(
        track_id=row["track_id"],
        status=AnalysisStatus(row["status"]),
        progress=row["progress"],
        attempts=row["attempts"],
        error=row["error"],
        analysis_version=row["analysis_version"],
        updated_at=row["updated_at"],
        near_duplicate_of=row["near_duplicate_of"],
        features=msgspec.convert(features, AudioFeatures) if features is not None else None,
    )


def _tag(row: asyncpg.Record) -> StoredTag:
    return msgspec.convert(dict(row), StoredTag)


# Audio and analysis state


async def add_audio(
    conn: asyncpg.Connection, sha256: str, fmt: str, size_bytes: int, duration_s: float
) -> None:
    await conn.execute(
        """INSERT INTO discovery_audio (sha256, format, size_bytes, duration_s) VALUES ($1, $2, $3, $4)
           ON CONFLICT (sha256) DO NOTHING""",
        sha256, fmt, size_bytes, duration_s,
    )  # fmt: skip


async def attach_audio(conn: asyncpg.Connection, track_id: UUID, sha256: str) -> None:
    """Point the track at new audio and queue it for analysis afresh."""
    await conn.execute(
        """INSERT INTO discovery_tracks (track_id, audio_sha256) VALUES ($1, $2)
           ON CONFLICT (track_id) DO UPDATE SET audio_sha256 = excluded.audio_sha256, status = 'pending',
               progress = 0, attempts = 0, error = NULL, updated_at = now()""",
        track_id, sha256,
    )  # fmt: skip


async def audio_of(conn: asyncpg.Connection, track_id: UUID) -> tuple[str, str] | None:
    """The track's audio as (sha256, format), or None when it has none."""
    row = await conn.fetchrow(
        """SELECT a.sha256, a.format FROM discovery_tracks d JOIN discovery_audio a ON a.sha256 = d.audio_sha256
           WHERE d.track_id = $1""",
        track_id,
    )
    return (row["sha256"], row["format"]) if row else None


async def analysis(conn: asyncpg.Connection, track_id: UUID) -> TrackAnalysis | None:
    row = await conn.fetchrow(f"SELECT {_STATE_COLUMNS} FROM discovery_tracks WHERE track_id = $1", track_id)
    return _analysis(row) if row else None


async def start_attempt(conn: asyncpg.Connection, track_id: UUID) -> int:
    """Mark the analysis running and count the attempt; returns the attempt number."""
    attempts: int = await conn.fetchval(
        """UPDATE discovery_tracks SET status = 'running', progress = 0.05, attempts = attempts + 1,
               updated_at = now()
           WHERE track_id = $1 RETURNING attempts""",
        track_id,
    )
    return attempts


async def set_progress(conn: asyncpg.Connection, track_id: UUID, progress: float) -> None:
    await conn.execute(
        "UPDATE discovery_tracks SET progress = $2, updated_at = now() WHERE track_id = $1",
        track_id,
        progress,
    )


async def record_failure(conn: asyncpg.Connection, track_id: UUID, error: str, *, final: bool) -> None:
    """Keep the error on the track: 'failed' when no retry follows, else back to 'pending'."""
    await conn.execute(
        "UPDATE discovery_tracks SET status = $2, error = $3, updated_at = now() WHERE track_id = $1",
        track_id, "failed" if final else "pending", error[:2_000],
    )  # fmt: skip


async def save_analysis(
    conn: asyncpg.Connection,
    track_id: UUID,
    features: AudioFeatures,
    embedding: npt.NDArray[np.float64],
    tags: Sequence[Tag],
    landmarks: Sequence[Landmark],
    near_duplicate_of: UUID | None,
) -> None:
    """Replace the track's features, embedding, analyser tags and fingerprints; mark it done."""
    await conn.execute(
        """UPDATE discovery_tracks SET status = 'done', progress = 1, error = NULL, analysis_version = $2,
               features = $3::jsonb, bpm = $4, key_tonic = $5, mode = $6, mood = $7, duration_s = $8,
               instrumental = $9, near_duplicate_of = $10, updated_at = now()
           WHERE track_id = $1""",
        track_id, features.analysis_version, msgspec.to_builtins(features), features.bpm, features.key.tonic,
        features.key.mode.value, next((t.value for t in tags if t.kind == "mood"), None), features.duration_s,
        features.instrumental, near_duplicate_of,
    )  # fmt: skip
    # The embedding's copy of the mood (for the per-mood graphs' partial indexes) is the database's to
    # keep: triggers copy it from discovery_tracks (migration 0088).
    await conn.execute(
        """INSERT INTO discovery_embeddings (track_id, analysis_version, embedding) VALUES ($1, $2, $3)
           ON CONFLICT (track_id) DO UPDATE SET analysis_version = excluded.analysis_version,
               embedding = excluded.embedding""",
        track_id, features.analysis_version, embedding,
    )  # fmt: skip
    # The analyser's own tags are replaced; human tags and confirmed ones are people's work and stay.
    await conn.execute(
        "DELETE FROM discovery_tags WHERE track_id = $1 AND source = 'ai' AND NOT confirmed AND kind <> 'style'",
        track_id,
    )
    for tag in tags:
        await upsert_tag(conn, track_id, tag)
    await save_fingerprints(conn, track_id, landmarks)


async def features_of(conn: asyncpg.Connection, track_ids: Sequence[UUID]) -> dict[UUID, AudioFeatures]:
    rows = await conn.fetch(
        "SELECT track_id, features FROM discovery_tracks WHERE track_id = ANY($1::uuid[]) AND features IS NOT NULL",
        list(track_ids),
    )
    return {r["track_id"]: msgspec.convert(r["features"], AudioFeatures) for r in rows}


def _embedding(row: asyncpg.Record) -> npt.NDArray[np.float64]:
    """A row's embedding as floats: pgvector's codec decodes to its own Vector type."""
    return np.asarray(row["embedding"].to_numpy(), dtype=np.float64)


async def embeddings_of(
    conn: asyncpg.Connection, track_ids: Sequence[UUID]
) -> dict[UUID, npt.NDArray[np.float64]]:
    rows = await conn.fetch(
        "SELECT track_id, embedding FROM discovery_embeddings WHERE track_id = ANY($1::uuid[])",
        list(track_ids),
    )
    return {r["track_id"]: _embedding(r) for r in rows}


async def update_document(
    conn: asyncpg.Connection, track_id: UUID, title: str, artist: str, description: str
) -> None:
    """Rebuild the full-text document: title and artist weigh most, then tags, then the description."""
    await conn.execute(
        """UPDATE discovery_tracks d SET document =
               setweight(to_tsvector('english', $2), 'A') || setweight(to_tsvector('english', $3), 'A')
               || setweight(to_tsvector('english', coalesce(
                   (SELECT string_agg(value, ' ') FROM discovery_tags t WHERE t.track_id = d.track_id), '')), 'B')
               || setweight(to_tsvector('english', $4), 'C')
           WHERE d.track_id = $1""",
        track_id, title, artist, description,
    )  # fmt: skip


# Tags


async def upsert_tag(
    conn: asyncpg.Connection, track_id: UUID, tag: Tag, confirmed_by: UUID | None = None
) -> StoredTag:
    row = await conn.fetchrow(
        """INSERT INTO discovery_tags (track_id, kind, value, source, confidence, confirmed, confirmed_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (track_id, kind, value) DO UPDATE SET
               source = CASE WHEN discovery_tags.source = 'human' THEN 'human' ELSE excluded.source END,
               confidence = greatest(discovery_tags.confidence, excluded.confidence),
               confirmed = discovery_tags.confirmed OR excluded.confirmed,
               confirmed_by = coalesce(discovery_tags.confirmed_by, excluded.confirmed_by)
           RETURNING id, track_id, kind, value, source, confidence, confirmed""",
        track_id, tag.kind.value, tag.value, tag.source.value, tag.confidence, tag.confirmed, confirmed_by,
    )  # fmt: skip
    return _tag(row)


async def tags_of(conn: asyncpg.Connection, track_ids: Sequence[UUID]) -> dict[UUID, list[StoredTag]]:
    rows = await conn.fetch(
        """SELECT id, track_id, kind, value, source, confidence, confirmed FROM discovery_tags
           WHERE track_id = ANY($1::uuid[]) ORDER BY kind, confidence DESC, value""",
        list(track_ids),
    )
    out: dict[UUID, list[StoredTag]] = {t: [] for t in track_ids}
    for row in rows:
        out[row["track_id"]].append(_tag(row))
    return out


async def tag(conn: asyncpg.Connection, tag_id: UUID) -> StoredTag | None:
    row = await conn.fetchrow(
        "SELECT id, track_id, kind, value, source, confidence, confirmed FROM discovery_tags WHERE id = $1",
        tag_id,
    )
    return _tag(row) if row else None


async def confirm_tag(conn: asyncpg.Connection, tag_id: UUID, user_id: UUID) -> StoredTag:
    row = await conn.fetchrow(
        """UPDATE discovery_tags SET confirmed = true, confirmed_by = $2 WHERE id = $1
           RETURNING id, track_id, kind, value, source, confidence, confirmed""",
        tag_id, user_id,
    )  # fmt: skip
    return _tag(row)


async def delete_tag(conn: asyncpg.Connection, tag_id: UUID) -> None:
    await conn.execute("DELETE FROM discovery_tags WHERE id = $1", tag_id)


async def delete_unconfirmed_suggestions(conn: asyncpg.Connection, track_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM discovery_tags WHERE track_id = $1 AND source = 'ai' AND kind = 'style' AND NOT confirmed",
        track_id,
    )


async def human_tagged_neighbours(
    conn: asyncpg.Connection, embedding: npt.NDArray[np.float64], exclude: UUID, k: int
) -> list[tuple[UUID, float, tuple[str, ...]]]:
    """The k nearest tracks carrying human (or confirmed) style tags: (track, cosine similarity, tags)."""
    rows = await conn.fetch(
        """WITH tagged AS MATERIALIZED (
               SELECT track_id, array_agg(value ORDER BY value) AS tags FROM discovery_tags
               WHERE kind = 'style' AND (source = 'human' OR confirmed) AND track_id <> $2 GROUP BY track_id)
           SELECT t.track_id, 1 - (e.embedding <=> $1) AS similarity, t.tags
           FROM tagged t JOIN discovery_embeddings e USING (track_id)
           ORDER BY e.embedding <=> $1 LIMIT $3""",
        embedding, exclude, k,
    )  # fmt: skip
    return [(r["track_id"], float(r["similarity"]), tuple(r["tags"])) for r in rows]


# Fingerprints


# Fingerprints: packed runs over the hash space (discovery.fingerprint_runs)

# Writers read, merge and rewrite runs, so they take turns; readers see whole transactions.
FINGERPRINT_WRITERS_LOCK = 0x4650_5255  # "FPRU"

# The run covering each hash: the one with the greatest first hash at or below it (an index probe).
_COVERING_RUNS = """
    SELECT first_hash, landmarks FROM discovery_fingerprint_runs
     WHERE first_hash IN (SELECT (SELECT max(first_hash) FROM discovery_fingerprint_runs WHERE first_hash <= h)
                            FROM unnest($1::int[]) AS h)"""


async def save_fingerprints(conn: asyncpg.Connection, track_id: UUID, landmarks: Sequence[Landmark]) -> None:
    """Replace the track's landmarks in the index, inside the caller's transaction.

    The track gets a fresh key, so its old landmarks stop counting at once; they are dropped
    from each run that this or a later write rewrites.
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1)", FINGERPRINT_WRITERS_LOCK)
    await conn.execute("DELETE FROM discovery_fingerprint_keys WHERE track_id = $1", track_id)
    if not landmarks:
        return
    key = await conn.fetchval(
        "INSERT INTO discovery_fingerprint_keys (track_id) VALUES ($1) RETURNING track_key", track_id
    )
    added = fingerprint_runs.entries(key, landmarks)
    rows = await conn.fetch(_COVERING_RUNS, np.unique(fingerprint_runs.hashes_of(added)).tolist())
    runs: dict[int, bytes] = {r["first_hash"]: r["landmarks"] for r in rows}
    present = np.unique(fingerprint_runs.unpack(b"".join(runs.values()))["track"]).tolist()
    live = await conn.fetch(
        "SELECT track_key FROM discovery_fingerprint_keys WHERE track_key = ANY($1::int[])", present
    )
    rewritten = fingerprint_runs.rewrite(runs, added, {r["track_key"] for r in live} | {key})
    # Each rewritten run keeps its key, so this is an update in place (HOT: the page's free space
    # takes the new version and the old one is pruned without waiting for VACUUM); parts split
    # off a run are new rows.
    await conn.execute(
        """INSERT INTO discovery_fingerprint_runs (first_hash, landmarks)
           SELECT * FROM unnest($1::int[], $2::bytea[])
           ON CONFLICT (first_hash) DO UPDATE SET landmarks = excluded.landmarks""",
        list(rewritten), list(rewritten.values()),
    )  # fmt: skip


async def fingerprint_hits(conn: asyncpg.Connection, hashes: Collection[int]) -> list[FingerprintHit]:
    """Every stored landmark of a live track with one of the hashes: one run lookup per clip."""
    rows = await conn.fetch(_COVERING_RUNS, list(hashes))
    found = fingerprint_runs.matching([r["landmarks"] for r in rows], hashes)
    keys = await conn.fetch(
        "SELECT track_key, track_id FROM discovery_fingerprint_keys WHERE track_key = ANY($1::int[])",
        np.unique(found["track"]).tolist(),
    )
    tracks: dict[int, UUID] = {r["track_key"]: r["track_id"] for r in keys}
    return [
        FingerprintHit(h, tracks[k], o)
        for h, k, o in zip(
            fingerprint_runs.hashes_of(found).tolist(),
            found["track"].tolist(),
            fingerprint_runs.offsets_of(found).tolist(),
            strict=True,
        )
        if k in tracks
    ]


async def fingerprint_index_bytes(conn: asyncpg.Connection) -> int:
    """The fingerprint index's size on disk, all in: tables, their indexes and TOAST."""
    size: int = await conn.fetchval(
        """SELECT pg_total_relation_size('discovery_fingerprint_runs')
                + pg_total_relation_size('discovery_fingerprint_keys')"""
    )
    return size


async def near_duplicate_links(
    conn: asyncpg.Connection, track_ids: Sequence[UUID]
) -> list[tuple[UUID, UUID]]:
    """(copy, original) links touching these tracks, followed to the whole of each recording group."""
    rows = await conn.fetch(
        """WITH RECURSIVE linked (copy, original) AS (
               SELECT track_id, near_duplicate_of FROM discovery_tracks
                WHERE near_duplicate_of IS NOT NULL AND (track_id = ANY($1) OR near_duplicate_of = ANY($1))
               UNION
               SELECT d.track_id, d.near_duplicate_of FROM discovery_tracks d JOIN linked l
                   ON d.track_id IN (l.copy, l.original) OR d.near_duplicate_of IN (l.copy, l.original)
                WHERE d.near_duplicate_of IS NOT NULL
           )
           SELECT copy, original FROM linked""",
        list(track_ids),
    )
    return [(r["copy"], r["original"]) for r in rows]


# Search


def _where(filters: SearchFilters, args: list[object]) -> str:
    """The WHERE conditions on discovery_tracks `d`, appending their parameters to args.

    Only fixed SQL fragments are joined here; every value travels as a parameter.
    """

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["d.status = 'done'"]
    if filters.bpm_min is not None:
        conditions.append(f"d.bpm >= {param(filters.bpm_min)}")
    if filters.bpm_max is not None:
        conditions.append(f"d.bpm <= {param(filters.bpm_max)}")
    if filters.key is not None:
        conditions.append(
            f"d.key_tonic = {param(filters.key.tonic)} AND d.mode = {param(filters.key.mode.value)}"
        )
    if filters.mode is not None:
        conditions.append(f"d.mode = {param(filters.mode.value)}")
    if filters.mood is not None:
        conditions.append(f"d.mood = {param(filters.mood.value)}")
    if filters.duration_min is not None:
        conditions.append(f"d.duration_s >= {param(filters.duration_min)}")
    if filters.duration_max is not None:
        conditions.append(f"d.duration_s <= {param(filters.duration_max)}")
    if filters.instrumental is not None:
        conditions.append(f"(d.instrumental >= 0.5) = {param(filters.instrumental)}")
    if filters.track_ids is not None:
        conditions.append(f"d.track_id = ANY({param(list(filters.track_ids))}::uuid[])")
    if filters.exclude:
        conditions.append(f"d.track_id <> ALL({param(list(filters.exclude))}::uuid[])")
    return " AND ".join(conditions)


async def matching_ids(conn: asyncpg.Connection, filters: SearchFilters, limit: int) -> list[UUID]:
    args: list[object] = []
    where = _where(filters, args)
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT d.track_id FROM discovery_tracks d WHERE {where} ORDER BY d.updated_at DESC, d.track_id LIMIT ${len(args)}",
        *args,
    )
    return [r["track_id"] for r in rows]


# The columns search filters on, and those of them compared as numbers (their histograms are kept).
FILTERED_COLUMNS = ("status", "bpm", "key_tonic", "mode", "mood", "duration_s", "instrumental")
NUMERIC_COLUMNS = frozenset({"bpm", "duration_s", "instrumental"})


async def catalogue_statistics(conn: asyncpg.Connection) -> CatalogueStatistics:
    """What ANALYZE (autovacuum) last recorded about discovery_tracks: its size and filtered columns."""
    rows = await conn.fetch(
        """SELECT c.reltuples, s.attname, s.null_frac, s.n_distinct,
                  s.most_common_vals::text::text[] AS common_values, s.most_common_freqs,
                  s.histogram_bounds::text::text[] AS histogram
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
               AND s.attname = ANY($1::name[]) AND NOT s.inherited
           WHERE c.oid = 'discovery_tracks'::regclass""",
        list(FILTERED_COLUMNS),
    )
    columns = {
        r["attname"]: ColumnStatistics(
            null_fraction=r["null_frac"],
            distinct=r["n_distinct"],
            common_values=tuple(r["common_values"] or ()),
            common_frequencies=tuple(r["most_common_freqs"] or ()),
            histogram=tuple(float(b) for b in r["histogram"] or ())
            if r["attname"] in NUMERIC_COLUMNS
            else (),
        )
        for r in rows
        if r["attname"] is not None
    }
    return CatalogueStatistics(
        rows=float(rows[0]["reltuples"]), columns=columns, calibration=await latest_calibration(conn)
    )


async def catalogue_rows(conn: asyncpg.Connection) -> int:
    """The catalogue's tracks, counted (what CatalogueStatistics.rows estimates)."""
    count: int = await conn.fetchval("SELECT count(*) FROM discovery_tracks")
    return count


async def embedding_sample(
    conn: asyncpg.Connection, n: int, rows: int
) -> list[tuple[UUID, npt.NDArray[np.float64]]]:
    """About n embeddings drawn at random from the whole table (n or fewer; all of a small one)."""
    # Rows sampled across every page, three times what is wanted, n of them kept at random.
    percent = min(100.0, 300.0 * n / max(rows, 1))
    records = await conn.fetch(
        """SELECT track_id, embedding FROM discovery_embeddings TABLESAMPLE BERNOULLI ($1)
           ORDER BY random() LIMIT $2""",
        percent,
        n,
    )
    return [(r["track_id"], _embedding(r)) for r in records]


async def graph_neighbours(
    conn: asyncpg.Connection,
    vector: npt.NDArray[np.float64],
    k: int,
    ef_search: int,
    other_than: UUID | None = None,
) -> list[Candidate]:
    """The k nearest embeddings (but `other_than`) the whole catalogue's graph finds weighing `ef_search`."""
    rows = await conn.fetch(
        """SELECT track_id, distance FROM discovery_index_neighbours($1, $2, $3)
           WHERE track_id IS DISTINCT FROM $4 ORDER BY distance, track_id LIMIT $5""",
        vector,
        k + 1,
        max(ef_search, k + 1),
        other_than,
        k,
    )
    return [Candidate(track_id=r["track_id"], distance=float(r["distance"])) for r in rows]


async def true_neighbours(conn: asyncpg.Connection, vector: npt.NDArray[np.float64], k: int) -> list[UUID]:
    """The k nearest embeddings, every one scored: the answer the graph's is measured against."""
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")  # the graph would answer ORDER BY … LIMIT
        rows = await conn.fetch(
            "SELECT track_id FROM discovery_embeddings ORDER BY embedding <=> $1, track_id LIMIT $2",
            vector,
            k,
        )
    return [r["track_id"] for r in rows]


async def record_calibration(conn: asyncpg.Connection, calibration: GraphCalibration) -> None:
    await conn.execute(
        """INSERT INTO discovery_graph_calibrations (measured_at, catalogue_rows, queries, ef_search, recall)
           VALUES ($1, $2, $3, $4, $5)""",
        calibration.measured_at,
        calibration.rows,
        calibration.queries,
        [m.ef_search for m in calibration.recalls],
        [m.recall for m in calibration.recalls],
    )


async def latest_calibration(conn: asyncpg.Connection) -> GraphCalibration | None:
    row = await conn.fetchrow(
        """SELECT measured_at, catalogue_rows, queries, ef_search, recall FROM discovery_graph_calibrations
           ORDER BY measured_at DESC LIMIT 1"""
    )
    if row is None:
        return None
    return GraphCalibration(
        measured_at=row["measured_at"],
        rows=row["catalogue_rows"],
        queries=row["queries"],
        recalls=tuple(
            RecallMeasurement(ef_search=ef_search, recall=recall)
            for ef_search, recall in zip(row["ef_search"], row["recall"], strict=True)
        ),
    )


async def exact_neighbours(
    conn: asyncpg.Connection, vector: npt.NDArray[np.float64], filters: SearchFilters, limit: int
) -> list[Candidate]:
    """Nearest tracks by scoring every filtered row: complete whatever the filter keeps."""
    args: list[object] = [vector]
    where = _where(filters, args)
    args.append(limit)
    # Each embedding is looked up by its key: joined, the planner scanned all embeddings, a cost that
    # grows with the catalogue, where lookups grow only with the rows that match. The materialised
    # CTE keeps the planner off the HNSW index, whose scan would filter after choosing. Prepared
    # afresh, the statement is planned for the filter's values: a cached one turns generic after
    # five runs, blind to how few rows each condition keeps (e.g. scanning every track in a tempo
    # range for the few of one mood, twice the CPU), a cost far above the round trip this adds.
    statement = await conn.prepare(
        f"""WITH scored AS MATERIALIZED (
                SELECT d.track_id,
                       (SELECT e.embedding FROM discovery_embeddings e WHERE e.track_id = d.track_id) <=> $1
                           AS distance
                FROM discovery_tracks d WHERE {where})
            SELECT track_id, distance FROM scored WHERE distance IS NOT NULL
            ORDER BY distance, track_id LIMIT ${len(args)}"""
    )
    rows = await statement.fetch(*args)
    return [Candidate(track_id=r["track_id"], distance=float(r["distance"])) for r in rows]


async def index_neighbours(
    conn: asyncpg.Connection,
    vector: npt.NDArray[np.float64],
    filters: SearchFilters,
    limit: int,
    take: int,
    ef_search: int,
    graph: Mood | None = None,
) -> list[Candidate]:
    """Nearest tracks among the `take` the HNSW index yields (weighing `ef_search`), filtered afterwards.

    The index is the whole catalogue's graph, or with `graph` that mood's own. One statement: the
    function sets ef_search for its own scan. May return fewer than `limit` when the filter leaves
    too few of them; the caller then searches exactly.
    """
    args: list[object] = [vector, take, ef_search]
    neighbours = "discovery_index_neighbours($1, $2, $3)"
    if graph is not None:
        args.append(graph.value)
        neighbours = "discovery_mood_neighbours($1, $4, $2, $3)"
    where = _where(filters, args)
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT c.track_id, c.distance FROM {neighbours} c
            JOIN discovery_tracks d USING (track_id)
            WHERE {where} ORDER BY c.distance, c.track_id LIMIT ${len(args)}""",
        *args,
    )
    return [Candidate(track_id=r["track_id"], distance=float(r["distance"])) for r in rows]


async def range_neighbours(
    conn: asyncpg.Connection,
    vector: npt.NDArray[np.float64],
    filters: SearchFilters,
    limit: int,
    take: int,
) -> list[Candidate]:
    """Nearest tracks among the `take` nearest of those in the filters' range, filtered afterwards.

    The range is the filters' tempo range and key, or their mood in the tempo range
    (search_plan.range_mood). Every embedding in it is scored exactly, read with its vector from one
    btree (migrations 0090, 0092): the filters must name a tempo bound or a key. May return fewer
    than `limit` when the rest of the filter leaves too few of the `take`; the caller then searches
    exactly.
    """
    args: list[object] = [vector, take]
    in_range = []
    mood = search_plan.range_mood(filters)
    if mood is not None:
        args.append(mood.value)
        in_range.append(f"r.mood = ${len(args)}")
    if filters.bpm_min is not None:
        args.append(filters.bpm_min)
        in_range.append(f"r.bpm >= ${len(args)}")
    if filters.bpm_max is not None:
        args.append(filters.bpm_max)
        in_range.append(f"r.bpm <= ${len(args)}")
    if filters.key is not None:
        args += [filters.key.tonic, filters.key.mode.value]
        in_range.append(f"r.key_tonic = ${len(args) - 1} AND r.mode = ${len(args)}")
    if not in_range:
        raise ValueError("a range search needs a tempo bound or a key")
    where = _where(filters, args)
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT c.track_id, c.distance FROM (
                SELECT r.track_id, r.embedding <=> $1 AS distance FROM discovery_tempo_key_embeddings r
                WHERE {" AND ".join(in_range)} ORDER BY distance LIMIT $2) c
            JOIN discovery_tracks d USING (track_id)
            WHERE {where} ORDER BY c.distance, c.track_id LIMIT ${len(args)}""",
        *args,
    )
    return [Candidate(track_id=r["track_id"], distance=float(r["distance"])) for r in rows]


async def text_matches(
    conn: asyncpg.Connection, text: str, filters: SearchFilters, vector: npt.NDArray[np.float64] | None
) -> list[Candidate]:
    """Tracks whose document matches the words (web-search syntax), best ranked first, with distances."""
    args: list[object] = [text, vector]
    where = _where(filters, args)
    args.append(TEXT_CANDIDATES)
    rows = await conn.fetch(
        f"""SELECT d.track_id, ts_rank(d.document, q) AS rank,
                   CASE WHEN $2::vector IS NULL THEN NULL ELSE e.embedding <=> $2::vector END AS distance
            FROM discovery_tracks d LEFT JOIN discovery_embeddings e USING (track_id),
                 websearch_to_tsquery('english', $1) q
            WHERE d.document @@ q AND {where}
            ORDER BY rank DESC, d.track_id LIMIT ${len(args)}""",
        *args,
    )
    return [
        Candidate(
            track_id=r["track_id"],
            text_rank=float(r["rank"]),
            distance=float(r["distance"]) if r["distance"] is not None else None,
        )
        for r in rows
    ]


class AnalysisCounts(NamedTuple):
    analysed: int
    failed: int


async def analysis_counts(
    conn: asyncpg.Connection, track_ids: Sequence[UUID], version: int
) -> AnalysisCounts:
    """Of these tracks, how many are analysed by analyser `version` and how many failed for good."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'done' AND analysis_version = $2) AS analysed,
                  count(*) FILTER (WHERE status = 'failed') AS failed
            FROM discovery_tracks WHERE track_id = ANY($1::uuid[])""",
        list(track_ids),
        version,
    )
    return AnalysisCounts(analysed=row["analysed"], failed=row["failed"])
