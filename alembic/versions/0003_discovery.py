"""Discovery: audio files, analysis state and features, embeddings (HNSW), tags, fingerprints, full text."""

from marketplace.migrations import run_sql

revision = "0003_discovery"
down_revision = "0001_foundation"
branch_labels = ("discovery",)
depends_on = None


def upgrade() -> None:
    run_sql("""
    -- Uploaded audio, content-addressed: the file lives at data_dir/audio/<sha256[:2]>/<sha256>.
    CREATE TABLE discovery_audio (
        sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        format       text NOT NULL CHECK (format IN ('wav', 'flac', 'ogg', 'mp3')),
        size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
        duration_s   real NOT NULL CHECK (duration_s > 0),
        created_at   timestamptz NOT NULL DEFAULT now()
    );

    -- One row per catalogue track with audio: analysis state, features, and the columns search filters on.
    CREATE TABLE discovery_tracks (
        track_id           uuid PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
        audio_sha256       text NOT NULL REFERENCES discovery_audio (sha256),
        status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
        progress           real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        attempts           integer NOT NULL DEFAULT 0,
        error              text,
        analysis_version   integer,
        features           jsonb,
        bpm                real,
        key_tonic          smallint CHECK (key_tonic BETWEEN 0 AND 11),
        mode               text CHECK (mode IN ('major', 'minor')),
        mood               text,
        duration_s         real,
        instrumental       real,
        near_duplicate_of  uuid REFERENCES tracks (id) ON DELETE SET NULL,
        document           tsvector NOT NULL DEFAULT ''::tsvector,
        updated_at         timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX discovery_tracks_bpm_idx ON discovery_tracks (bpm);
    CREATE INDEX discovery_tracks_key_idx ON discovery_tracks (key_tonic, mode);
    CREATE INDEX discovery_tracks_mood_idx ON discovery_tracks (mood);
    CREATE INDEX discovery_tracks_status_idx ON discovery_tracks (status);
    CREATE INDEX discovery_tracks_document_idx ON discovery_tracks USING gin (document);

    -- The analyser's version travels with each vector, so a newer analyser can re-index the old ones.
    CREATE TABLE discovery_embeddings (
        track_id          uuid PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
        analysis_version  integer NOT NULL,
        embedding         vector(47) NOT NULL
    );
    CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings USING hnsw (embedding vector_cosine_ops);

    CREATE TABLE discovery_tags (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        track_id      uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
        kind          text NOT NULL CHECK (kind IN ('mood', 'tempo', 'key', 'style')),
        value         text NOT NULL CHECK (length(btrim(value)) BETWEEN 1 AND 60),
        source        text NOT NULL CHECK (source IN ('ai', 'human')),
        confidence    real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
        confirmed     boolean NOT NULL DEFAULT false,
        confirmed_by  uuid REFERENCES users (id),
        created_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (track_id, kind, value)
    );

    -- Narrow on purpose: about 23 rows per second of catalogue audio, looked up by hash.
    CREATE TABLE discovery_fingerprints (
        hash      integer NOT NULL,
        track_id  uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
        "offset"  integer NOT NULL
    );
    CREATE INDEX discovery_fingerprints_hash_idx ON discovery_fingerprints (hash);
    CREATE INDEX discovery_fingerprints_track_idx ON discovery_fingerprints (track_id);
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE discovery_fingerprints;
    DROP TABLE discovery_tags;
    DROP TABLE discovery_embeddings;
    DROP TABLE discovery_tracks;
    DROP TABLE discovery_audio;
    """)
