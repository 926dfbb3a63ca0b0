"""Discovery: the embeddings' HNSW graph built with ef_construction 128 instead of pgvector's 64.

Measured with `python -m benchmarks.discovery --search-only 100000 --hnsw ...` (docs/benchmarks.md):
at ef_construction 64 the index alone found 97.6 % of the true ten nearest at ef_search 40 and
99.3 % at 100 (94.5 % at 1,000,000 vectors); at 128, 99.9 % and 100 % for the same query cost,
the build taking about 15 % longer. Rebuilding takes minutes per 100,000 tracks.
"""

from marketplace.migrations import run_sql

revision = "0086_discovery_hnsw_graph"
down_revision = "0085_discovery_index_neighbours"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    DROP INDEX discovery_embeddings_hnsw_idx;
    CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings
        USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128);
    """)


def downgrade() -> None:
    run_sql("""
    DROP INDEX discovery_embeddings_hnsw_idx;
    CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings USING hnsw (embedding vector_cosine_ops);
    """)
