"""Settlement: the deal's lifecycle and payees, consent requests, quotes, payments and a double-entry ledger.

The ledger keeps its own books honest: every transaction's entries sum to zero (a deferred constraint
trigger checks at commit), entries are append-only, and each account carries its balance in its
normal direction, which may never go below zero — so a payee can never be paid out more than it
earned, nor a refund take back what was already transferred without its reversal.
"""

from marketplace.migrations import run_sql

revision = "0030_contracts_settlement"
down_revision = "0012_contracts_usage_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    ALTER TABLE deals DROP CONSTRAINT deals_state_check;
    ALTER TABLE deals DROP CONSTRAINT deals_source_check;
    ALTER TABLE deals ALTER COLUMN state DROP DEFAULT;
    UPDATE deals SET state = 'awaiting_payment' WHERE state = 'pending';
    ALTER TABLE deals
        ADD CONSTRAINT deals_state_check CHECK (state IN (
            'awaiting_consent', 'awaiting_payment', 'paid', 'licensed', 'cancelled', 'expired', 'refunded'
        )),
        ADD CONSTRAINT deals_source_check CHECK (source IN ('round', 'negotiation', 'quote')),
        ADD COLUMN payees jsonb NOT NULL DEFAULT '[]'::jsonb,
        ADD COLUMN consent_due_at timestamptz,
        ADD COLUMN payment_due_at timestamptz,
        ADD COLUMN updated_at timestamptz;
    UPDATE deals SET updated_at = created_at;
    ALTER TABLE deals ALTER COLUMN updated_at SET NOT NULL;
    CREATE INDEX deals_consent_due_idx ON deals (consent_due_at) WHERE state = 'awaiting_consent';
    CREATE INDEX deals_payment_due_idx ON deals (payment_due_at) WHERE state = 'awaiting_payment';
    CREATE INDEX deals_track_idx ON deals (track_id, created_at DESC);

    -- The organisations a deal pays, for "my deals" without unpacking every deal's payees.
    CREATE TABLE deal_payee_organisations (
        deal_id          uuid NOT NULL REFERENCES deals (id),
        organisation_id  uuid NOT NULL REFERENCES organisations (id),
        PRIMARY KEY (organisation_id, deal_id)
    );

    -- Every state change of a deal, numbered per deal (the audit log chains them too).
    CREATE TABLE deal_events (
        deal_id   uuid NOT NULL REFERENCES deals (id),
        seq       integer NOT NULL CHECK (seq > 0),
        kind      text NOT NULL,
        state     text NOT NULL,
        payload   jsonb NOT NULL,
        actor_id  uuid REFERENCES users (id),
        at        timestamptz NOT NULL,
        PRIMARY KEY (deal_id, seq)
    );

    CREATE TABLE deal_consents (
        id               uuid PRIMARY KEY,
        deal_id          uuid NOT NULL REFERENCES deals (id),
        party_id         uuid NOT NULL,
        party_name       text NOT NULL,
        organisation_id  uuid REFERENCES organisations (id),
        status           text NOT NULL CHECK (status IN ('by_policy', 'requested', 'approved', 'declined', 'timed_out')),
        reason           text NOT NULL,
        due_at           timestamptz,
        answered_at      timestamptz,
        answered_by      uuid REFERENCES users (id),
        UNIQUE (deal_id, party_id)
    );
    CREATE INDEX deal_consents_organisation_idx ON deal_consents (organisation_id) WHERE status = 'requested';

    CREATE TABLE deal_quotes (
        id                  uuid PRIMARY KEY,
        track_id            uuid NOT NULL REFERENCES tracks (id),
        buyer_id            uuid NOT NULL REFERENCES organisations (id),
        usage               jsonb NOT NULL,
        price_amount        bigint NOT NULL CHECK (price_amount > 0),
        currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        breakdown           jsonb NOT NULL,
        dynamic             boolean NOT NULL,
        policy_fingerprint  text NOT NULL,
        created_at          timestamptz NOT NULL,
        expires_at          timestamptz NOT NULL CHECK (expires_at > created_at),
        deal_id             uuid UNIQUE REFERENCES deals (id),
        idempotency_key     text,
        CHECK ((deal_id IS NULL) = (idempotency_key IS NULL))
    );
    CREATE INDEX deal_quotes_track_idx ON deal_quotes (track_id, created_at DESC);

    -- A payment or refund is stored by its reference (PaymentIntent id, tx hash:log index) with
    -- the state change it causes, so a repeat does nothing.
    CREATE TABLE deal_payments (
        reference  text PRIMARY KEY,
        deal_id    uuid NOT NULL REFERENCES deals (id),
        kind       text NOT NULL CHECK (kind IN ('payment', 'refund')),
        method     text CHECK (method IN ('card', 'chain')),
        amount     bigint NOT NULL CHECK (amount > 0),
        currency   text NOT NULL,
        at         timestamptz NOT NULL
    );
    CREATE UNIQUE INDEX deal_payments_one_payment_idx ON deal_payments (deal_id) WHERE kind = 'payment';

    -- ---------------------------------------------------------------- the ledger
    -- Amounts are signed minor units: debits positive, credits negative. `balance` is kept in the
    -- account's normal direction (receipts are debit-normal; fees and payees credit-normal).
    CREATE TABLE ledger_accounts (
        id               uuid PRIMARY KEY,
        kind             text NOT NULL CHECK (kind IN ('receipts', 'platform_fees', 'payee')),
        party_id         uuid,
        organisation_id  uuid REFERENCES organisations (id),
        currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        normal           text NOT NULL CHECK (normal IN ('debit', 'credit')),
        balance          bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
        CHECK ((kind = 'payee') = (party_id IS NOT NULL)),
        UNIQUE NULLS NOT DISTINCT (kind, party_id, currency)
    );

    CREATE TABLE ledger_transactions (
        id          uuid PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('payment', 'refund', 'transfer', 'transfer_reversal')),
        deal_id     uuid NOT NULL REFERENCES deals (id),
        reference   text NOT NULL,
        currency    text NOT NULL,
        created_at  timestamptz NOT NULL,
        UNIQUE (kind, reference)
    );
    CREATE INDEX ledger_transactions_deal_idx ON ledger_transactions (deal_id);

    CREATE TABLE ledger_entries (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id),
        account_id      uuid NOT NULL REFERENCES ledger_accounts (id),
        amount          bigint NOT NULL CHECK (amount <> 0),
        purpose         text NOT NULL CHECK (purpose IN ('receipt', 'gross', 'platform_fee', 'transfer')),
        side            text,
        territory       text
    );
    CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id);
    CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

    CREATE FUNCTION ledger_entry_applied() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        account ledger_accounts;
        tx_currency text;
    BEGIN
        SELECT * INTO account FROM ledger_accounts WHERE id = NEW.account_id FOR UPDATE;
        SELECT currency INTO tx_currency FROM ledger_transactions WHERE id = NEW.transaction_id;
        IF account.currency <> tx_currency THEN
            RAISE EXCEPTION 'ledger entry in % on a % transaction', account.currency, tx_currency
                USING ERRCODE = 'check_violation';
        END IF;
        UPDATE ledger_accounts
           SET balance = balance + CASE WHEN normal = 'debit' THEN NEW.amount ELSE -NEW.amount END
         WHERE id = NEW.account_id;
        RETURN NEW;
    END $$;
    CREATE TRIGGER ledger_entries_apply BEFORE INSERT ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_entry_applied();

    CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        total numeric;
    BEGIN
        SELECT coalesce(sum(amount), 0) INTO total FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
        IF total <> 0 THEN
            RAISE EXCEPTION 'ledger transaction % does not balance (off by %)', NEW.transaction_id, total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: post a reversing transaction instead'
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE ledger_entries;
    DROP TABLE ledger_transactions;
    DROP TABLE ledger_accounts;
    DROP FUNCTION ledger_refuse_change();
    DROP FUNCTION ledger_transaction_balances();
    DROP FUNCTION ledger_entry_applied();
    DROP TABLE deal_payments;
    DROP TABLE deal_quotes;
    DROP TABLE deal_consents;
    DROP TABLE deal_events;
    DROP TABLE deal_payee_organisations;
    DELETE FROM deals WHERE source = 'quote';
    DROP INDEX deals_track_idx;
    DROP INDEX deals_payment_due_idx;
    DROP INDEX deals_consent_due_idx;
    ALTER TABLE deals
        DROP CONSTRAINT deals_state_check,
        DROP CONSTRAINT deals_source_check,
        DROP COLUMN payees,
        DROP COLUMN consent_due_at,
        DROP COLUMN payment_due_at,
        DROP COLUMN updated_at;
    UPDATE deals SET state = 'pending';
    ALTER TABLE deals
        ALTER COLUMN state SET DEFAULT 'pending',
        ADD CONSTRAINT deals_state_check CHECK (state IN ('pending')),
        ADD CONSTRAINT deals_source_check CHECK (source IN ('round', 'negotiation'));
    """)
