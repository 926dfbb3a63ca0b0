"""Discovery: the embeddings again beside their tracks' tempo and key, so a tempo or key range is read from one btree.

A filter on tempo or key alone keeps a few per cent of the catalogue: too many rows for the exact
search (each found through discovery_tracks, its embedding then looked up by key: 14 ms of CPU for
the 5,000 tracks of 118–124 BPM at 100,000 tracks) and too few for the whole graph (about 500
candidates weighed: 5.4 ms; one key, 760: 10 ms; docs/benchmarks.md). A btree on tempo, or on key
and tempo, that carries the track ids and vectors themselves (INCLUDE) is read by an index-only
scan: the same 5,000 rows scored exactly cost 1.0 ms, a key's 3,300 rows 0.9 ms. The rest of the
filter (status, mood, duration…) is applied to the nearest of them afterwards
(discovery.search_plan).

A btree's columns must be the indexed table's own, and giving discovery_embeddings the tempo and
key would rewrite every row and rebuild its five graphs (an hour at 1,000,000 tracks); this narrow
table is filled in seconds instead (3 s at 100,000), and the database keeps it in step: whoever
writes an embedding or a track's tempo or key, the copy follows; a deleted embedding takes its copy
with it. The cost: 79 MB per 100,000 tracks (the table 24 MB, each btree 25 MB, its key 4 MB) and
two small upserts for each analysis. Index-only scans skip the table only for pages VACUUM has
marked all-visible (autovacuum does after inserts); rows written since are read from the table.
"""

from marketplace.migrations import run_sql

revision = "0090_discovery_tempo_key_ranges"
down_revision = "0089_discovery_mood_tempo_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE discovery_tempo_key_embeddings (
        track_id   uuid PRIMARY KEY REFERENCES discovery_embeddings (track_id) ON DELETE CASCADE,
        bpm        real,
        key_tonic  smallint,
        mode       text,
        embedding  vector(47) NOT NULL
    );
    INSERT INTO discovery_tempo_key_embeddings (track_id, bpm, key_tonic, mode, embedding)
        SELECT e.track_id, d.bpm, d.key_tonic, d.mode, e.embedding
          FROM discovery_embeddings e LEFT JOIN discovery_tracks d USING (track_id);
    CREATE INDEX discovery_tempo_key_embeddings_bpm_idx
        ON discovery_tempo_key_embeddings (bpm) INCLUDE (track_id, embedding);
    CREATE INDEX discovery_tempo_key_embeddings_key_idx
        ON discovery_tempo_key_embeddings (key_tonic, mode, bpm) INCLUDE (track_id, embedding);

    -- The copy of one track's embedding, tempo and key, written afresh whichever of them changed.
    CREATE FUNCTION discovery_tempo_key_follows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO discovery_tempo_key_embeddings (track_id, bpm, key_tonic, mode, embedding)
            SELECT e.track_id, d.bpm, d.key_tonic, d.mode, e.embedding
              FROM discovery_embeddings e LEFT JOIN discovery_tracks d USING (track_id)
             WHERE e.track_id = NEW.track_id
        ON CONFLICT (track_id) DO UPDATE
            SET bpm = excluded.bpm, key_tonic = excluded.key_tonic, mode = excluded.mode,
                embedding = excluded.embedding;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER discovery_embedding_reaches_tempo_key AFTER INSERT OR UPDATE OF embedding
        ON discovery_embeddings FOR EACH ROW EXECUTE FUNCTION discovery_tempo_key_follows();
    CREATE TRIGGER discovery_tempo_key_reaches_copy AFTER INSERT OR UPDATE OF bpm, key_tonic, mode
        ON discovery_tracks FOR EACH ROW EXECUTE FUNCTION discovery_tempo_key_follows();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER discovery_tempo_key_reaches_copy ON discovery_tracks;
    DROP TRIGGER discovery_embedding_reaches_tempo_key ON discovery_embeddings;
    DROP FUNCTION discovery_tempo_key_follows();
    DROP TABLE discovery_tempo_key_embeddings;
    """)
