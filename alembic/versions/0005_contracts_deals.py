"""Deals: a licence agreed by a round's close or an accepted negotiation, pending settlement.

`source_id` names the round or negotiation the deal came from; it is unique per source, so a close
that runs twice cannot make two deals.
"""

from marketplace.migrations import run_sql

revision = "0005_contracts_deals"
down_revision = "0001_foundation"
branch_labels = ("contracts",)
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE deals (
        id            uuid PRIMARY KEY,
        source        text NOT NULL CHECK (source IN ('round', 'negotiation')),
        source_id     uuid NOT NULL,
        track_id      uuid NOT NULL REFERENCES tracks (id),
        seller_id     uuid NOT NULL REFERENCES organisations (id),
        buyer_id      uuid NOT NULL REFERENCES organisations (id),
        price_amount  bigint NOT NULL CHECK (price_amount > 0),
        currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        usage         jsonb NOT NULL,
        state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending')),
        created_at    timestamptz NOT NULL,
        UNIQUE (source, source_id),
        CHECK (buyer_id <> seller_id)
    );
    CREATE INDEX deals_buyer_idx ON deals (buyer_id, created_at DESC);
    CREATE INDEX deals_seller_idx ON deals (seller_id, created_at DESC);
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE deals;
    """)
