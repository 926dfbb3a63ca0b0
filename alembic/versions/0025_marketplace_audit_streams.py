"""Per-stream audit chains: each round, negotiation and deal chains its own events under its own lock,
and a checkpoint chain links the heads of the streams that moved into the one global head to anchor.

Before, every append took one global advisory lock, so writes to unrelated rounds queued behind each
other. Now an append locks only its stream's row in `audit_streams` (the stream's head), and
`audit_checkpoint()` — run periodically and on demand — records every moved stream's head in
`audit_checkpoint_heads` and chains a checkpoint over them. The upgrade refuses to re-chain a history
that does not verify, so a tampered log is never laundered into a fresh chain.
"""

from marketplace.migrations import run_sql

revision = "0025_marketplace_audit_streams"
down_revision = "0001_foundation"
branch_labels = ("marketplace",)
depends_on = None


def upgrade() -> None:
    run_sql("""
    DO $$
    DECLARE broken bigint;
    BEGIN
        SELECT seq INTO broken FROM (
            SELECT seq, prev_hash, hash,
                   row_number() OVER (ORDER BY seq) AS position,
                   lag(hash, 1, decode(repeat('00', 32), 'hex')) OVER (ORDER BY seq) AS previous,
                   audit_canonical(seq, stream, stream_id, kind, payload, actor_id, occurred_at) AS canonical
              FROM audit_events
        ) walked
        WHERE seq <> position OR prev_hash <> previous OR hash <> sha256(previous || canonical)
        ORDER BY seq LIMIT 1;
        IF broken IS NOT NULL THEN
            RAISE EXCEPTION 'the audit chain is broken at event %: run marketplace audit verify', broken;
        END IF;
    END
    $$;

    ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
    ALTER TABLE audit_events ADD COLUMN stream_seq bigint;
    UPDATE audit_events e SET stream_seq = numbered.stream_seq
      FROM (SELECT seq, row_number() OVER (PARTITION BY stream, stream_id ORDER BY seq) AS stream_seq
              FROM audit_events) numbered
     WHERE numbered.seq = e.seq;
    ALTER TABLE audit_events ALTER COLUMN stream_seq SET NOT NULL;

    -- Re-chain each stream on its own, oldest first; the stream sequence takes the global one's place.
    DO $$
    DECLARE
        event      record;
        previous   bytea;
        last_key   text := NULL;
    BEGIN
        FOR event IN SELECT * FROM audit_events ORDER BY stream, stream_id, stream_seq LOOP
            IF last_key IS DISTINCT FROM event.stream || '/' || event.stream_id THEN
                previous := decode(repeat('00', 32), 'hex');
                last_key := event.stream || '/' || event.stream_id;
            END IF;
            UPDATE audit_events SET prev_hash = previous,
                   hash = sha256(previous || audit_canonical(event.stream_seq, event.stream, event.stream_id,
                                 event.kind, event.payload, event.actor_id, event.occurred_at))
             WHERE seq = event.seq
            RETURNING hash INTO previous;
        END LOOP;
    END
    $$;
    ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;

    -- The global sequence only orders and names events now; each stream's chain is what is hashed.
    CREATE SEQUENCE audit_events_seq_seq OWNED BY audit_events.seq;
    SELECT setval('audit_events_seq_seq', coalesce((SELECT max(seq) FROM audit_events), 0) + 1, false);
    ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT nextval('audit_events_seq_seq');
    DROP INDEX audit_events_stream_idx;
    CREATE UNIQUE INDEX audit_events_stream_key ON audit_events (stream, stream_id, stream_seq);

    -- Each stream's head; its row lock serialises appends to that stream only. Not append-only (the head
    -- moves), so `audit verify` checks it against the events and the checkpoints.
    CREATE TABLE audit_streams (
        stream             text NOT NULL,
        stream_id          text NOT NULL,
        head_seq           bigint NOT NULL,
        head_hash          bytea NOT NULL,
        checkpointed_seq   bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (stream, stream_id)
    );
    CREATE INDEX audit_streams_moved_idx ON audit_streams (stream, stream_id) WHERE head_seq > checkpointed_seq;
    INSERT INTO audit_streams (stream, stream_id, head_seq, head_hash)
    SELECT DISTINCT ON (stream, stream_id) stream, stream_id, stream_seq, hash
      FROM audit_events ORDER BY stream, stream_id, stream_seq DESC;

    CREATE TABLE audit_checkpoints (
        seq        bigint PRIMARY KEY,
        taken_at   timestamptz NOT NULL,
        streams    integer NOT NULL,
        prev_hash  bytea NOT NULL,
        hash       bytea NOT NULL
    );
    CREATE TABLE audit_checkpoint_heads (
        checkpoint_seq  bigint NOT NULL,
        stream          text NOT NULL,
        stream_id       text NOT NULL,
        stream_seq      bigint NOT NULL,
        hash            bytea NOT NULL,
        PRIMARY KEY (checkpoint_seq, stream, stream_id)
    );
    CREATE INDEX audit_checkpoint_heads_stream_idx ON audit_checkpoint_heads (stream, stream_id, checkpoint_seq);

    DROP FUNCTION audit_append(text, text, text, jsonb, uuid);
    CREATE FUNCTION audit_append(
        p_stream text, p_stream_id text, p_kind text, p_payload jsonb, p_actor uuid
    ) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        last_seq   bigint;
        last_hash  bytea;
        new_seq    bigint;
        new_hash   bytea;
        event_seq  bigint;
        at         timestamptz := clock_timestamp();
    BEGIN
        -- The stream's head row is its lock: appends to other streams never wait for this one.
        INSERT INTO audit_streams (stream, stream_id, head_seq, head_hash)
        VALUES (p_stream, p_stream_id, 0, decode(repeat('00', 32), 'hex'))
        ON CONFLICT (stream, stream_id) DO NOTHING;
        SELECT head_seq, head_hash INTO last_seq, last_hash FROM audit_streams
         WHERE stream = p_stream AND stream_id = p_stream_id FOR UPDATE;
        new_seq := last_seq + 1;
        new_hash := sha256(last_hash || audit_canonical(new_seq, p_stream, p_stream_id, p_kind, p_payload, p_actor, at));
        INSERT INTO audit_events (stream_seq, stream, stream_id, kind, payload, actor_id, occurred_at, prev_hash, hash)
        VALUES (new_seq, p_stream, p_stream_id, p_kind, p_payload, p_actor, at, last_hash, new_hash)
        RETURNING seq INTO event_seq;
        UPDATE audit_streams SET head_seq = new_seq, head_hash = new_hash
         WHERE stream = p_stream AND stream_id = p_stream_id;
        RETURN event_seq;
    END
    $$;

    -- One canonical form of a checkpoint, used both to take and to verify it.
    CREATE FUNCTION audit_checkpoint_canonical(p_seq bigint, p_taken_at timestamptz) RETURNS bytea
    LANGUAGE sql STABLE AS $$
        SELECT convert_to(jsonb_build_object(
            'seq', p_seq,
            'taken_at', to_char(p_taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'heads', coalesce((
                SELECT jsonb_agg(jsonb_build_array(stream, stream_id, stream_seq, encode(hash, 'hex'))
                                 ORDER BY stream, stream_id)
                  FROM audit_checkpoint_heads WHERE checkpoint_seq = p_seq), '[]'::jsonb)
        )::text, 'UTF8')
    $$;

    -- Chain the heads of every stream that moved since its last checkpoint; NULL when none did. Streams
    -- whose head an open transaction holds are skipped (SKIP LOCKED) and caught by the next checkpoint,
    -- so a checkpoint never waits on a slow writer.
    CREATE FUNCTION audit_checkpoint() RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        last_seq   bigint;
        last_hash  bytea;
        new_seq    bigint;
        moved      integer;
        at         timestamptz := clock_timestamp();
    BEGIN
        PERFORM pg_advisory_xact_lock(7243902);  -- checkpoints only: appends never take it
        SELECT seq, hash INTO last_seq, last_hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1;
        new_seq := coalesce(last_seq, 0) + 1;
        last_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
        WITH moved_streams AS (
            SELECT stream, stream_id, head_seq, head_hash FROM audit_streams
             WHERE head_seq > checkpointed_seq
             FOR UPDATE SKIP LOCKED
        )
        INSERT INTO audit_checkpoint_heads (checkpoint_seq, stream, stream_id, stream_seq, hash)
        SELECT new_seq, stream, stream_id, head_seq, head_hash FROM moved_streams;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved = 0 THEN
            RETURN NULL;
        END IF;
        UPDATE audit_streams s SET checkpointed_seq = h.stream_seq
          FROM audit_checkpoint_heads h
         WHERE h.checkpoint_seq = new_seq AND s.stream = h.stream AND s.stream_id = h.stream_id;
        INSERT INTO audit_checkpoints (seq, taken_at, streams, prev_hash, hash)
        VALUES (new_seq, at, moved, last_hash, sha256(last_hash || audit_checkpoint_canonical(new_seq, at)));
        RETURN new_seq;
    END
    $$;

    CREATE TRIGGER audit_checkpoints_append_only
        BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_checkpoints_no_truncate
        BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_checkpoint_heads_append_only
        BEFORE UPDATE OR DELETE ON audit_checkpoint_heads
        FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
    CREATE TRIGGER audit_checkpoint_heads_no_truncate
        BEFORE TRUNCATE ON audit_checkpoint_heads
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION audit_checkpoint();
    DROP FUNCTION audit_checkpoint_canonical(bigint, timestamptz);
    DROP TABLE audit_checkpoint_heads;
    DROP TABLE audit_checkpoints;
    DROP TABLE audit_streams;
    DROP INDEX audit_events_stream_key;
    ALTER TABLE audit_events ALTER COLUMN seq DROP DEFAULT;
    DROP SEQUENCE audit_events_seq_seq;

    -- Back to one global chain, renumbered without gaps in the order events were appended.
    ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
    DO $$
    DECLARE
        event     record;
        previous  bytea := decode(repeat('00', 32), 'hex');
        renumbered bigint := 0;
    BEGIN
        FOR event IN SELECT * FROM audit_events ORDER BY seq LOOP
            renumbered := renumbered + 1;
            UPDATE audit_events SET seq = renumbered, prev_hash = previous,
                   hash = sha256(previous || audit_canonical(renumbered, event.stream, event.stream_id,
                                 event.kind, event.payload, event.actor_id, event.occurred_at))
             WHERE seq = event.seq
            RETURNING hash INTO previous;
        END LOOP;
    END
    $$;
    ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;
    ALTER TABLE audit_events DROP COLUMN stream_seq;
    CREATE INDEX audit_events_stream_idx ON audit_events (stream, stream_id, seq);

    DROP FUNCTION audit_append(text, text, text, jsonb, uuid);
    CREATE FUNCTION audit_append(
        p_stream text, p_stream_id text, p_kind text, p_payload jsonb, p_actor uuid
    ) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        last_seq   bigint;
        last_hash  bytea;
        new_seq    bigint;
        at         timestamptz := clock_timestamp();
    BEGIN
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
    """)
