"""Card payments through Stripe: one PaymentIntent per deal, each Stripe side effect keyed, webhooks stored.

Every call that moves money at Stripe has its idempotency key written here before the call and its
result written in the same transaction as the ledger change it causes, so a retry reuses the key and
a repeat does nothing. Each webhook event id is stored with the change it caused.
"""

from marketplace.migrations import run_sql

revision = "0040_contracts_stripe_payments"
down_revision = "0035_contracts_licences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE card_payments (
        deal_id            uuid PRIMARY KEY REFERENCES deals (id),
        idempotency_key    text NOT NULL UNIQUE,
        payment_intent_id  text UNIQUE,
        client_secret      text,
        amount             bigint NOT NULL CHECK (amount > 0),
        currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        status             text NOT NULL DEFAULT 'requested'
                           CHECK (status IN ('requested', 'requires_payment_method', 'succeeded', 'refunded')),
        charge_id          text,
        last_error         text,
        paid_at            timestamptz,
        payouts_due_at     timestamptz,
        payouts_settled    boolean NOT NULL DEFAULT false,
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL,
        CHECK ((status = 'succeeded') <= (paid_at IS NOT NULL AND charge_id IS NOT NULL))
    );
    CREATE INDEX card_payments_payouts_due_idx ON card_payments (payouts_due_at)
        WHERE status = 'succeeded' AND NOT payouts_settled;

    CREATE TABLE stripe_side_effects (
        idempotency_key  text PRIMARY KEY,
        deal_id          uuid NOT NULL REFERENCES deals (id),
        kind             text NOT NULL CHECK (kind IN ('transfer', 'refund', 'reversal')),
        organisation_id  uuid REFERENCES organisations (id),
        amount           bigint NOT NULL CHECK (amount > 0),
        currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        stripe_id        text UNIQUE,
        state            text NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'done', 'failed')),
        failure          text,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        CHECK ((state = 'done') = (stripe_id IS NOT NULL))
    );
    CREATE INDEX stripe_side_effects_deal_idx ON stripe_side_effects (deal_id, kind);

    CREATE TABLE stripe_events (
        event_id     text PRIMARY KEY,
        kind         text NOT NULL,
        deal_id      uuid REFERENCES deals (id),
        received_at  timestamptz NOT NULL
    );

    CREATE TABLE stripe_accounts (
        organisation_id    uuid PRIMARY KEY REFERENCES organisations (id),
        account_id         text NOT NULL UNIQUE,
        charges_enabled    boolean NOT NULL DEFAULT false,
        payouts_enabled    boolean NOT NULL DEFAULT false,
        details_submitted  boolean NOT NULL DEFAULT false,
        updated_at         timestamptz NOT NULL
    );
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE stripe_accounts;
    DROP TABLE stripe_events;
    DROP TABLE stripe_side_effects;
    DROP TABLE card_payments;
    """)
