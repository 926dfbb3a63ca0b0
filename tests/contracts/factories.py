"""Plain builders for licence tests: a paid deal and the terms it is licensed on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from contracts.model import Deal, DealSource, DealState, LicenceTerms, NamedParty, Payee, TrackIdentity
from contracts.terms_document import licence_terms
from rights.terms import Media, Money, Usage

SELLER = UUID(int=1)
BUYER = UUID(int=2)
TRACK = UUID(int=3)
PAID_AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
PAYEES = (
    Payee(organisation_id=SELLER, party_id=UUID(int=10), party_name="Zoë Records", side="master",
          territory="WORLD", share_bps=5_000),
    Payee(organisation_id=None, party_id=UUID(int=11), party_name="Harbour Songs €uro", side="publishing",
          territory="WORLD", share_bps=3_000),
    Payee(organisation_id=UUID(int=4), party_id=UUID(int=12), party_name="Ingrid Lyrics", side="publishing",
          territory="WORLD", share_bps=2_000),
)  # fmt: skip


def paid_deal(**changes: Any) -> Deal:
    deal = Deal(
        id=UUID(int=100), source=DealSource.QUOTE, source_id=UUID(int=200), track_id=TRACK, seller=SELLER,
        buyer=BUYER, price=Money(123_450, "EUR"),
        usage=Usage(media=Media.ONLINE_ADS, territories=("DE", "FR"), term_months=12, start=date(2027, 1, 31)),
        state=DealState.PAID, created_at=PAID_AT, payees=PAYEES, payment_reference="pi_3Qabc",
    )  # fmt: skip
    return msgspec.structs.replace(deal, **changes)


def terms_of(deal: Deal, licence_id: UUID | None = None) -> LicenceTerms:
    return licence_terms(
        deal, licence_id=licence_id or uuid4(),
        licensor=NamedParty(organisation_id=deal.seller, name="Zoë Records"),
        licensee=NamedParty(organisation_id=deal.buyer, name="Brightside Agency"),
        track=TrackIdentity(id=deal.track_id, title="Night Drive", artist="Zoë", isrc="GBAYE2600123",
                            iswc="T-345.246.800-1"),
    )  # fmt: skip
