"""Licence requests: a buyer asks the rights holders for a use that clearance cannot sell at once.

One pending request per buyer organisation, track and usage; the track owner's inbox lists them.
"""

from marketplace.migrations import run_sql

revision = "0070_rights_licence_requests"
down_revision = "0061_rights_import_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE rights_licence_requests (
        id                          uuid PRIMARY KEY,
        track_id                    uuid NOT NULL REFERENCES tracks (id),
        owner_organisation_id       uuid NOT NULL REFERENCES organisations (id),
        requester_organisation_id   uuid NOT NULL REFERENCES organisations (id),
        requested_by                uuid NOT NULL REFERENCES users (id),
        usage                       jsonb NOT NULL,
        usage_key                   text NOT NULL,
        message                     text NOT NULL DEFAULT '',
        reasons                     jsonb NOT NULL DEFAULT '[]',
        created_at                  timestamptz NOT NULL,
        UNIQUE (requester_organisation_id, track_id, usage_key)
    );
    CREATE INDEX rights_licence_requests_owner ON rights_licence_requests (owner_organisation_id, created_at DESC);
    """)


def downgrade() -> None:
    run_sql("DROP TABLE rights_licence_requests;")
