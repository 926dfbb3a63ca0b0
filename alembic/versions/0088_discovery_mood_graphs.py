"""Discovery: one HNSW graph per mood, so that a mood-filtered search walks only its own mood's tracks.

pgvector 0.6 filters after its index scan and yields at most `hnsw.ef_search` rows, so a filter
keeping 5 % of the catalogue had to weigh about 500 candidates of the whole graph (6.3 of a search's
8.2 ms at 100,000 tracks; docs/benchmarks.md). A partial index can hold one mood's tracks alone, but
its condition can name only the indexed table's own columns: the embeddings therefore carry a copy
of their track's mood, which the database keeps in step (whoever writes an embedding or changes a
mood, the copy follows; nothing in the application writes it).

PostgreSQL uses a partial index only when the query's condition proves the index's, i.e. the mood
is a constant at planning time: `discovery_mood_neighbours` plans its query afresh for each call
(`plan_cache_mode`), which costs a fraction of a millisecond. Even then the planner may judge the
whole graph, filtered, the cheaper (it did on a small catalogue with many tracks of the mood), so
the mood graphs order by Euclidean distance (`vector_l2_ops`), which only they can answer:
embeddings are unit vectors (discovery.embedding), for which Euclidean and cosine distance rank
alike, and the distance returned is still the cosine one.

The cost, for every deployment: the embeddings are rewritten once to take the mood and all five
graphs are built (the whole catalogue's again and the four moods', about as large together), i.e.
twice the index space (about 130 MB per 100,000 tracks instead of 67), twice the build time, during
which searches and new analyses wait, and two graph insertions instead of one for each analysis.
"""

from marketplace.migrations import run_sql

revision = "0088_discovery_mood_graphs"
down_revision = "0087_discovery_hnsw_denser_graph"
branch_labels = None
depends_on = None

MOODS = ("uplifting", "calm", "melancholic", "tense")  # discovery.model.Mood, as stored
GRAPH = "USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 128)"
MOOD_GRAPH = "USING hnsw (embedding vector_l2_ops) WITH (m = 32, ef_construction = 128)"


def upgrade() -> None:
    mood_graphs = "\n".join(
        f"CREATE INDEX discovery_embeddings_{mood}_hnsw_idx ON discovery_embeddings {MOOD_GRAPH} "
        f"WHERE mood = '{mood}';"
        for mood in MOODS
    )
    # The whole graph is dropped while every row is rewritten to take its mood: updated in place,
    # each row would be inserted into it once more, slower than building it afresh.
    run_sql(f"""
    SET LOCAL maintenance_work_mem = '2GB';
    DROP INDEX discovery_embeddings_hnsw_idx;
    ALTER TABLE discovery_embeddings ADD COLUMN mood text;
    UPDATE discovery_embeddings e SET mood = d.mood FROM discovery_tracks d WHERE d.track_id = e.track_id;

    -- An embedding takes its track's mood whenever it is written, whatever the writer says.
    CREATE FUNCTION discovery_embedding_takes_mood() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.mood := (SELECT d.mood FROM discovery_tracks d WHERE d.track_id = NEW.track_id);
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER discovery_embedding_takes_mood BEFORE INSERT OR UPDATE ON discovery_embeddings
        FOR EACH ROW EXECUTE FUNCTION discovery_embedding_takes_mood();

    -- A track's new mood reaches its embedding.
    CREATE FUNCTION discovery_mood_reaches_embedding() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE discovery_embeddings SET mood = NEW.mood
         WHERE track_id = NEW.track_id AND mood IS DISTINCT FROM NEW.mood;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER discovery_mood_reaches_embedding AFTER INSERT OR UPDATE OF mood ON discovery_tracks
        FOR EACH ROW EXECUTE FUNCTION discovery_mood_reaches_embedding();

    CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings {GRAPH};
    {mood_graphs}

    CREATE FUNCTION discovery_mood_neighbours(query vector, mood text, take integer, ef_search integer)
    RETURNS TABLE (track_id uuid, distance double precision)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    ROWS 100
    -- Restored when the call ends (see discovery_index_neighbours). A custom plan sees the mood as a
    -- constant, and so the partial graph whose condition it proves; ordered by <->, only a mood graph
    -- can answer.
    SET hnsw.ef_search = 40
    SET plan_cache_mode = force_custom_plan
    AS $$
    BEGIN
        PERFORM set_config('hnsw.ef_search', ef_search::text, true);
        RETURN QUERY
            SELECT e.track_id, e.embedding <=> query FROM discovery_embeddings e
             WHERE e.mood = discovery_mood_neighbours.mood
             ORDER BY e.embedding <-> query LIMIT take;
    END
    $$;
    """)


def downgrade() -> None:
    mood_graphs = ", ".join(f"discovery_embeddings_{mood}_hnsw_idx" for mood in MOODS)
    run_sql(f"""
    DROP FUNCTION discovery_mood_neighbours(vector, text, integer, integer);
    DROP INDEX {mood_graphs};
    DROP TRIGGER discovery_mood_reaches_embedding ON discovery_tracks;
    DROP FUNCTION discovery_mood_reaches_embedding();
    DROP TRIGGER discovery_embedding_takes_mood ON discovery_embeddings;
    DROP FUNCTION discovery_embedding_takes_mood();
    ALTER TABLE discovery_embeddings DROP COLUMN mood;
    """)
