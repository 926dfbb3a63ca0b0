"""Licences: the signed certificate issued on a paid deal, and the URLs its licensee allow-lists.

One licence per deal (`deal_id` unique), so issuing twice cannot make two. A re-issue (new
allow-listed URLs) replaces the certificate and raises `version`; the terms never change. A refund
sets `revoked_at`, which also voids every download link for the deal.
"""

from marketplace.migrations import run_sql

revision = "0035_contracts_licences"
down_revision = "0030_contracts_settlement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE licences (
        id            uuid PRIMARY KEY,
        deal_id       uuid NOT NULL UNIQUE REFERENCES deals (id),
        version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
        terms         jsonb NOT NULL,
        terms_sha256  text NOT NULL CHECK (terms_sha256 ~ '^[0-9a-f]{64}$'),
        audio_sha256  text CHECK (audio_sha256 ~ '^[0-9a-f]{64}$'),
        allow_list    text[] NOT NULL DEFAULT '{}',
        certificate   text NOT NULL,
        key_id        text NOT NULL,
        issued_at     timestamptz NOT NULL,
        revoked_at    timestamptz
    );
    CREATE TABLE licence_allow_lists (
        deal_id     uuid PRIMARY KEY REFERENCES deals (id),
        urls        text[] NOT NULL,
        updated_at  timestamptz NOT NULL
    );
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE licence_allow_lists;
    DROP TABLE licences;
    """)
