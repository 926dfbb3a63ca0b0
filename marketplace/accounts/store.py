"""SQL for organisations, users and API tokens."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from marketplace.accounts.model import Organisation, OrganisationKind, User
from rights.identity import Principal, Role

_USER_COLUMNS = "u.id, u.organisation_id, u.email, u.display_name, u.role, u.created_at"


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        organisation_id=row["organisation_id"],
        email=row["email"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
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
) -> User:
    row = await conn.fetchrow(
        f"""INSERT INTO users AS u (organisation_id, email, display_name, role, password_hash)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_USER_COLUMNS}""",
        organisation_id,
        email.strip(),
        display_name.strip(),
        role.value,
        password_hash,
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
