"""A small rights world in one database transaction: a label selling, a co-publisher, a buyer, one track.

The label owns the master and half the publishing; Harbour Songs owns the other half of the
publishing. Harbour's policy decides whether it consents by policy or is asked.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import asyncpg
import msgspec

from contracts import service
from contracts.model import Deal, DealSource
from rights import service as rights
from rights.identity import Principal, Role
from rights.model import ControlEdge, LicensingPolicy, Mechanism, Party, Period, Recording, Right, Work
from rights.pooling import Connect
from rights.store import open_store
from rights.terms import Media, Money, RateCard, Usage
from rights.territories import TerritoryScope

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
USAGE = Usage(media=Media.ONLINE_ADS, territories=("WORLD",), term_months=12, start=date(2027, 1, 1))
ALWAYS = Period(start=date(2000, 1, 1))


def borrowed(conn: asyncpg.Connection) -> Connect:
    """`conn` lent to a service that takes its own connection (`Connect`), and kept after it: a test's
    transaction stays open around what the service does."""

    @contextlib.asynccontextmanager
    async def lend() -> AsyncIterator[asyncpg.Connection]:
        yield conn

    return lend


async def member(conn: asyncpg.Connection, name: str, role: Role, kind: str = "label") -> Principal:
    """An organisation and one user of it (no password: service tests never sign in)."""
    suffix = secrets.token_hex(4)
    organisation = await conn.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ($1, $2) RETURNING id", f"{name} {suffix}", kind
    )
    email = f"{role.value}-{suffix}@example.test"
    user = await conn.fetchval(
        """INSERT INTO users (organisation_id, email, display_name, role, password_hash)
           VALUES ($1, $2, $3, $4, 'not-a-hash') RETURNING id""",
        organisation, email, name, role.value,
    )  # fmt: skip
    return Principal(user_id=user, organisation_id=organisation, role=role, email=email, display_name=name)


class World(msgspec.Struct, frozen=True, kw_only=True):
    label: Principal
    publisher: Principal
    buyer: Principal
    track_id: UUID
    label_party: Party
    publisher_party: Party
    isrc: str


async def world(
    conn: asyncpg.Connection, *, publisher_policy: bool = True, list_base: int = 100_000, dynamic: bool = False,
    label: Principal | None = None, publisher: Principal | None = None, buyer: Principal | None = None,
) -> World:  # fmt: skip
    """The world, with the members given (signed-in test users) or new ones."""
    label = label or await member(conn, "Northern Lights Records", Role.RIGHTS_HOLDER)
    publisher = publisher or await member(conn, "Harbour Songs Publishing", Role.RIGHTS_HOLDER, "publisher")
    buyer = buyer or await member(conn, "Brightside Agency", Role.BUYER, "agency")
    track = await rights.create_track(conn, owner_organisation_id=label.organisation_id, title="Night Drive",
                                      artist="Zoë")  # fmt: skip
    store = open_store(conn)
    isrc = f"GBNLR{secrets.randbelow(10**7):07d}"
    work = Work(id=uuid4(), title="Night Drive")
    recording = Recording(id=uuid4(), title="Night Drive", isrc=isrc, work_id=work.id, track_id=track.id)
    label_party = Party(id=uuid4(), name="Northern Lights Records", organisation_id=label.organisation_id)
    publisher_party = Party(id=uuid4(), name="Harbour Songs", organisation_id=publisher.organisation_id)
    for party in (label_party, publisher_party):
        await store.add_party(party)
    await store.add_work(work)
    await store.add_recording(recording)
    for party, right, subject, share in (
        (label_party, Right.MASTER, recording.id, 10_000),
        (label_party, Right.PUBLISHING, work.id, 5_000),
        (publisher_party, Right.PUBLISHING, work.id, 5_000),
    ):
        await store.add_control(
            ControlEdge(id=uuid4(), party_id=party.id, subject_id=subject, right=right, share_bp=share,
                        territories=TerritoryScope(include=("WORLD",)), period=ALWAYS)
        )  # fmt: skip
    card = RateCard(base=Money(list_base, "EUR"), media_bp={m: 10_000 for m in Media})
    opted_in = [label_party, publisher_party] if publisher_policy else [label_party]
    for party in opted_in:
        await store.put_policy(
            LicensingPolicy(id=uuid4(), party_id=party.id, rate_card=card, automated_media=frozenset(Media),
                            mechanisms={m: (Mechanism.FIXED_PRICE, Mechanism.VICKREY) for m in Media},
                            dynamic_pricing=dynamic, floor=Money(50_000, "EUR") if dynamic else None,
                            ceiling=Money(300_000, "EUR") if dynamic else None)
        )  # fmt: skip
    return World(label=label, publisher=publisher, buyer=buyer, track_id=track.id, label_party=label_party,
                 publisher_party=publisher_party, isrc=isrc)  # fmt: skip


async def round_deal(conn: asyncpg.Connection, w: World, price: int = 200_000) -> Deal:
    """The deal a Vickrey round on the track would make for the buyer."""
    return await service.create_deal(
        conn, source=DealSource.ROUND, source_id=uuid4(), track_id=w.track_id, seller=w.label.organisation_id,
        buyer=w.buyer.organisation_id, price=Money(price, "EUR"), usage=USAGE, mechanism=Mechanism.VICKREY,
        agreed_at=NOW, actor=None,
    )  # fmt: skip


class Recorded:
    """A notifier's stand-in for service tests: it keeps what would have been published and scheduled."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.scheduled: list[tuple[str, dict[str, object]]] = []

    async def publish(self, channel: str, data: bytes) -> None:
        self.published.append((channel, data))

    async def enqueue_job(self, name: str, *args: object, **options: object) -> None:
        self.scheduled.append((name, options))

    def notifier(self) -> service.Notifier:
        return service.Notifier(publish=self.publish, jobs=self)
