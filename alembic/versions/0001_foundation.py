"""Foundation: pgvector, organisations, users, API tokens, the catalogue's tracks, the chained audit log."""

from marketplace.migrations import run_sql

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE EXTENSION IF NOT EXISTS vector;

    CREATE TABLE organisations (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
        kind        text NOT NULL CHECK (kind IN ('agency', 'label', 'publisher', 'studio', 'other')),
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX organisations_name_key ON organisations (lower(name));

    CREATE TABLE users (
        id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organisation_id  uuid NOT NULL REFERENCES organisations (id),
        email            text NOT NULL CHECK (position('@' IN email) > 1),
        display_name     text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
        role             text NOT NULL CHECK (role IN ('buyer', 'rights_holder', 'admin')),
        password_hash    text NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_email_key ON users (lower(email));

    CREATE TABLE api_tokens (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name          text NOT NULL,
        token_hash    bytea NOT NULL UNIQUE,
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_used_at  timestamptz,
        revoked_at    timestamptz
    );

    CREATE TABLE tracks (
        id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_organisation_id  uuid NOT NULL REFERENCES organisations (id),
        title                  text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
        artist                 text NOT NULL CHECK (length(btrim(artist)) BETWEEN 1 AND 300),
        description            text NOT NULL DEFAULT '',
        created_at             timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX tracks_owner_idx ON tracks (owner_organisation_id);

    -- The audit log: each row's hash is SHA-256(previous hash || the row's canonical JSON).
    CREATE TABLE audit_events (
        seq          bigint PRIMARY KEY,
        stream       text NOT NULL,
        stream_id    text NOT NULL,
        kind         text NOT NULL,
        payload      jsonb NOT NULL,
        actor_id     uuid,
        occurred_at  timestamptz NOT NULL,
        prev_hash    bytea NOT NULL,
        hash         bytea NOT NULL
    );
    CREATE INDEX audit_events_stream_idx ON audit_events (stream, stream_id, seq);

    -- One canonical form, used both to append and to verify, so the two can never disagree.
    CREATE FUNCTION audit_canonical(
        p_seq bigint, p_stream text, p_stream_id text, p_kind text,
        p_payload jsonb, p_actor uuid, p_occurred_at timestamptz
    ) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
        SELECT convert_to(jsonb_build_object(
            'seq', p_seq, 'stream', p_stream, 'stream_id', p_stream_id, 'kind', p_kind,
            'payload', p_payload, 'actor_id', p_actor,
            'occurred_at', to_char(p_occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        )::text, 'UTF8')
    $$;

    CREATE FUNCTION audit_append(
        p_stream text, p_stream_id text, p_kind text, p_payload jsonb, p_actor uuid
    ) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        last_seq   bigint;
        last_hash  bytea;
        new_seq    bigint;
        at         timestamptz := clock_timestamp();
    BEGIN
        -- Appends are serialised so that each row chains to exactly one predecessor.
        PERFORM pg_advisory_xact_lock(7243901);
        SELECT seq, hash INTO last_seq, last_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
        new_seq := coalesce(last_seq, 0) + 1;
        last_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
        INSERT INTO audit_events (seq, stream, stream_id, kind, payload, actor_id, occurred_at, prev_hash, hash)
        VALUES (new_seq, p_stream, p_stream_id, p_kind, p_payload, p_actor, at, last_hash,
                sha256(last_hash || audit_canonical(new_seq, p_stream, p_stream_id, p_kind, p_payload, p_actor, at)));
        RETURN new_seq;
    END
    $$;

    CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$;
    CREATE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_events_no_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE audit_events;
    DROP FUNCTION audit_events_refuse_change();
    DROP FUNCTION audit_append(text, text, text, jsonb, uuid);
    DROP FUNCTION audit_canonical(bigint, text, text, text, jsonb, uuid, timestamptz);
    DROP TABLE tracks;
    DROP TABLE api_tokens;
    DROP TABLE users;
    DROP TABLE organisations;
    DROP EXTENSION IF EXISTS vector;
    """)
