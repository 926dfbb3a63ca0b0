"""Discovery: the embeddings' HNSW graph with 32 links per node (m = 32) instead of 16.

Measured with `python -m benchmarks.discovery --search-only N --hnsw ...` (docs/benchmarks.md): at
1,000,000 vectors the graph of migration 0086 (m = 16) found 99.0 % of the true ten nearest at
ef_search 400 and no more at 700 or 1,000 (true neighbours it does not reach at any ef_search), and
98.6 % for a filter keeping 5 %; with m = 32, 99.9 % and 99.8 %. At 100,000 both reach 100 % at
ef_search 64.

The cost, for every deployment: the index is rebuilt once, here (2 cores, shared) about 2 minutes
per 100,000 tracks and 29 minutes for 1,000,000, during which searches and new analyses wait
(dropping the old index locks the embeddings table until the new one commits); it is 40 % larger (67 MB per 100,000
tracks, 670 MB per 1,000,000); the build needs about 1.5 GB of memory per 1,000,000 tracks, bounded
here by maintenance_work_mem (beyond it pgvector carries on building on disk, many times slower).
"""

from marketplace.migrations import run_sql

revision = "0087_discovery_hnsw_denser_graph"
down_revision = "0086_discovery_hnsw_graph"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL maintenance_work_mem = '2GB';
    DROP INDEX discovery_embeddings_hnsw_idx;
    CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings
        USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 128);
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL maintenance_work_mem = '2GB';
    DROP INDEX discovery_embeddings_hnsw_idx;
    CREATE INDEX discovery_embeddings_hnsw_idx ON discovery_embeddings
        USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128);
    """)
