"""Account use cases: register, sign in with a password or an API token, add colleagues."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from marketplace.accounts import store
from marketplace.accounts.model import (
    InvitationAcceptance,
    IssuedInvitation,
    IssuedToken,
    Me,
    MemberRole,
    NewMember,
    OrganisationKind,
    Registration,
    User,
)
from marketplace.accounts.passwords import password_problem
from rights.audit import append_audit
from rights.identity import Principal, Role

_hasher = PasswordHasher()
# Verifying against this keeps an unknown email as slow as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("an unguessable placeholder password")
TOKEN_PREFIX = "mkt_"  # noqa: S105 - a public prefix that lets secret scanners spot leaked tokens
INVITATION_PREFIX = "inv_"
INVITATION_LIFETIME = timedelta(days=7)


class EmailTaken(ValueError):
    status_code = 409


class OrganisationTaken(ValueError):
    status_code = 409


class InvalidCredentials(PermissionError):
    status_code = 401


class WeakPassword(ValueError):
    """Too short or too common; the message says which."""


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def register(conn: asyncpg.Connection, registration: Registration) -> User:
    """Create an organisation and its first user, who acts for it."""
    async with conn.transaction():
        if await store.organisation_by_name(conn, registration.organisation_name) is not None:
            raise OrganisationTaken(
                f"an organisation named {registration.organisation_name!r} exists already: "
                "ask one of its members to add you"
            )
        organisation = await store.insert_organisation(
            conn, registration.organisation_name, registration.organisation_kind
        )
        return await _insert_user(
            conn,
            organisation_id=organisation.id,
            email=registration.email,
            display_name=registration.display_name,
            role=Role(registration.role.value),
            password=registration.password,
            organisation_admin=True,
        )


class NotOrganisationAdmin(PermissionError):
    """Only an organisation admin adds members or changes their roles (403)."""


class InvitationUnusable(ValueError):
    """An invitation token that is unknown, used already or expired (400)."""


async def _require_organisation_admin(conn: asyncpg.Connection, caller: Principal) -> None:
    user = await store.user(conn, caller.user_id)
    if caller.role is Role.ADMIN or (user is not None and user.organisation_admin):
        return
    raise NotOrganisationAdmin(
        "only an organisation admin can add members or change their roles: ask your organisation's admin"
    )


async def invite_member(
    conn: asyncpg.Connection, caller: Principal, member: NewMember, now: datetime
) -> IssuedInvitation:
    """An organisation admin invites a colleague: a single-use token that expires, and no account yet.

    The answer is the same whether or not the address has an account, so nobody learns which do.
    """
    token = INVITATION_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + INVITATION_LIFETIME
    async with conn.transaction():
        await _require_organisation_admin(conn, caller)
        await store.insert_invitation(
            conn, organisation_id=caller.organisation_id, email=member.email, role=member.role,
            organisation_admin=member.organisation_admin, token_hash=hash_token(token), invited_by=caller.user_id,
            now=now, expires_at=expires_at,
        )  # fmt: skip
        payload: dict[str, object] = {"email": member.email, "role": member.role.value,
                                      "organisation_admin": member.organisation_admin}  # fmt: skip
        await append_audit(
            conn, "organisation", caller.organisation_id, "member_invited", payload, caller.user_id
        )
    return IssuedInvitation(email=member.email, role=member.role, organisation_admin=member.organisation_admin,
                            expires_at=expires_at, token=token)  # fmt: skip


async def accept_invitation(
    conn: asyncpg.Connection, acceptance: InvitationAcceptance, now: datetime
) -> User:
    """The invitee joins the organisation with a name and password; the token cannot be used again."""
    async with conn.transaction():
        invitation = await store.take_invitation(conn, hash_token(acceptance.token), now)
        if invitation is None:
            raise InvitationUnusable(
                "this invitation is unknown, used already or expired: ask your organisation's admin for a new one"
            )
        user = await _insert_user(
            conn, organisation_id=invitation.organisation_id, email=invitation.email,
            display_name=acceptance.display_name, role=Role(invitation.role.value), password=acceptance.password,
            actor_id=invitation.invited_by, organisation_admin=invitation.organisation_admin,
        )  # fmt: skip
        await store.note_invitation_accepted(conn, invitation.id, user.id)
    return user


async def set_member_role(
    conn: asyncpg.Connection, caller: Principal, user_id: UUID, grant: MemberRole
) -> User:
    """An organisation admin changes a member's role; the organisation always keeps one admin."""
    async with conn.transaction():
        await _require_organisation_admin(conn, caller)
        admins = await store.organisation_admins(conn, caller.organisation_id)
        before = await store.user(conn, user_id)
        if before is None or before.organisation_id != caller.organisation_id:
            raise LookupError(f"no member {user_id} in your organisation")
        if before.organisation_admin and not grant.organisation_admin and admins <= 1:
            raise LastOrganisationAdmin(
                "the organisation needs at least one admin: make someone else admin first"
            )
        user = await store.update_member(
            conn, caller.organisation_id, user_id, Role(grant.role.value), grant.organisation_admin
        )
        assert user is not None
        payload: dict[str, object] = {"user_id": str(user_id), "role": grant.role.value,
                                      "organisation_admin": grant.organisation_admin}  # fmt: skip
        await append_audit(
            conn, "organisation", caller.organisation_id, "member_role_set", payload, caller.user_id
        )
    return user


class LastOrganisationAdmin(ValueError):
    status_code = 409


async def create_user(
    conn: asyncpg.Connection,
    *,
    organisation_name: str,
    organisation_kind: OrganisationKind,
    email: str,
    display_name: str,
    role: Role,
    password: str,
) -> User:
    """Create a user (any role, admins included) in a named organisation, creating it if needed."""
    async with conn.transaction():
        organisation = await store.organisation_by_name(conn, organisation_name)
        if organisation is None:
            organisation = await store.insert_organisation(conn, organisation_name, organisation_kind)
        return await _insert_user(
            conn,
            organisation_id=organisation.id,
            email=email,
            display_name=display_name,
            role=role,
            password=password,
            organisation_admin=not await store.has_members(conn, organisation.id),
        )


async def _insert_user(
    conn: asyncpg.Connection,
    *,
    organisation_id: UUID,
    email: str,
    display_name: str,
    role: Role,
    password: str,
    actor_id: UUID | None = None,
    organisation_admin: bool = False,
) -> User:
    problem = password_problem(password)
    if problem is not None:
        raise WeakPassword(problem)
    if await store.user_with_password_hash(conn, email) is not None:
        raise EmailTaken(f"{email} is registered already: sign in instead")
    user = await store.insert_user(
        conn,
        organisation_id=organisation_id,
        email=email,
        display_name=display_name,
        role=role,
        password_hash=_hasher.hash(password),
        organisation_admin=organisation_admin,
    )
    payload: dict[str, object] = {"user_id": str(user.id), "email": user.email, "role": user.role.value,
                                  "organisation_admin": organisation_admin}  # fmt: skip
    await append_audit(conn, "organisation", organisation_id, "user_added", payload, actor_id)
    return user


async def authenticate(conn: asyncpg.Connection, email: str, password: str) -> Principal:
    """The principal for a correct email and password; the same refusal for a wrong email or password."""
    found = await store.user_with_password_hash(conn, email)
    stored_hash = _DUMMY_HASH if found is None else found[1]
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("wrong email or password") from None
    if found is None:
        raise InvalidCredentials("wrong email or password")
    user, _ = found
    if _hasher.check_needs_rehash(stored_hash):
        await store.replace_password_hash(conn, user.id, _hasher.hash(password))
    return store.principal_of(user)


async def issue_token(conn: asyncpg.Connection, principal: Principal, name: str) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with conn.transaction():
        token_id = await store.insert_token(conn, principal.user_id, name, hash_token(token))
        payload: dict[str, object] = {"token_id": str(token_id), "name": name}
        await append_audit(
            conn, "organisation", principal.organisation_id, "api_token_issued", payload, principal.user_id
        )
    return IssuedToken(id=token_id, name=name, token=token)


async def revoke_token(conn: asyncpg.Connection, principal: Principal, token_id: UUID) -> bytes:
    """Revoke one of the caller's tokens; returns its hash, by which its open sockets are told."""
    token_hash = await store.revoke_token(conn, principal.user_id, token_id)
    if token_hash is None:
        raise LookupError(f"no active token {token_id} of yours")
    return token_hash


async def principal_for_token(conn: asyncpg.Connection, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    user = await store.user_by_token_hash(conn, hash_token(token))
    return None if user is None else store.principal_of(user)


async def me(conn: asyncpg.Connection, principal: Principal) -> Me:
    user = await store.user(conn, principal.user_id)
    if user is None:
        raise LookupError("your account no longer exists")
    organisation = await store.organisation(conn, user.organisation_id)
    assert organisation is not None
    return Me(user=user, organisation=organisation)
