"""Discovery: the whole catalogue's graph's recall, measured on the catalogue itself.

How many candidates an HNSW search must weigh for a given recall depends on how the vectors spread,
not only on how many there are: real recordings' embeddings vary in about 9 directions and need far
fewer than vectors varying in all 47. The job `discovery.calibrate_search_graph` measures recall@10
at several ef_search values with catalogue tracks as queries and keeps each measurement here; search
weighs the fewest candidates that reached the wanted recall (discovery.search_plan).
"""

from marketplace.migrations import run_sql

revision = "0091_discovery_graph_recall"
down_revision = "0090_discovery_tempo_key_ranges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE discovery_graph_calibrations (
        measured_at timestamptz PRIMARY KEY,
        catalogue_rows bigint NOT NULL CHECK (catalogue_rows >= 0),
        queries integer NOT NULL CHECK (queries > 0),
        ef_search integer[] NOT NULL,
        recall double precision[] NOT NULL CHECK (cardinality(recall) = cardinality(ef_search))
    );
    """)


def downgrade() -> None:
    run_sql("DROP TABLE discovery_graph_calibrations;")
