"""Bids' round lock and the reads their check needs, in one statement (one round trip of the lock's hold).

A statement that waits for a row lock reads every other table as of before the wait, so the bid check
(the database's time, the round's bid count, the bids with this id or from this bidder) could not join
the `SELECT … FOR UPDATE`: it was a round trip of its own while the round stayed locked. In this
function the check is a second statement after the lock, and a PL/pgSQL statement in a volatile function
reads a fresh snapshot: it sees every bid committed while the lock was waited for.
"""

from marketplace.migrations import run_sql

revision = "0099_auction_bid_lock_check"
down_revision = "0098_auction_round_awards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION round_locked_for_bids(p_round uuid, p_bids uuid[], p_bidders uuid[])
    RETURNS TABLE (locked rounds, server_now timestamptz, round_bids bigint, existing bids)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        found_round rounds;
    BEGIN
        SELECT * INTO found_round FROM rounds WHERE id = p_round FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        RETURN QUERY
            SELECT found_round, clock_timestamp(),
                   (SELECT count(*) FROM bids counted WHERE counted.round_id = p_round), b
              FROM (SELECT) AS one
              LEFT JOIN bids b ON b.id = ANY (p_bids) OR (b.round_id = p_round AND b.bidder_id = ANY (p_bidders));
    END
    $$;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION round_locked_for_bids(uuid, uuid[], uuid[]);
    """)
