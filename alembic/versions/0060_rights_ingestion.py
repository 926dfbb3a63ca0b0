"""Rights ingestion: every identifier a party was delivered with, recordings' artist, duration and the
sender's own id, releases with where and when their deals offer them, and shares delivered as unknown.

An unknown share (DDEX RightShareUnknown) is kept apart from `rights_control`: it is nobody's ownership,
so clearance keeps seeing a gap there until the share is known.
"""

from marketplace.migrations import run_sql

revision = "0060_rights_ingestion"
down_revision = "0011_rights_ownership"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    ALTER TABLE rights_parties ADD COLUMN identifiers text[] NOT NULL DEFAULT '{}';
    CREATE INDEX rights_parties_identifiers_idx ON rights_parties USING gin (identifiers);

    ALTER TABLE rights_recordings
        ADD COLUMN artist text NOT NULL DEFAULT '' CHECK (length(artist) <= 1000),
        ADD COLUMN duration_seconds int CHECK (duration_seconds >= 0),
        ADD COLUMN proprietary_id text CHECK (length(proprietary_id) <= 300);
    CREATE UNIQUE INDEX rights_recordings_proprietary_key
        ON rights_recordings (organisation_id, proprietary_id) WHERE proprietary_id IS NOT NULL;

    -- A re-delivery replaces administration of the same work or recording, found by these.
    CREATE INDEX rights_administration_work_idx ON rights_administration (work_id);
    CREATE INDEX rights_administration_recording_idx ON rights_administration (recording_id);

    CREATE TABLE rights_releases (
        id               uuid PRIMARY KEY,
        organisation_id  uuid NOT NULL REFERENCES organisations (id),
        title            text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 1000),
        kind             text NOT NULL CHECK (kind IN ('release', 'track_release')),
        identifier       text CHECK (length(identifier) <= 300),
        recording_ids    uuid[] NOT NULL,
        include          text[],
        exclude          text[],
        countries        text[],
        start_date       date,
        end_date         date CHECK (end_date >= start_date),
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX rights_releases_identifier_key
        ON rights_releases (organisation_id, identifier) WHERE identifier IS NOT NULL;

    CREATE TABLE rights_unknown_shares (
        id            uuid PRIMARY KEY,
        party_id      uuid NOT NULL REFERENCES rights_parties (id),
        "right"       text NOT NULL CHECK ("right" IN ('master', 'publishing')),
        recording_id  uuid REFERENCES rights_recordings (id) ON DELETE CASCADE,
        work_id       uuid REFERENCES rights_works (id) ON DELETE CASCADE,
        include       text[] NOT NULL,
        exclude       text[] NOT NULL DEFAULT '{}',
        countries     text[] NOT NULL,
        start_date    date NOT NULL,
        end_date      date CHECK (end_date >= start_date),
        CHECK (("right" = 'master' AND recording_id IS NOT NULL AND work_id IS NULL)
            OR ("right" = 'publishing' AND work_id IS NOT NULL AND recording_id IS NULL))
    );
    CREATE INDEX rights_unknown_shares_recording_idx ON rights_unknown_shares (recording_id);
    CREATE INDEX rights_unknown_shares_work_idx ON rights_unknown_shares (work_id);
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE rights_unknown_shares;
    DROP TABLE rights_releases;
    DROP INDEX rights_administration_recording_idx;
    DROP INDEX rights_administration_work_idx;
    DROP INDEX rights_recordings_proprietary_key;
    ALTER TABLE rights_recordings DROP COLUMN proprietary_id, DROP COLUMN duration_seconds, DROP COLUMN artist;
    DROP INDEX rights_parties_identifiers_idx;
    ALTER TABLE rights_parties DROP COLUMN identifiers;
    """)
