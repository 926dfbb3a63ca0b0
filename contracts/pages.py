"""Licence pages: the public verification page and the agreement for the parties."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from litestar import get
from litestar.response import Template

from contracts import licences
from contracts.api import LICENCE_CHECKS
from contracts.model import LicenceStatus
from rights.identity import Principal


@get("/licences/{licence_id:uuid}/verify", include_in_schema=False, opt=LICENCE_CHECKS)
async def verify_page(conn: asyncpg.Connection, licence_id: UUID) -> Template:
    """Anyone — a video platform, a client's lawyer — sees whether the licence stands and its terms."""
    checked = await licences.verify_licence(conn, licence_id)
    return Template(
        "contracts/verify.html",
        context={
            "check": checked,
            "agreement": licences.agreement_for(checked),
            "valid": checked.status is LicenceStatus.VALID and checked.signature_valid,
        },
    )


@get("/deals/{deal_id:uuid}/agreement", include_in_schema=False)
async def agreement_page(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Template:
    found, document = await licences.agreement_of_deal(conn, caller, deal_id)
    is_licensee = caller.acts_for(found.terms.agreed.licensee_organisation_id)
    return Template(
        "contracts/agreement.html",
        context={"licence": found, "agreement": document, "is_licensee": is_licensee},
    )


page_handlers = [verify_page, agreement_page]
