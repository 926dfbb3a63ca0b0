"""Organisations, users and the requests that create and sign them in."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from rights.identity import Role

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
# How long and how common a password may be is decided in one place, accounts.passwords.
Password = Annotated[str, msgspec.Meta(max_length=1024)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class OrganisationKind(enum.StrEnum):
    AGENCY = "agency"
    LABEL = "label"
    PUBLISHER = "publisher"
    STUDIO = "studio"
    OTHER = "other"


class SelfServiceRole(enum.StrEnum):
    """Roles anyone may register with; admins are made with `marketplace user add`."""

    BUYER = "buyer"
    RIGHTS_HOLDER = "rights_holder"


class Organisation(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    kind: OrganisationKind
    created_at: datetime


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    organisation_id: UUID
    email: str
    display_name: str
    role: Role
    created_at: datetime
    organisation_admin: bool = False  # adds members and grants roles in its organisation


class Registration(msgspec.Struct, frozen=True, kw_only=True):
    """A new organisation and its first user."""

    email: Email
    password: Password
    display_name: Name
    organisation_name: Name
    organisation_kind: OrganisationKind
    role: SelfServiceRole


class NewMember(msgspec.Struct, frozen=True, kw_only=True):
    """A colleague invited to the signed-in user's organisation."""

    email: Email
    role: SelfServiceRole
    organisation_admin: bool = False


class IssuedInvitation(msgspec.Struct, frozen=True, kw_only=True):
    """The same answer whether or not the address has an account already (no enumeration)."""

    email: str
    role: SelfServiceRole
    organisation_admin: bool
    expires_at: datetime
    token: str  # shown once, to the inviting admin, who passes it on; only its hash is stored


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    organisation_id: UUID
    email: str
    role: SelfServiceRole
    organisation_admin: bool
    invited_by: UUID


class InvitationAcceptance(msgspec.Struct, frozen=True, kw_only=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    display_name: Name
    password: Password


class MemberRole(msgspec.Struct, frozen=True, kw_only=True):
    """What an organisation admin grants a member."""

    role: SelfServiceRole
    organisation_admin: bool = False


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=320)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An API token for scripts, granted to the signed-in user or against email and password."""

    name: Name
    email: str | None = None
    password: str | None = None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    token: str  # shown once; only its hash is stored


class Me(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    organisation: Organisation
