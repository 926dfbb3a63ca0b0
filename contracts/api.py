"""Licence endpoints: the public key set, verification for anyone, the licence for its parties,
allow-listed channels and expiring download links for the licensee."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, get, post, put
from litestar.params import Parameter
from litestar.response import File, Response
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from contracts import licences
from contracts.model import AllowList, DownloadLink, Licence, Verification
from rights.identity import Principal

MAX_TOKEN_LENGTH = 200


class AllowListRequest(msgspec.Struct, frozen=True):
    urls: Annotated[list[Annotated[str, msgspec.Meta(max_length=licences.MAX_URL_LENGTH)]],
                    msgspec.Meta(max_length=licences.MAX_ALLOW_LIST)]  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


@get(licences.JWKS_PATH, tags=["licences"], cache=300)
async def jwks() -> Response[dict[str, Any]]:
    """The platform's public signing key(s), for anyone checking a licence certificate."""
    return Response(licences.key_set(), media_type="application/jwk-set+json")


class LicenceController(Controller):
    path = "/api"
    tags: Sequence[str] | None = ("licences",)

    @get("/licences/{licence_id:uuid}/verify")
    async def verify(self, conn: asyncpg.Connection, licence_id: UUID) -> Verification:
        """Valid or revoked, its terms and whether the signature verifies; no sign-in needed."""
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


route_handlers: list[ControllerRouterHandler] = [jwks, LicenceController]
