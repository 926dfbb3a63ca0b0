"""Rights ownership: which organisation controls each recording and work, and disputed claims on them.

A recording on a catalogue track is controlled by the track's owner; a work by the organisation that
registered it. Existing works take the owner of a track that embodies them. A claim an import makes on
another organisation's recording or work waits in `rights_disputed_claims` until that organisation
accepts (the share is then written) or rejects it; it never counts for clearance before.
"""

from marketplace.migrations import run_sql

revision = "0011_rights_ownership"
down_revision = "0002_rights_graph"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    ALTER TABLE rights_recordings ADD COLUMN organisation_id uuid REFERENCES organisations (id);
    ALTER TABLE rights_works ADD COLUMN organisation_id uuid REFERENCES organisations (id);
    UPDATE rights_recordings r SET organisation_id = t.owner_organisation_id FROM tracks t WHERE t.id = r.track_id;
    UPDATE rights_works w SET organisation_id = (
        SELECT t.owner_organisation_id FROM rights_recordings r JOIN tracks t ON t.id = r.track_id
         WHERE r.work_id = w.id ORDER BY t.created_at, t.id LIMIT 1);

    CREATE TABLE rights_disputed_claims (
        id                          uuid PRIMARY KEY,
        claimant_organisation_id    uuid NOT NULL REFERENCES organisations (id),
        controller_organisation_id  uuid NOT NULL REFERENCES organisations (id),
        subject_id                  uuid NOT NULL,
        subject_title               text NOT NULL,
        share                       jsonb NOT NULL,
        party_name                  text NOT NULL,
        source                      text NOT NULL CHECK (source IN ('split_sheet', 'ddex')),
        status                      text NOT NULL DEFAULT 'pending'
                                    CHECK (status IN ('pending', 'accepted', 'rejected')),
        created_at                  timestamptz NOT NULL DEFAULT now(),
        decided_at                  timestamptz,
        decided_by                  uuid REFERENCES users (id),
        CHECK ((status = 'pending') = (decided_at IS NULL))
    );
    CREATE INDEX rights_disputed_claims_controller_idx
        ON rights_disputed_claims (controller_organisation_id, status, created_at);
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE rights_disputed_claims;
    ALTER TABLE rights_works DROP COLUMN organisation_id;
    ALTER TABLE rights_recordings DROP COLUMN organisation_id;
    """)
