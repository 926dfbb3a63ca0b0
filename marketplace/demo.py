"""Demo data for `make run`: organisations, users, each package's own seeder, then the demo tracks' audio
queued for the analysis workers.

Everything but the audio is rows and takes a few seconds, so the server answers at once; the workers
render and analyse the tracks in the background, and `progress` says how far they are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import asyncpg
from arq import ArqRedis

import auction.demo
import discovery.demo
import rights.demo
from discovery import synth
from discovery.model import CatalogueProgress
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


async def _organisations(conn: asyncpg.Connection) -> dict[str, UUID]:
    """The demo organisations that exist, by key."""
    found = {}
    for key, (name, _) in DEMO_ORGANISATIONS.items():
        organisation = await account_store.organisation_by_name(conn, name)
        if organisation is not None:
            found[key] = organisation.id
    return found


async def seed(
    conn: asyncpg.Connection, data_dir: Path, *, tracks: int = synth.CATALOGUE_SIZE
) -> dict[str, UUID]:
    """Create whatever of the demo is missing, except the tracks' audio; running it twice changes nothing.

    Discovery's tracks come first (without audio), then rights (splits and policies for them), then
    auction (rounds on the clearable ones): none of those need the audio or its analysis.
    """
    configure_licensing(data_dir)  # a seeder that settles a deal issues its licence like the app does
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
    organisations = await _organisations(conn)
    await discovery.demo.seed(conn, organisations, data_dir, size=tracks)
    for seeder in (rights.demo, auction.demo):
        log.info("seeding demo", extra={"package": seeder.__name__})
        await seeder.seed(conn, organisations, data_dir)
    return organisations


async def queue_audio(
    conn: asyncpg.Connection,
    jobs: ArqRedis,
    organisations: dict[str, UUID],
    *,
    tracks: int = synth.CATALOGUE_SIZE,
) -> int:
    """Queue the demo tracks not yet analysed for the analysis workers; how many were queued."""
    owned_by = discovery.demo.owners(organisations)
    awaiting = await discovery.demo.awaiting_audio(conn, owned_by, size=tracks)
    await discovery.demo.enqueue_audio(jobs, owned_by, awaiting, size=tracks)
    return len(awaiting)


async def progress(conn: asyncpg.Connection, tracks: int = synth.CATALOGUE_SIZE) -> CatalogueProgress | None:
    """How far the demo catalogue's analysis has come; None when the demo is not loaded."""
    organisations = await _organisations(conn)
    if "label" not in organisations or "publisher" not in organisations:
        return None
    return await discovery.demo.progress(conn, discovery.demo.owners(organisations), size=tracks)


async def watch_progress(
    database_url: str, tracks: int, say: Callable[[str], None], *, since: float, every_seconds: float = 1.0
) -> None:
    """Say each change in the demo's progress (for the terminal of `make run`) until every track is done,
    with the seconds since `since` (a `time.monotonic()` reading: when the command started)."""
    said = None
    while True:
        try:
            conn = await asyncpg.connect(database_url)
            try:
                found = await progress(conn, tracks)
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):  # the database is restarting: ask again next time
            found = None
        if found is not None and found != said:
            say(f"{found.describe()} ({time.monotonic() - since:.0f} s)")
            said = found
            if found.finished:
                return
        await asyncio.sleep(every_seconds)
