"""Accounts: organisation admins and invitations.

The first user of an organisation is its organisation admin (a per-user flag, apart from the platform
role `admin`): only an organisation admin adds members or changes their roles. Existing organisations
get their earliest user as admin. A member is added by invitation: a single-use token, stored hashed,
that expires; nobody's account is created until the invitee accepts it with a name and password.
"""

from marketplace.migrations import run_sql

revision = "0010_accounts_roles"
down_revision = "0001_foundation"
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    run_sql("""
    ALTER TABLE users ADD COLUMN organisation_admin boolean NOT NULL DEFAULT false;
    UPDATE users u SET organisation_admin = true
     WHERE u.id = (SELECT first.id FROM users first WHERE first.organisation_id = u.organisation_id
                    ORDER BY first.created_at, first.id LIMIT 1);

    CREATE TABLE organisation_invitations (
        id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organisation_id     uuid NOT NULL REFERENCES organisations (id),
        email               text NOT NULL CHECK (position('@' IN email) > 1),
        role                text NOT NULL CHECK (role IN ('buyer', 'rights_holder')),
        organisation_admin  boolean NOT NULL DEFAULT false,
        token_hash          bytea NOT NULL UNIQUE,
        invited_by          uuid NOT NULL REFERENCES users (id),
        created_at          timestamptz NOT NULL,
        expires_at          timestamptz NOT NULL CHECK (expires_at > created_at),
        accepted_at         timestamptz,
        accepted_user_id    uuid REFERENCES users (id)
    );
    CREATE INDEX organisation_invitations_organisation_idx ON organisation_invitations (organisation_id, created_at);
    """)


def downgrade() -> None:
    run_sql("""
    DROP TABLE organisation_invitations;
    ALTER TABLE users DROP COLUMN organisation_admin;
    """)
