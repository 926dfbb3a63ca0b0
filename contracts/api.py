"""Settlement endpoints: quotes and buying now, deals and co-owner consent, earnings and statements;
licences: the public key set, verification for anyone, the licence for its parties, allow-listed
channels and expiring download links for the licensee."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from arq import ArqRedis
from litestar import Controller, get, post, put
from litestar.channels import ChannelsPlugin
from litestar.params import HeaderParameter, Parameter
from litestar.response import File, Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from contracts import licences, service
from contracts.model import AllowList, ConsentDecision, Deal, DownloadLink, Licence, Quote, Verification
from contracts.service import DealView, Earnings, Notifier
from rights.identity import Principal
from rights.pooling import Connect
from rights.terms import CURRENCY_EXPONENTS, Media, Usage

MAX_TOKEN_LENGTH = 200
# Anyone may check a licence, so checks are counted per address (the API and the page alike).
LICENCE_CHECKS = {"rate_limit": "licence_checks"}


class AllowListRequest(msgspec.Struct, frozen=True):
    urls: Annotated[list[Annotated[str, msgspec.Meta(max_length=licences.MAX_URL_LENGTH)]],
                    msgspec.Meta(max_length=licences.MAX_ALLOW_LIST)]  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


@get(licences.JWKS_PATH, tags=["licences"], cache=300, media_type="application/jwk-set+json")
async def jwks() -> Response[dict[str, Any]]:
    """The platform's public signing key(s), for anyone checking a licence certificate."""
    return Response(licences.key_set(), media_type="application/jwk-set+json")


class LicenceController(Controller):
    path = "/api"
    tags: Sequence[str] | None = ("licences",)

    @get("/licences/{licence_id:uuid}/verify", opt=LICENCE_CHECKS)
    async def verify(self, conn: asyncpg.Connection, licence_id: UUID) -> Verification:
        """Valid or revoked, its terms and whether the signature verifies; no sign-in needed, a limited
        number of checks per address (429 beyond, with `Retry-After`)."""
        return await licences.verify_licence(conn, licence_id)

    @get("/licences/{licence_id:uuid}")
    async def licence(self, conn: asyncpg.Connection, caller: Principal, licence_id: UUID) -> Licence:
        """The licence and its certificate (compact JWS), for the organisations party to the deal."""
        return await licences.get_licence(conn, caller, licence_id)

    @put("/deals/{deal_id:uuid}/allow-list")
    async def allow_list(
        self, conn: asyncpg.Connection, caller: Principal, deal_id: UUID, data: AllowListRequest
    ) -> AllowList:
        """Channel or page URLs for content-ID allow-listing; an issued certificate is re-issued with them."""
        return await licences.set_allow_list(conn, caller, deal_id, data.urls, now=_now())

    @post("/deals/{deal_id:uuid}/downloads", status_code=HTTP_200_OK)
    async def download_links(
        self, conn: asyncpg.Connection, caller: Principal, deal_id: UUID
    ) -> list[DownloadLink]:
        """Links valid for ten minutes to the original audio and the agreement PDF (licensee only)."""
        return await licences.download_links(conn, caller, deal_id, now=_now())

    @get("/downloads/{token:str}", media_type="application/octet-stream")
    async def download(
        self, conn: asyncpg.Connection, caller: Principal,
        token: Annotated[str, Parameter(max_length=MAX_TOKEN_LENGTH)],
    ) -> File | Response[bytes]:  # fmt: skip
        """The file a download link names: streamed from disk, never read whole into memory."""
        delivery = await licences.open_download(conn, caller, token, now=_now())
        if delivery.path is not None:
            return File(path=delivery.path, filename=delivery.filename, media_type=delivery.media_type)
        return Response(
            delivery.content or b"", media_type=delivery.media_type,
            headers={"Content-Disposition": f'attachment; filename="{delivery.filename}"'},
        )  # fmt: skip


BUYERS = {"roles": ["buyer"]}
MAX_TERRITORIES = 50
MAX_KEY_LENGTH = 200


class QuoteRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the buyer wants to license; the answer is a price valid for a few minutes."""

    track_id: UUID
    media: Media
    territories: Annotated[tuple[Annotated[str, msgspec.Meta(max_length=40)], ...],
                           msgspec.Meta(min_length=1, max_length=MAX_TERRITORIES)]  # fmt: skip
    term_months: int
    start: date
    exclusive: bool = False

    def usage(self) -> Usage:
        return Usage(media=self.media, territories=self.territories, term_months=self.term_months,
                     exclusive=self.exclusive, start=self.start)  # fmt: skip


def notifier(channels: ChannelsPlugin, jobs: ArqRedis) -> Notifier:
    return Notifier(publish=lambda name, data: channels.wait_published(data, name), jobs=jobs)


class SettlementController(Controller):
    path = "/api"
    tags: Sequence[str] | None = ("deals",)

    @post("/quotes", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def quote(self, conn: asyncpg.Connection, caller: Principal, data: QuoteRequest) -> Quote:
        """The list price (or the dynamic price where the policy asks) with its breakdown, valid 15 minutes."""
        return await service.request_quote(conn, caller, data.track_id, data.usage(), _now())

    @post("/quotes/{quote_id:uuid}/accept", status_code=HTTP_201_CREATED, opt=BUYERS)
    async def accept_quote(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        quote_id: UUID,
        idempotency_key: Annotated[str, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH)],
    ) -> Deal:  # fmt: skip
        """Make the deal. The same Idempotency-Key again answers the same deal; another accept is 409."""
        return await service.accept_quote(
            connect, notifier(channels, jobs), caller, quote_id, idempotency_key=idempotency_key, now=_now()
        )

    @get("/deals")
    async def deals(
        self, conn: asyncpg.Connection, caller: Principal,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50, offset: Annotated[int, Parameter(ge=0, le=2**31 - 1)] = 0,
    ) -> list[Deal]:  # fmt: skip
        """Deals your organisation buys, sells or is paid by, newest first."""
        return await service.deals_for(conn, caller, limit=limit, offset=offset)

    @get("/deals/{deal_id:uuid}")
    async def deal(self, conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> DealView:
        """The deal with each co-owner's consent; only for its buyer, seller and payees."""
        return await service.deal_for(conn, caller, deal_id)

    @post("/deals/{deal_id:uuid}/consent/{decision:str}", status_code=HTTP_200_OK)
    async def answer_consent(
        self, connect: Connect, caller: Principal, channels: ChannelsPlugin, jobs: ArqRedis,
        deal_id: UUID, decision: ConsentDecision,
    ) -> DealView:  # fmt: skip
        """Approve the deal for your organisation's share, or decline it, which cancels it (only an asked
        co-owner's organisation answers)."""
        return await service.answer_consent(
            connect, notifier(channels, jobs), caller, deal_id,
            approve=decision is ConsentDecision.APPROVE, now=_now(),
        )  # fmt: skip

    @get("/earnings")
    async def earnings(
        self, conn: asyncpg.Connection, caller: Principal,
        group_by: Annotated[str, Parameter(max_length=20)] = "track",
    ) -> list[Earnings]:  # fmt: skip
        """Your organisation's earnings (gross, platform fee, net) by track, territory or month."""
        return await service.earnings(conn, caller, group_by)

    @get("/earnings/statement.csv", media_type="text/csv")
    async def statement(self, conn: asyncpg.Connection, caller: Principal) -> Response[str]:
        """Every line you earned: ISRC, territory, media, gross, platform fee, net, deal and payment references."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["isrc", "title", "territory", "side", "media", "currency", "gross", "platform_fee", "net",
                         "deal_id", "payment_reference", "paid_at"])  # fmt: skip
        for line in await service.statement(conn, caller):
            writer.writerow([line.isrc, line.title, line.territory, line.side, line.media, line.currency,
                             _minor(line.gross, line.currency), _minor(line.platform_fee, line.currency),
                             _minor(line.net, line.currency), line.deal_id, line.payment_reference,
                             line.paid_at.isoformat()])  # fmt: skip
        return Response(
            out.getvalue(), media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="earnings-statement.csv"'},
        )  # fmt: skip


def _minor(amount: int, currency: str) -> str:
    """Minor units as a decimal in the currency's own digits (1234 EUR → 12.34)."""
    exponent = CURRENCY_EXPONENTS[currency]
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{minor:0{exponent}d}" if exponent else f"{sign}{whole}"


route_handlers: list[ControllerRouterHandler] = [jwks, LicenceController, SettlementController]
