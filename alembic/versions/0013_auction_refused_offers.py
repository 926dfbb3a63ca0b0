"""Offers refused for being under the rights holder's floor, per round and buyer.

Each one is also an audited event. The service counts a buyer's recent ones to make it wait after a
few, so the floor cannot be found by trying one price after another.
"""

from marketplace.migrations import run_sql

revision = "0013_auction_refused_offers"
down_revision = "0004_auction_rounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE refused_offers (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        round_id        uuid NOT NULL REFERENCES rounds (id),
        buyer_id        uuid NOT NULL REFERENCES organisations (id),
        negotiation_id  uuid,
        amount          bigint NOT NULL,
        currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        made_by         uuid REFERENCES users (id),
        refused_at      timestamptz NOT NULL
    );
    CREATE INDEX refused_offers_buyer_idx ON refused_offers (round_id, buyer_id, refused_at);
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE refused_offers;
    """)
