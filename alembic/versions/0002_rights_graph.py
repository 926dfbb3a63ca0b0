"""Rights graph: parties, works and writers, recordings, control and administration edges, licences, policies.

Territory scopes are kept as written (include/exclude) and resolved to `countries` on write, so that
"who holds the publishing in DE" is an indexed array lookup rather than region arithmetic in SQL.
"""

from marketplace.migrations import run_sql

revision = "0002_rights_graph"
down_revision = "0001_foundation"
branch_labels = ("rights",)
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE rights_parties (
        id               uuid PRIMARY KEY,
        name             text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 300),
        kind             text NOT NULL CHECK (kind IN ('person', 'organisation')),
        ipi              text UNIQUE,
        isni             text UNIQUE,
        organisation_id  uuid REFERENCES organisations (id),
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rights_parties_organisation_idx ON rights_parties (organisation_id);

    CREATE TABLE rights_works (
        id          uuid PRIMARY KEY,
        title       text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
        iswc        text UNIQUE,
        created_at  timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE rights_work_writers (
        work_id   uuid NOT NULL REFERENCES rights_works (id) ON DELETE CASCADE,
        party_id  uuid NOT NULL REFERENCES rights_parties (id),
        position  int NOT NULL,
        PRIMARY KEY (work_id, party_id)
    );
    CREATE INDEX rights_work_writers_party_idx ON rights_work_writers (party_id);

    CREATE TABLE rights_recordings (
        id          uuid PRIMARY KEY,
        title       text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
        isrc        text UNIQUE,
        work_id     uuid REFERENCES rights_works (id),
        track_id    uuid UNIQUE REFERENCES tracks (id),
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rights_recordings_work_idx ON rights_recordings (work_id);

    -- A share of one side: master shares point at a recording, publishing shares at a work.
    CREATE TABLE rights_control (
        id            uuid PRIMARY KEY,
        party_id      uuid NOT NULL REFERENCES rights_parties (id),
        "right"       text NOT NULL CHECK ("right" IN ('master', 'publishing')),
        recording_id  uuid REFERENCES rights_recordings (id) ON DELETE CASCADE,
        work_id       uuid REFERENCES rights_works (id) ON DELETE CASCADE,
        share_bp      int NOT NULL CHECK (share_bp BETWEEN 1 AND 10000),
        include       text[] NOT NULL,
        exclude       text[] NOT NULL DEFAULT '{}',
        countries     text[] NOT NULL,
        start_date    date NOT NULL,
        end_date      date CHECK (end_date >= start_date),
        CHECK (("right" = 'master' AND recording_id IS NOT NULL AND work_id IS NULL)
            OR ("right" = 'publishing' AND work_id IS NOT NULL AND recording_id IS NULL))
    );
    CREATE INDEX rights_control_recording_idx ON rights_control (recording_id);
    CREATE INDEX rights_control_work_idx ON rights_control (work_id);
    CREATE INDEX rights_control_party_idx ON rights_control (party_id);
    CREATE INDEX rights_control_countries_idx ON rights_control USING gin (countries);

    -- administrator licenses administered's shares (of one work or recording, or of all of them).
    CREATE TABLE rights_administration (
        id                uuid PRIMARY KEY,
        administrator_id  uuid NOT NULL REFERENCES rights_parties (id),
        administered_id   uuid NOT NULL REFERENCES rights_parties (id),
        work_id           uuid REFERENCES rights_works (id) ON DELETE CASCADE,
        recording_id      uuid REFERENCES rights_recordings (id) ON DELETE CASCADE,
        include           text[] NOT NULL,
        exclude           text[] NOT NULL DEFAULT '{}',
        countries         text[] NOT NULL,
        start_date        date NOT NULL,
        end_date          date CHECK (end_date >= start_date),
        CHECK (administrator_id <> administered_id),
        CHECK (num_nonnulls(work_id, recording_id) <= 1)
    );
    CREATE INDEX rights_administration_administered_idx ON rights_administration (administered_id);
    CREATE INDEX rights_administration_administrator_idx ON rights_administration (administrator_id);

    CREATE TABLE rights_licences (
        id            uuid PRIMARY KEY,
        recording_id  uuid NOT NULL REFERENCES rights_recordings (id) ON DELETE CASCADE,
        licensee      text NOT NULL CHECK (length(btrim(licensee)) BETWEEN 1 AND 300),
        media         text NOT NULL,
        include       text[] NOT NULL,
        exclude       text[] NOT NULL DEFAULT '{}',
        countries     text[] NOT NULL,
        start_date    date NOT NULL,
        end_date      date CHECK (end_date >= start_date),
        exclusive     boolean NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rights_licences_recording_idx ON rights_licences (recording_id);

    -- One policy per party and track; track_id NULL is the party's catalogue-wide policy.
    CREATE TABLE rights_policies (
        id          uuid PRIMARY KEY,
        party_id    uuid NOT NULL REFERENCES rights_parties (id),
        track_id    uuid REFERENCES tracks (id),
        policy      jsonb NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX rights_policies_party_track_key
        ON rights_policies (party_id, coalesce(track_id, '00000000-0000-0000-0000-000000000000'::uuid));
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE rights_policies;
    DROP TABLE rights_licences;
    DROP TABLE rights_administration;
    DROP TABLE rights_control;
    DROP TABLE rights_recordings;
    DROP TABLE rights_work_writers;
    DROP TABLE rights_works;
    DROP TABLE rights_parties;
    """)
