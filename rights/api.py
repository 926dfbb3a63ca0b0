"""Rights endpoints: the catalogue, parties, shares, administration, policies, imports, ownership, clearance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from rights import service
from rights.clearance import Clearance, Ownership
from rights.identity import Principal
from rights.imports import ImportFailed
from rights.imports.cwr import parse_cwr
from rights.imports.ddex import parse_ern
from rights.model import (
    AdministrationEdge,
    ClaimStatus,
    ControlEdge,
    DisputedClaim,
    ImportSource,
    LicensingPolicy,
    Mechanism,
    Party,
    PartyKind,
    Period,
    Recording,
    Right,
    Track,
    Work,
)
from rights.service import ImportRecord, ImportReport, ShareChange
from rights.terms import Media, Money, RateCard, Usage
from rights.territories import TerritoryScope

RIGHTS_HOLDERS = {"roles": ["rights_holder"]}
# Files are read whole, under their own size limit, before the handler runs (see marketplace.bodies).
IMPORTS = {**RIGHTS_HOLDERS, "body": "import"}
UNDATED = date(1900, 1, 1)


class NewTrack(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    artist: str
    description: str = ""


class NewParty(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: PartyKind = PartyKind.ORGANISATION
    ipi: str | None = None
    isni: str | None = None


class NewShare(msgspec.Struct, frozen=True, kw_only=True):
    party_id: UUID
    right: Right
    share_bp: int
    territories: TerritoryScope = msgspec.field(default_factory=TerritoryScope)
    start: date = UNDATED
    end: date | None = None


class NewAdministration(msgspec.Struct, frozen=True, kw_only=True):
    administrator_id: UUID
    administered_id: UUID
    territories: TerritoryScope = msgspec.field(default_factory=TerritoryScope)
    start: date = UNDATED
    end: date | None = None
    track_id: UUID | None = None
    right: Right | None = None


class PolicyTerms(msgspec.Struct, frozen=True, kw_only=True):
    """A policy as a rights holder writes it; the id is the marketplace's."""

    party_id: UUID
    track_id: UUID | None = None
    mechanisms: dict[Media, tuple[Mechanism, ...]] = msgspec.field(default_factory=dict)
    rate_card: RateCard | None = None
    floor: Money | None = None
    ceiling: Money | None = None
    auto_accept: Money | None = None
    negotiation_window_hours: int = 72
    automated_media: frozenset[Media] = frozenset()
    dynamic_pricing: bool = False


def _today() -> date:
    return datetime.now(UTC).date()


def _territory_list(value: str) -> tuple[str, ...]:
    codes = tuple(c for c in value.replace(";", ",").split(",") if c.strip())
    if not codes:
        raise ValueError("name at least one territory, e.g. territories=EUROPE,US")
    return codes


class CatalogueController(Controller):
    path = "/api/rights/tracks"
    tags: Sequence[str] | None = ("rights",)

    @post("/", status_code=HTTP_201_CREATED, opt=RIGHTS_HOLDERS)
    async def create_track(self, conn: asyncpg.Connection, caller: Principal, data: NewTrack) -> Track:
        return await service.create_track(conn, owner_organisation_id=caller.organisation_id, title=data.title,
                                          artist=data.artist, description=data.description)  # fmt: skip

    @get("/")
    async def find_tracks(
        self,
        conn: asyncpg.Connection,
        caller: Principal,
        territories: str = "WORLD",
        writer: UUID | None = None,
        publisher: UUID | None = None,
        media: Media | None = None,
        on: date | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[Track]:
        """Tracks co-written by `writer`, published or administered by `publisher`, available in `territories`."""
        return await service.graph_tracks(
            conn, territories=_territory_list(territories), on=on or _today(), writer_id=writer,
            publisher_id=publisher, media=media, limit=limit,
        )  # fmt: skip

    @get("/{track_id:uuid}")
    async def track(self, conn: asyncpg.Connection, caller: Principal, track_id: UUID) -> Track:
        return await service.get_track(conn, track_id)

    @get("/{track_id:uuid}/ownership")
    async def ownership(
        self, conn: asyncpg.Connection, caller: Principal, track_id: UUID, territories: str = "WORLD",
        on: date | None = None,
    ) -> Ownership:  # fmt: skip
        return await service.ownership_picture(conn, track_id, territories=_territory_list(territories),
                                               on=on or _today())  # fmt: skip

    @post("/{track_id:uuid}/clearance", status_code=HTTP_200_OK)
    async def clearance(
        self, conn: asyncpg.Connection, caller: Principal, track_id: UUID, data: Usage
    ) -> Clearance:
        return await service.clearance(conn, track_id, data)

    @post("/{track_id:uuid}/shares", status_code=HTTP_201_CREATED, opt=RIGHTS_HOLDERS)
    async def add_share(
        self, conn: asyncpg.Connection, caller: Principal, track_id: UUID, data: NewShare
    ) -> ShareChange:
        return await service.add_share(
            conn, caller, track_id, party_id=data.party_id, right=data.right, share_bp=data.share_bp,
            territories=data.territories, period=Period(start=data.start, end=data.end),
        )  # fmt: skip


class RightsController(Controller):
    path = "/api/rights"
    tags: Sequence[str] | None = ("rights",)

    @get("/parties", opt=RIGHTS_HOLDERS)
    async def my_parties(self, conn: asyncpg.Connection, caller: Principal) -> list[Party]:
        return await service.parties_of(conn, caller)

    @post("/parties", status_code=HTTP_201_CREATED, opt=RIGHTS_HOLDERS)
    async def create_party(self, conn: asyncpg.Connection, caller: Principal, data: NewParty) -> Party:
        return await service.create_party(
            conn, caller, name=data.name, kind=data.kind, ipi=data.ipi, isni=data.isni
        )

    @delete("/shares/{share_id:uuid}", status_code=HTTP_204_NO_CONTENT, opt=RIGHTS_HOLDERS)
    async def remove_share(self, conn: asyncpg.Connection, caller: Principal, share_id: UUID) -> None:
        await service.remove_share(conn, caller, share_id)

    @post("/administration", status_code=HTTP_201_CREATED, opt=RIGHTS_HOLDERS)
    async def add_administration(
        self, conn: asyncpg.Connection, caller: Principal, data: NewAdministration
    ) -> AdministrationEdge:
        return await service.add_administration(
            conn, caller, administrator_id=data.administrator_id, administered_id=data.administered_id,
            territories=data.territories, period=Period(start=data.start, end=data.end), track_id=data.track_id,
            right=data.right,
        )  # fmt: skip

    @put("/policies", opt=RIGHTS_HOLDERS)
    async def set_policy(
        self, conn: asyncpg.Connection, caller: Principal, data: PolicyTerms
    ) -> LicensingPolicy:
        policy = msgspec.convert(
            {**msgspec.structs.asdict(data), "id": uuid4()}, LicensingPolicy, from_attributes=True
        )
        return await service.set_policy(conn, caller, policy)

    @post("/imports/split-sheet", status_code=HTTP_201_CREATED,
          opt={**IMPORTS, "body_media_type": "text/csv", "body_description": "a CSV split sheet, UTF-8"})  # fmt: skip
    async def import_split_sheet(
        self, conn: asyncpg.Connection, caller: Principal, request: Request[Any, Any, Any]
    ) -> ImportReport:
        """Body: the CSV split sheet itself (text/csv)."""
        body = await request.body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFailed(["the split sheet is not UTF-8 text"]) from None
        return await service.import_split_sheet(conn, caller, text)

    @post("/imports/ddex", status_code=HTTP_201_CREATED,
          opt={**IMPORTS, "body_media_type": "application/xml",
               "body_description": "a DDEX ERN 4 NewReleaseMessage"})  # fmt: skip
    async def import_ddex(
        self, connect: Callable[[], AbstractAsyncContextManager[asyncpg.Connection]], caller: Principal,
        request: Request[Any, Any, Any],
    ) -> ImportReport:  # fmt: skip
        """Body: an ERN 4 NewReleaseMessage (application/xml), parsed before a connection is taken."""
        message = await asyncio.to_thread(parse_ern, await request.body())
        async with connect() as conn:
            return await service.import_ern(conn, caller, message)

    @post("/imports/cwr", status_code=HTTP_201_CREATED,
          opt={**IMPORTS, "body_media_type": "text/plain", "body_description": "a CWR 2.1 or 2.2 file"})  # fmt: skip
    async def import_cwr(
        self, connect: Callable[[], AbstractAsyncContextManager[asyncpg.Connection]], caller: Principal,
        request: Request[Any, Any, Any],
    ) -> ImportReport:  # fmt: skip
        """Body: a CWR file (ASCII or Latin-1 text), parsed before a connection is taken."""
        text = (await request.body()).decode("latin-1")
        batch = await asyncio.to_thread(parse_cwr, text)
        async with connect() as conn:
            return await service.import_cwr(conn, caller, batch)

    @get("/exports/cwr", opt=RIGHTS_HOLDERS, media_type="text/plain")
    async def export_cwr(self, conn: asyncpg.Connection, caller: Principal) -> Response[bytes]:
        """The organisation's works as CWR 2.1 (Latin-1 text, as societies read it)."""
        text = await service.export_cwr(conn, caller, datetime.now(UTC))
        return Response(text.encode("latin-1", errors="replace"), media_type="text/plain; charset=latin-1",
                        headers={"Content-Disposition": 'attachment; filename="works.cwr"'})  # fmt: skip


Limit = Annotated[int, Parameter(ge=1, le=500)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000)]
Filter = Annotated[str | None, Parameter(max_length=300)]


class HoldingsController(Controller):
    """What your organisation holds (imported or recorded): recordings, works, parties and shares."""

    path = "/api/rights/catalogue"
    tags: Sequence[str] | None = ("rights",)

    @get("/recordings", opt=RIGHTS_HOLDERS)
    async def recordings(
        self, conn: asyncpg.Connection, caller: Principal, isrc: Filter = None, title: Filter = None,
        awaiting_audio: bool | None = None, limit: Limit = 100, offset: Offset = 0,
    ) -> list[Recording]:  # fmt: skip
        """`awaiting_audio=true`: recordings not linked to a catalogue track yet."""
        return await service.recordings(conn, caller, isrc=isrc, title=title, awaiting_audio=awaiting_audio,
                                        page=service.Page(limit=limit, offset=offset))  # fmt: skip

    @get("/recordings/{recording_id:uuid}", opt=RIGHTS_HOLDERS)
    async def recording(self, conn: asyncpg.Connection, caller: Principal, recording_id: UUID) -> Recording:
        return await service.recording(conn, caller, recording_id)

    @delete("/recordings/{recording_id:uuid}", status_code=HTTP_204_NO_CONTENT, opt=RIGHTS_HOLDERS)
    async def delete_recording(self, conn: asyncpg.Connection, caller: Principal, recording_id: UUID) -> None:
        """Only a recording awaiting audio (409 otherwise); its shares go with it."""
        await service.delete_recording(conn, caller, recording_id)

    @get("/works", opt=RIGHTS_HOLDERS)
    async def works(
        self, conn: asyncpg.Connection, caller: Principal, iswc: Filter = None, title: Filter = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> list[Work]:  # fmt: skip
        return await service.works(conn, caller, iswc=iswc, title=title,
                                   page=service.Page(limit=limit, offset=offset))  # fmt: skip

    @get("/works/{work_id:uuid}", opt=RIGHTS_HOLDERS)
    async def work(self, conn: asyncpg.Connection, caller: Principal, work_id: UUID) -> Work:
        return await service.work(conn, caller, work_id)

    @get("/parties", opt=RIGHTS_HOLDERS)
    async def parties(
        self, conn: asyncpg.Connection, caller: Principal, name: Filter = None, kind: PartyKind | None = None,
        identifier: Filter = None, limit: Limit = 100, offset: Offset = 0,
    ) -> list[Party]:  # fmt: skip
        """`identifier` as SCHEME:value, e.g. IPI:00012345678 or DPID:PADPIDA2013042401U."""
        return await service.parties(conn, caller, name=name, kind=kind, identifier=identifier,
                                     page=service.Page(limit=limit, offset=offset))  # fmt: skip

    @get("/shares", opt=RIGHTS_HOLDERS)
    async def shares(
        self, conn: asyncpg.Connection, caller: Principal, subject_id: UUID | None = None,
        party_id: UUID | None = None, right: Right | None = None, limit: Limit = 100, offset: Offset = 0,
    ) -> list[ControlEdge]:  # fmt: skip
        return await service.shares(conn, caller, subject_id=subject_id, party_id=party_id, right=right,
                                    page=service.Page(limit=limit, offset=offset))  # fmt: skip


class ImportHistoryController(Controller):
    """Your organisation's accepted imports, newest first, each with its report."""

    path = "/api/rights/imports"
    tags: Sequence[str] | None = ("rights",)

    @get("/", opt=RIGHTS_HOLDERS)
    async def history(
        self, conn: asyncpg.Connection, caller: Principal, source: ImportSource | None = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> list[ImportRecord]:  # fmt: skip
        return await service.import_history(conn, caller, source=source.value if source else None,
                                            page=service.Page(limit=limit, offset=offset))  # fmt: skip

    @get("/{import_id:uuid}", opt=RIGHTS_HOLDERS)
    async def one(self, conn: asyncpg.Connection, caller: Principal, import_id: UUID) -> ImportRecord:
        return await service.import_record(conn, caller, import_id)


class ClaimsController(Controller):
    """Shares other organisations' imports claim on your recordings and works: they count once you accept."""

    path = "/api/rights/claims"
    tags: Sequence[str] | None = ("rights",)

    @get("/", opt=RIGHTS_HOLDERS)
    async def claims(
        self, conn: asyncpg.Connection, caller: Principal, status: ClaimStatus | None = ClaimStatus.PENDING,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[DisputedClaim]:  # fmt: skip
        return await service.disputed_claims(conn, caller, status=status, limit=limit)

    @post("/{claim_id:uuid}/accept", status_code=HTTP_200_OK, opt=RIGHTS_HOLDERS)
    async def accept(self, conn: asyncpg.Connection, caller: Principal, claim_id: UUID) -> DisputedClaim:
        """The claimed share is written as if you had recorded it (409 when it would pass 100 %)."""
        return await service.decide_claim(conn, caller, claim_id, accept=True, now=datetime.now(UTC))

    @post("/{claim_id:uuid}/reject", status_code=HTTP_200_OK, opt=RIGHTS_HOLDERS)
    async def reject(self, conn: asyncpg.Connection, caller: Principal, claim_id: UUID) -> DisputedClaim:
        return await service.decide_claim(conn, caller, claim_id, accept=False, now=datetime.now(UTC))


route_handlers: list[ControllerRouterHandler] = [
    CatalogueController,
    RightsController,
    HoldingsController,
    ImportHistoryController,
    ClaimsController,
]
