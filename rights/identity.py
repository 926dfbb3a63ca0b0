"""Who is asking: the signed-in principal handlers receive, and the roles the marketplace knows."""

from __future__ import annotations

import enum
from uuid import UUID

import msgspec


class Role(enum.StrEnum):
    BUYER = "buyer"
    RIGHTS_HOLDER = "rights_holder"
    ADMIN = "admin"


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in user acting for one organisation."""

    user_id: UUID
    organisation_id: UUID
    role: Role
    email: str
    display_name: str

    def acts_for(self, organisation_id: UUID) -> bool:
        """True when this user may act for the organisation (its own, or any as admin)."""
        return self.role is Role.ADMIN or self.organisation_id == organisation_id
