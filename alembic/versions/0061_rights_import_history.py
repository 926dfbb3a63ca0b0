"""Rights import history: each accepted import of an organisation, with the report it answered; CWR files
may make disputed claims too.

Written in the import's own transaction, so a refused file leaves no row (and nothing else).
"""

from marketplace.migrations import run_sql

revision = "0061_rights_import_history"
down_revision = "0060_rights_ingestion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE rights_imports (
        id               uuid PRIMARY KEY,
        organisation_id  uuid NOT NULL REFERENCES organisations (id),
        user_id          uuid REFERENCES users (id),
        source           text NOT NULL CHECK (source IN ('split_sheet', 'ddex', 'cwr')),
        report           jsonb NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rights_imports_organisation_idx ON rights_imports (organisation_id, created_at DESC);

    ALTER TABLE rights_disputed_claims DROP CONSTRAINT rights_disputed_claims_source_check,
        ADD CONSTRAINT rights_disputed_claims_source_check CHECK (source IN ('split_sheet', 'ddex', 'cwr'));
    """)


def downgrade() -> None:
    run_sql("""
    ALTER TABLE rights_disputed_claims DROP CONSTRAINT rights_disputed_claims_source_check,
        ADD CONSTRAINT rights_disputed_claims_source_check CHECK (source IN ('split_sheet', 'ddex'));
    DROP TABLE rights_imports;
    """)
