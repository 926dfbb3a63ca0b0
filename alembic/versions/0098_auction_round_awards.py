"""Awards whose deal is still to be made: written by a deadline close in its own transaction.

A round closed at its deadline commits its close and its award first (its watchers hear it at once);
the winner's deal is made right after, from this row, which goes in the deal's own transaction. A
worker killed between the two leaves the row for the next one, and the deal's uniqueness by source
keeps it one deal.
"""

from marketplace.migrations import run_sql

revision = "0098_auction_round_awards"
down_revision = "0013_auction_refused_offers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE round_awards (
        round_id    uuid PRIMARY KEY REFERENCES rounds (id),
        deal_id     uuid NOT NULL UNIQUE,
        awarded_at  timestamptz NOT NULL
    );
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE round_awards;
    """)
