"""Usage holds: every live sale and every deal reserves its usage of a track.

A hold is taken when a round (or a quote or negotiation) opens and passes to the deal it makes; it is
released when the sale ends without one or the deal is cancelled, expires or is refunded. Taking a
hold locks the track and is refused when an unreleased hold overlaps it and either is exclusive, so an
exclusive licence is never on sale twice nor sold over a licence already agreed.
"""

from marketplace.migrations import run_sql

revision = "0012_contracts_usage_holds"
down_revision = "0005_contracts_deals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE usage_holds (
        id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        track_id     uuid NOT NULL REFERENCES tracks (id),
        usage        jsonb NOT NULL,
        source       text NOT NULL CHECK (source IN ('round', 'negotiation', 'quote', 'sale', 'deal')),
        source_id    uuid NOT NULL,
        created_at   timestamptz NOT NULL,
        released_at  timestamptz
    );
    CREATE UNIQUE INDEX usage_holds_live_source_key ON usage_holds (source, source_id) WHERE released_at IS NULL;
    CREATE INDEX usage_holds_live_track_idx ON usage_holds (track_id) WHERE released_at IS NULL;
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE usage_holds;
    """)
