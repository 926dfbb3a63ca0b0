"""Discovery: fingerprints as packed runs over the hash space, tracks as integer keys (8 MB an hour → under 3).

A row per landmark cost 81 bytes all-in. Each run row now holds about 96 landmarks whose hashes
lie in [first_hash, the next run's first_hash), as 10-byte big-endian entries sorted by hash:
hash << 6 | offset >> 16 (4 bytes), offset & 0xFFFF (2 bytes), track key (4 bytes); see
discovery.fingerprint_runs. Existing rows are converted, not re-fingerprinted; the downgrade
expands the runs back into rows.
"""

from marketplace.migrations import run_sql

revision = "0080_discovery_fingerprint_runs"
down_revision = "0003_discovery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    -- A fresh key per analysis: landmarks of a key that is gone (re-analysed or deleted track) are
    -- ignored by lookups and dropped when their run is next rewritten.
    CREATE TABLE discovery_fingerprint_keys (
        track_key  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        track_id   uuid NOT NULL UNIQUE REFERENCES tracks (id) ON DELETE CASCADE
    );

    -- Every new analysis rewrites the runs its hashes fall in: room on each page lets the new
    -- version stay there (a HOT update), so the old one is pruned without waiting for VACUUM.
    CREATE TABLE discovery_fingerprint_runs (
        first_hash  integer PRIMARY KEY,
        landmarks   bytea NOT NULL CHECK (length(landmarks) % 10 = 0)
    ) WITH (fillfactor = 70);

    INSERT INTO discovery_fingerprint_keys (track_id)
    SELECT DISTINCT track_id FROM discovery_fingerprints ORDER BY track_id;

    -- Every landmark of one hash goes to the run its first landmark falls in, 96 to a run.
    WITH numbered AS (
        SELECT f.hash, k.track_key, f."offset",
               row_number() OVER (ORDER BY f.hash, k.track_key, f."offset") - 1 AS n
          FROM discovery_fingerprints f JOIN discovery_fingerprint_keys k USING (track_id)
    ), grouped AS (
        SELECT hash, track_key, "offset", n, min(n) OVER (PARTITION BY hash) / 96 AS run FROM numbered
    )
    INSERT INTO discovery_fingerprint_runs (first_hash, landmarks)
    SELECT CASE WHEN run = 0 THEN -2147483648 ELSE min(hash) END,
           string_agg(substring(int8send((hash::bigint << 6) | ("offset" >> 16)) FROM 5)
                      || substring(int4send("offset" & 65535) FROM 3) || int4send(track_key), ''::bytea ORDER BY n)
      FROM grouped GROUP BY run;
    INSERT INTO discovery_fingerprint_runs VALUES (-2147483648, ''::bytea) ON CONFLICT DO NOTHING;

    DROP TABLE discovery_fingerprints;
    """)


def downgrade() -> None:
    run_sql("""
    CREATE TABLE discovery_fingerprints (
        hash      integer NOT NULL,
        track_id  uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
        "offset"  integer NOT NULL
    );
    INSERT INTO discovery_fingerprints (hash, track_id, "offset")
    SELECT (e.hash_offset >> 6)::integer, k.track_id, (((e.hash_offset & 63) << 16) | e.offset_low)::integer
      FROM discovery_fingerprint_runs r
     CROSS JOIN LATERAL generate_series(0, length(r.landmarks) - 10, 10) AS at
     CROSS JOIN LATERAL (SELECT
            ('x' || lpad(encode(substring(r.landmarks FROM at + 1 FOR 4), 'hex'), 16, '0'))::bit(64)::bigint
                AS hash_offset,
            ('x' || lpad(encode(substring(r.landmarks FROM at + 5 FOR 2), 'hex'), 16, '0'))::bit(64)::bigint
                AS offset_low,
            ('x' || encode(substring(r.landmarks FROM at + 7 FOR 4), 'hex'))::bit(32)::integer AS track_key
        ) e
      JOIN discovery_fingerprint_keys k ON k.track_key = e.track_key;
    CREATE INDEX discovery_fingerprints_hash_idx ON discovery_fingerprints (hash);
    CREATE INDEX discovery_fingerprints_track_idx ON discovery_fingerprints (track_id);
    DROP TABLE discovery_fingerprint_runs;
    DROP TABLE discovery_fingerprint_keys;
    """)
