"""Discovery: the tracks' mood index also orders them by tempo, so a mood-and-tempo filter is one range scan.

The exact search is chosen for filters keeping a few hundred rows (discovery.search_plan). With one
btree on mood and another on bpm, PostgreSQL found the rows of a tense, 100–112 BPM search by
intersecting 5,000 tense rows with 10,000 in the tempo range; on (mood, bpm) it reads the 500 it
needs: 1.6 instead of 2.6 ms of CPU for the whole exact search at 100,000 tracks
(docs/benchmarks.md). A search on mood alone uses the same index, so it replaces the mood index
and costs nothing more to keep.
"""

from marketplace.migrations import run_sql

revision = "0089_discovery_mood_tempo_index"
down_revision = "0088_discovery_mood_graphs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE INDEX discovery_tracks_mood_bpm_idx ON discovery_tracks (mood, bpm);
    DROP INDEX discovery_tracks_mood_idx;
    """)


def downgrade() -> None:
    run_sql("""
    CREATE INDEX discovery_tracks_mood_idx ON discovery_tracks (mood);
    DROP INDEX discovery_tracks_mood_bpm_idx;
    """)
