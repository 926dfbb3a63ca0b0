"""On-chain settlement: deployed contracts, payout addresses, demo wallets, Settled sightings, the listener's cursor.

A Settled log is stored by (transaction hash, log index) in the same transaction that pays or flags its
deal, so a log seen twice does nothing; `chain_cursors.applied_to` is the last block whose logs are all
decided, so the listener resumes there after a restart.
"""

from marketplace.migrations import run_sql

revision = "0045_contracts_chain"
down_revision = "0040_contracts_stripe_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE chain_deployments (
        chain_id            bigint NOT NULL,
        currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        settlement_address  text NOT NULL CHECK (settlement_address ~ '^0x[0-9a-f]{40}$'),
        token_address       text NOT NULL CHECK (token_address ~ '^0x[0-9a-f]{40}$'),
        platform_address    text NOT NULL CHECK (platform_address ~ '^0x[0-9a-f]{40}$'),
        deployed_block      bigint NOT NULL CHECK (deployed_block >= 0),
        deployed_at         timestamptz NOT NULL,
        PRIMARY KEY (chain_id, currency),
        UNIQUE (chain_id, settlement_address)
    );

    -- Where an organisation is paid on-chain (the Settlement contract credits this address).
    CREATE TABLE organisation_chain_addresses (
        organisation_id  uuid PRIMARY KEY REFERENCES organisations (id),
        address          text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
        updated_at       timestamptz NOT NULL
    );

    -- Demo only: the Anvil development account (by index) the server signs with for an organisation.
    CREATE TABLE demo_chain_wallets (
        organisation_id  uuid PRIMARY KEY REFERENCES organisations (id),
        account_index    integer NOT NULL UNIQUE CHECK (account_index > 0)
    );

    CREATE TABLE chain_settlements (
        tx_hash             text NOT NULL,
        log_index           integer NOT NULL CHECK (log_index >= 0),
        chain_id            bigint NOT NULL,
        settlement_address  text NOT NULL,
        block_number        bigint NOT NULL,
        block_hash          text NOT NULL,
        deal_ref            text NOT NULL,
        deal_id             uuid REFERENCES deals (id),
        terms_hash          text NOT NULL,
        buyer_address       text NOT NULL,
        amount              numeric(78, 0) NOT NULL CHECK (amount >= 0),
        status              text NOT NULL CHECK (status IN ('seen', 'paid', 'flagged', 'dropped')),
        reason              text,
        seen_at             timestamptz NOT NULL,
        decided_at          timestamptz,
        PRIMARY KEY (tx_hash, log_index),
        CHECK ((status = 'flagged') = (reason IS NOT NULL))
    );
    CREATE INDEX chain_settlements_deal_idx ON chain_settlements (deal_id);
    CREATE INDEX chain_settlements_open_idx ON chain_settlements (chain_id, status) WHERE status IN ('seen', 'flagged');

    CREATE TABLE chain_cursors (
        chain_id    bigint PRIMARY KEY,
        applied_to  bigint NOT NULL CHECK (applied_to >= -1),
        block_hash  text,  -- of block applied_to when it was reached: a change means a deep re-organisation
        updated_at  timestamptz NOT NULL
    );
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE chain_cursors;
    DROP TABLE chain_settlements;
    DROP TABLE demo_chain_wallets;
    DROP TABLE organisation_chain_addresses;
    DROP TABLE chain_deployments;
    """)
