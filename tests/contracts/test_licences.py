"""Licences through the settlement flow: paying issues a verifiable licence, refunding revokes it."""

from __future__ import annotations

import asyncpg

from contracts import licences, service, store
from contracts.certificate import verify
from contracts.model import LicenceStatus
from tests.contracts.world import NOW, round_deal, world


async def test_payment_issues_a_licence_that_verifies_and_a_refund_revokes_it(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    licensed = await service.record_payment(
        db, deal.id, method="card", reference="pi_L1", amount=deal.price, now=NOW
    )
    issued = await store.licence_of_deal(db, deal.id)
    assert issued is not None
    check = await licences.verify_licence(db, issued.id)
    assert check.status is LicenceStatus.VALID and check.signature_valid
    assert check.terms.payment_reference == "pi_L1" and check.terms.track.isrc == w.isrc
    assert {s.party_name for s in check.terms.agreed.shares} == {"Northern Lights Records", "Harbour Songs"}
    assert check.terms.agreed.mechanism.source == "round"
    # What the chain anchors before payment is what the licence binds after it.
    assert check.terms.agreed_terms_sha256 == licences.terms_hash(deal) == licences.terms_hash(licensed)

    await service.record_refund(db, deal.id, reference="re_L1", now=NOW)
    revoked = await licences.verify_licence(db, issued.id)
    assert revoked.status is LicenceStatus.REVOKED and revoked.revoked_at == NOW


async def test_channels_named_before_payment_are_in_the_certificate_issued_on_it(
    db: asyncpg.Connection,
) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    await licences.set_allow_list(db, w.buyer, deal.id, ["https://www.youtube.com/@brightside"], now=NOW)
    await service.record_payment(db, deal.id, method="card", reference="pi_L2", amount=deal.price, now=NOW)
    issued = await store.licence_of_deal(db, deal.id)
    assert issued is not None and issued.version == 1
    certificate = verify(issued.certificate, licences.key_set())
    assert certificate.allow_list == ("https://www.youtube.com/@brightside",)
