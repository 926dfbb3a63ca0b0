"""Live rounds: rounds, bids and their reveals, negotiations and their offers, and each round's event log.

Every write to a round takes its row lock (SELECT … FOR UPDATE), so a round's events are numbered
1, 2, 3 … without gaps and a bid's commit time follows the order bids were taken in.
"""

from marketplace.migrations import run_sql

revision = "0004_auction_rounds"
down_revision = "0001_foundation"
branch_labels = ("auction",)
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE rounds (
        id                uuid PRIMARY KEY,
        track_id          uuid NOT NULL REFERENCES tracks (id),
        seller_id         uuid NOT NULL REFERENCES organisations (id),
        mechanism         text NOT NULL CHECK (mechanism IN ('first_price', 'vickrey', 'clock', 'negotiation')),
        params            jsonb NOT NULL,
        usage             jsonb NOT NULL,
        state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
        opens_at          timestamptz NOT NULL,
        deadline          timestamptz NOT NULL,
        deadline_version  int NOT NULL DEFAULT 1 CHECK (deadline_version >= 1),
        extensions        int NOT NULL DEFAULT 0 CHECK (extensions >= 0),
        -- When the closing timer fires: the deadline, or the end of a commit–reveal round's reveal window.
        closes_at         timestamptz NOT NULL,
        created_by        uuid REFERENCES users (id),  -- NULL for rounds the demo seeder opened
        created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
        closed_at         timestamptz,
        outcome           jsonb,
        CHECK (deadline > opens_at AND closes_at >= deadline),
        CHECK ((state = 'closed') = (closed_at IS NOT NULL))
    );
    CREATE INDEX rounds_due_idx ON rounds (closes_at) WHERE state = 'open';
    CREATE INDEX rounds_seller_idx ON rounds (seller_id, created_at DESC);
    CREATE INDEX rounds_track_idx ON rounds (track_id);

    -- A sealed bid in the clear, a commitment (digest only until revealed) or a clock acceptance.
    CREATE TABLE bids (
        id            uuid PRIMARY KEY,
        round_id      uuid NOT NULL REFERENCES rounds (id),
        bidder_id     uuid NOT NULL REFERENCES organisations (id),
        placed_by     uuid NOT NULL REFERENCES users (id),
        kind          text NOT NULL CHECK (kind IN ('sealed', 'commitment', 'clock')),
        amount        bigint CHECK (amount > 0),
        currency      text CHECK (currency ~ '^[A-Z]{3}$'),
        digest        text CHECK (digest ~ '^[0-9a-f]{64}$'),
        -- The database's clock when the bid was taken, read under the round's lock.
        committed_at  timestamptz NOT NULL,
        CHECK ((kind = 'commitment') = (digest IS NOT NULL AND amount IS NULL)),
        CHECK (kind = 'commitment' OR (amount IS NOT NULL AND currency IS NOT NULL))
    );
    CREATE UNIQUE INDEX bids_one_per_bidder_key ON bids (round_id, bidder_id);
    CREATE INDEX bids_round_idx ON bids (round_id, committed_at);

    CREATE TABLE bid_reveals (
        bid_id       uuid PRIMARY KEY REFERENCES bids (id),
        amount       bigint NOT NULL CHECK (amount > 0),
        currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        nonce        text NOT NULL,
        revealed_at  timestamptz NOT NULL
    );

    CREATE TABLE negotiations (
        id            uuid PRIMARY KEY,
        round_id      uuid NOT NULL REFERENCES rounds (id),
        buyer_id      uuid NOT NULL REFERENCES organisations (id),
        started_by    uuid NOT NULL REFERENCES users (id),
        state         text NOT NULL CHECK (state IN ('awaiting_rights_holder', 'awaiting_buyer', 'accepted',
                                                     'rejected', 'withdrawn', 'expired')),
        respond_by    timestamptz,
        price_amount  bigint,
        currency      text,
        concluded_at  timestamptz,
        reason        text,
        CHECK ((respond_by IS NULL) = (concluded_at IS NOT NULL))
    );
    -- One negotiation under way per buyer and round; a concluded one may be followed by another.
    CREATE UNIQUE INDEX negotiations_one_standing_key ON negotiations (round_id, buyer_id)
        WHERE respond_by IS NOT NULL;
    CREATE INDEX negotiations_due_idx ON negotiations (respond_by) WHERE respond_by IS NOT NULL;

    CREATE TABLE offers (
        negotiation_id  uuid NOT NULL REFERENCES negotiations (id),
        position        int NOT NULL CHECK (position >= 1),
        party           text NOT NULL CHECK (party IN ('buyer', 'rights_holder')),
        amount          bigint NOT NULL CHECK (amount > 0),
        currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        made_at         timestamptz NOT NULL,
        automatic       boolean NOT NULL DEFAULT false,
        made_by         uuid REFERENCES users (id),
        PRIMARY KEY (negotiation_id, position)
    );

    -- What happened to a round, in order; watchers resume from the last seq they saw.
    CREATE TABLE round_events (
        round_id     uuid NOT NULL REFERENCES rounds (id),
        seq          bigint NOT NULL CHECK (seq >= 1),
        kind         text NOT NULL,
        payload      jsonb NOT NULL,
        actor_id     uuid REFERENCES users (id),
        occurred_at  timestamptz NOT NULL,
        PRIMARY KEY (round_id, seq)
    );
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE round_events;
    DROP TABLE offers;
    DROP TABLE negotiations;
    DROP TABLE bid_reveals;
    DROP TABLE bids;
    DROP TABLE rounds;
    """)
