"""Discovery: the HNSW candidates for a query with their own ef_search, in the query's one round trip.

pgvector 0.6 yields at most `hnsw.ef_search` rows from an index scan, so an over-fetching search
needs the setting raised for that scan alone. Setting it first cost a round trip per search (and a
`SET` on a pooled connection lasts until the pool resets it); inside this function the SET clause
confines the change to the call, so the caller's one statement sets, scans and joins.
"""

from marketplace.migrations import run_sql

revision = "0085_discovery_index_neighbours"
down_revision = "0080_discovery_fingerprint_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION discovery_index_neighbours(query vector, take integer, ef_search integer)
    RETURNS TABLE (track_id uuid, distance double precision)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    -- Tens to hundreds of rows: the planner's default guess (1,000) made it hash-join them against a
    -- scan of the whole catalogue instead of looking each one up by its key.
    ROWS 100
    -- With a SET clause PostgreSQL restores the caller's value when the call ends, whatever set_config
    -- does inside; the value named here (pgvector's default) is replaced at once.
    SET hnsw.ef_search = 40
    AS $$
    BEGIN
        PERFORM set_config('hnsw.ef_search', ef_search::text, true);
        RETURN QUERY
            SELECT e.track_id, e.embedding <=> query FROM discovery_embeddings e
            ORDER BY e.embedding <=> query LIMIT take;
    END
    $$;
    """)


def downgrade() -> None:
    run_sql("DROP FUNCTION discovery_index_neighbours(vector, integer, integer);")
