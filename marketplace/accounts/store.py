"""SQL for organisations, users and API tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from marketplace.accounts.model import Invitation, Organisation, OrganisationKind, SelfServiceRole, User
from rights.identity import Principal, Role

_USER_COLUMNS = "u.id, u.organisation_id, u.email, u.display_name, u.role, u.created_at, u.organisation_admin"


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        organisation_id=row["organisation_id"],
        email=row["email"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        organisation_admin=row["organisation_admin"],
    )


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=user.role,
        email=user.email,
        display_name=user.display_name,
    )


async def insert_organisation(conn: asyncpg.Connection, name: str, kind: OrganisationKind) -> Organisation:
    row = await conn.fetchrow(
        "INSERT INTO organisations (name, kind) VALUES ($1, $2) RETURNING id, name, kind, created_at",
        name.strip(),
        kind.value,
    )
    assert row is not None
    return Organisation(
        id=row["id"], name=row["name"], kind=OrganisationKind(row["kind"]), created_at=row["created_at"]
    )


async def organisation(conn: asyncpg.Connection, organisation_id: UUID) -> Organisation | None:
    row = await conn.fetchrow(
        "SELECT id, name, kind, created_at FROM organisations WHERE id = $1", organisation_id
    )
    if row is None:
        return None
    return Organisation(
        id=row["id"], name=row["name"], kind=OrganisationKind(row["kind"]), created_at=row["created_at"]
    )


async def organisation_by_name(conn: asyncpg.Connection, name: str) -> Organisation | None:
    row = await conn.fetchrow(
        "SELECT id, name, kind, created_at FROM organisations WHERE lower(name) = lower($1)", name.strip()
    )
    if row is None:
        return None
    return Organisation(
        id=row["id"], name=row["name"], kind=OrganisationKind(row["kind"]), created_at=row["created_at"]
    )


async def insert_user(
    conn: asyncpg.Connection,
    *,
    organisation_id: UUID,
    email: str,
    display_name: str,
    role: Role,
    password_hash: str,
    organisation_admin: bool = False,
) -> User:
    row = await conn.fetchrow(
        f"""INSERT INTO users AS u (organisation_id, email, display_name, role, password_hash, organisation_admin)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_USER_COLUMNS}""",
        organisation_id,
        email.strip(),
        display_name.strip(),
        role.value,
        password_hash,
        organisation_admin,
    )
    assert row is not None
    return _user(row)


async def user_with_password_hash(conn: asyncpg.Connection, email: str) -> tuple[User, str] | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE lower(u.email) = lower($1)",
        email.strip(),
    )
    return None if row is None else (_user(row), row["password_hash"])


async def replace_password_hash(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def user(conn: asyncpg.Connection, user_id: UUID) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)
    return None if row is None else _user(row)


async def insert_token(conn: asyncpg.Connection, user_id: UUID, name: str, token_hash: bytes) -> UUID:
    token_id: UUID = await conn.fetchval(
        "INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3) RETURNING id",
        user_id,
        name,
        token_hash,
    )
    return token_id


async def user_by_token_hash(conn: asyncpg.Connection, token_hash: bytes) -> User | None:
    # Scripts send a token with every request (every bid): note its use at most once a minute,
    # so authenticating is a read, not a write, on the hot path.
    row = await conn.fetchrow(
        f"""WITH token AS (
                SELECT t.id, t.user_id, t.last_used_at FROM api_tokens t
                WHERE t.token_hash = $1 AND t.revoked_at IS NULL
            ), noted AS (
                UPDATE api_tokens SET last_used_at = now()
                FROM token
                WHERE api_tokens.id = token.id
                  AND (token.last_used_at IS NULL OR token.last_used_at < now() - interval '1 minute')
            )
            SELECT {_USER_COLUMNS} FROM token JOIN users u ON u.id = token.user_id""",
        token_hash,
    )
    return None if row is None else _user(row)


async def revoke_token(conn: asyncpg.Connection, user_id: UUID, token_id: UUID) -> bytes | None:
    """The revoked token's hash, or None when the user has no such active token."""
    token_hash: bytes | None = await conn.fetchval(
        """UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
           RETURNING token_hash""",
        token_id,
        user_id,
    )
    return token_hash


async def has_members(conn: asyncpg.Connection, organisation_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM users WHERE organisation_id = $1)", organisation_id
    )
    return found


async def update_member(
    conn: asyncpg.Connection, organisation_id: UUID, user_id: UUID, role: Role, organisation_admin: bool
) -> User | None:
    row = await conn.fetchrow(
        f"""UPDATE users u SET role = $3, organisation_admin = $4 WHERE u.id = $2 AND u.organisation_id = $1
            RETURNING {_USER_COLUMNS}""",
        organisation_id, user_id, role.value, organisation_admin,
    )  # fmt: skip
    return None if row is None else _user(row)


async def organisation_admins(conn: asyncpg.Connection, organisation_id: UUID) -> int:
    """How many organisation admins it has (rows locked, so two demotions cannot both pass)."""
    rows = await conn.fetch(
        "SELECT id FROM users WHERE organisation_id = $1 AND organisation_admin FOR UPDATE", organisation_id
    )
    return len(rows)


async def insert_invitation(
    conn: asyncpg.Connection, *, organisation_id: UUID, email: str, role: SelfServiceRole, organisation_admin: bool,
    token_hash: bytes, invited_by: UUID, now: datetime, expires_at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO organisation_invitations (organisation_id, email, role, organisation_admin, token_hash,
                                                 invited_by, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        organisation_id, email.strip(), role.value, organisation_admin, token_hash, invited_by, now, expires_at,
    )  # fmt: skip


async def take_invitation(conn: asyncpg.Connection, token_hash: bytes, now: datetime) -> Invitation | None:
    """Mark the unexpired, unused invitation with this token used; None when there is none."""
    row = await conn.fetchrow(
        """UPDATE organisation_invitations SET accepted_at = $2
            WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2
           RETURNING id, organisation_id, email, role, organisation_admin, invited_by""",
        token_hash, now,
    )  # fmt: skip
    if row is None:
        return None
    return Invitation(id=row["id"], organisation_id=row["organisation_id"], email=row["email"],
                      role=SelfServiceRole(row["role"]), organisation_admin=row["organisation_admin"],
                      invited_by=row["invited_by"])  # fmt: skip


async def note_invitation_accepted(conn: asyncpg.Connection, invitation_id: UUID, user_id: UUID) -> None:
    await conn.execute(
        "UPDATE organisation_invitations SET accepted_user_id = $2 WHERE id = $1", invitation_id, user_id
    )
