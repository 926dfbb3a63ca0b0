"""Discovery: the range table carries each track's mood too, so a mood in a tempo window is one range of a btree.

A filter on a mood and a tempo window keeps about 0.5 % of the catalogue (tense, 100–112 BPM). At
1,000,000 tracks that is 5,000 rows: too many to score exactly (12 ms of CPU), so it walked the
tense graph taking about 250 rows, 4.1 ms of CPU and a p99 of 7.1 ms on a quiet machine. The tempo
btree of migration 0090 would read twenty times its rows (the whole window, every mood). A btree on
`(mood, bpm)` carrying the track ids and vectors (INCLUDE) reads just the 5,000 by an index-only
scan, about 0.2 µs of CPU each: about 1 ms (at 100,000 tracks, its 505 rows 0.20 ms of server CPU
against 1.85 ms for the window's 9,987 in the tempo btree; discovery.search_plan, docs/benchmarks.md).

The table is refilled rather than updated: an UPDATE of every row would leave a dead copy of each in
the table and in both of its btrees until VACUUM. The btrees are built after the fill, faster than
inserting into them row by row. The cost: 25 MB per 100,000 tracks for the new btree, a refill of
the table and its three btrees (1.5 s for 100,000 here; the range searches and new analyses wait
meanwhile), and a third btree entry to write for each analysis, beside two graph insertions. Rows
written since the last VACUUM are read from the table, not the index alone (autovacuum follows
inserts).
"""

from marketplace.migrations import run_sql

revision = "0092_discovery_mood_ranges"
down_revision = "0091_discovery_graph_recall"
branch_labels = None
depends_on = None

# The copy of one track's embedding, tempo, key and (with `mood`) mood, written afresh whichever changed.
FOLLOWS = """
    CREATE OR REPLACE FUNCTION discovery_tempo_key_follows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO discovery_tempo_key_embeddings (track_id, bpm, key_tonic, mode{mood}, embedding)
            SELECT e.track_id, d.bpm, d.key_tonic, d.mode{d_mood}, e.embedding
              FROM discovery_embeddings e LEFT JOIN discovery_tracks d USING (track_id)
             WHERE e.track_id = NEW.track_id
        ON CONFLICT (track_id) DO UPDATE
            SET bpm = excluded.bpm, key_tonic = excluded.key_tonic, mode = excluded.mode{set_mood},
                embedding = excluded.embedding;
        RETURN NULL;
    END
    $$;
    DROP TRIGGER discovery_tempo_key_reaches_copy ON discovery_tracks;
    CREATE TRIGGER discovery_tempo_key_reaches_copy AFTER INSERT OR UPDATE OF {columns}
        ON discovery_tracks FOR EACH ROW EXECUTE FUNCTION discovery_tempo_key_follows();
"""


def upgrade() -> None:
    run_sql(f"""
    SET LOCAL maintenance_work_mem = '1GB';
    DROP INDEX discovery_tempo_key_embeddings_bpm_idx, discovery_tempo_key_embeddings_key_idx;
    TRUNCATE discovery_tempo_key_embeddings;
    ALTER TABLE discovery_tempo_key_embeddings ADD COLUMN mood text;
    INSERT INTO discovery_tempo_key_embeddings (track_id, bpm, key_tonic, mode, mood, embedding)
        SELECT e.track_id, d.bpm, d.key_tonic, d.mode, d.mood, e.embedding
          FROM discovery_embeddings e LEFT JOIN discovery_tracks d USING (track_id);
    CREATE INDEX discovery_tempo_key_embeddings_bpm_idx
        ON discovery_tempo_key_embeddings (bpm) INCLUDE (track_id, embedding);
    CREATE INDEX discovery_tempo_key_embeddings_key_idx
        ON discovery_tempo_key_embeddings (key_tonic, mode, bpm) INCLUDE (track_id, embedding);
    CREATE INDEX discovery_tempo_key_embeddings_mood_idx
        ON discovery_tempo_key_embeddings (mood, bpm) INCLUDE (track_id, embedding);
    {FOLLOWS.format(mood=", mood", d_mood=", d.mood", set_mood=", mood = excluded.mood",
                    columns="bpm, key_tonic, mode, mood")}
    """)  # fmt: skip


def downgrade() -> None:
    run_sql(f"""
    {FOLLOWS.format(mood="", d_mood="", set_mood="", columns="bpm, key_tonic, mode")}
    DROP INDEX discovery_tempo_key_embeddings_mood_idx;
    ALTER TABLE discovery_tempo_key_embeddings DROP COLUMN mood;
    """)  # fmt: skip
