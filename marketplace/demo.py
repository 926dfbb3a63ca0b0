"""Demo data for `make run`: organisations, users, then each package's own seeder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

import auction.demo
import discovery.demo
import rights.demo
from marketplace.accounts import service as accounts
from marketplace.accounts import store as account_store
from marketplace.accounts.model import OrganisationKind
from marketplace.licensing import configure_licensing
from rights.identity import Role
from web.pages import DemoSignIn

log = logging.getLogger("marketplace.demo")

DEMO_PASSWORD = "demo-password"  # noqa: S105 - published on purpose: these are the demo's sign-ins
DEMO_ORGANISATIONS: dict[str, tuple[str, OrganisationKind]] = {
    "label": ("Northern Lights Records", OrganisationKind.LABEL),
    "publisher": ("Harbour Songs Publishing", OrganisationKind.PUBLISHER),
    "agency": ("Brightside Agency", OrganisationKind.AGENCY),
    "studio": ("Lakeside Pictures", OrganisationKind.STUDIO),
    "operator": ("Marketplace Operations", OrganisationKind.OTHER),
}
DEMO_USERS: list[tuple[str, str, str, Role]] = [
    ("label", "label@demo.test", "Lena Label", Role.RIGHTS_HOLDER),
    ("publisher", "publisher@demo.test", "Pablo Publisher", Role.RIGHTS_HOLDER),
    ("agency", "buyer@demo.test", "Bea Buyer", Role.BUYER),
    ("studio", "studio@demo.test", "Sam Studio", Role.BUYER),
    ("operator", "admin@demo.test", "Ada Admin", Role.ADMIN),
]


async def sign_ins(conn: asyncpg.Connection) -> list[DemoSignIn]:
    """The demo's accounts that exist in this database (none unless the demo was loaded), in the list's order."""
    emails = [email for _, email, _, _ in DEMO_USERS]
    rows = await conn.fetch(
        """SELECT u.email, u.display_name, u.role, o.name FROM users u JOIN organisations o ON o.id = u.organisation_id
            WHERE u.email = ANY($1::text[])""",
        emails,
    )
    found = {row["email"]: row for row in rows}
    return [
        DemoSignIn(
            email=email, display_name=row["display_name"], role=Role(row["role"]), organisation=row["name"]
        )
        for email in emails
        if (row := found.get(email)) is not None
    ]


# Each package's `demo` module with `async def seed(conn, organisations, data_dir)`, in dependency order.
SEEDERS: list[Any] = [discovery.demo, rights.demo, auction.demo]


async def seed(conn: asyncpg.Connection, data_dir: Path) -> dict[str, UUID]:
    """Create whatever of the demo is missing; running it twice changes nothing."""
    configure_licensing(data_dir)  # a seeder that settles a deal issues its licence like the app does
    organisations: dict[str, UUID] = {}
    for key, email, display_name, role in DEMO_USERS:
        name, kind = DEMO_ORGANISATIONS[key]
        if await account_store.user_with_password_hash(conn, email) is None:
            await accounts.create_user(
                conn,
                organisation_name=name,
                organisation_kind=kind,
                email=email,
                display_name=display_name,
                role=role,
                password=DEMO_PASSWORD,
            )
        found = await account_store.organisation_by_name(conn, name)
        assert found is not None
        organisations[key] = found.id
    for seeder in SEEDERS:
        log.info("seeding demo", extra={"package": seeder.__name__})
        await seeder.seed(conn, organisations, data_dir)
    return organisations
