"""The terms of a licence as canonical JSON (RFC 8785): the bytes that are hashed, signed and rendered.

Two layers, because a deal is agreed (and anchored on-chain) before it is paid:
- `AgreedTerms`: what the deal itself fixes — parties, track, the shares cleared, media,
  territories, term, exclusivity, fee and the mechanism that agreed it. `terms_hash(deal)` is its
  SHA-256, known from the moment the deal exists; the chain records these 32 bytes.
- `LicenceTerms`: the agreed terms verbatim, plus who the parties and the track are by name and
  code (ISRC, ISWC) and the payment reference. Its SHA-256 goes into the audit log when the
  licence is issued, and anyone holding the certificate can recompute both hashes.

Every value is a string, an integer, a boolean or null — no floats — so the canonical form is
the same in every language that implements RFC 8785.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import msgspec
import rfc8785

from contracts.model import (
    AgreedTerms,
    Deal,
    LicenceTerms,
    Mechanism,
    NamedParty,
    Share,
    Term,
    TrackIdentity,
)
from rights.model import Period

TERMS_VERSION = 1


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of any msgspec-encodable value."""
    return rfc8785.dumps(msgspec.to_builtins(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def agreed_terms(deal: Deal) -> AgreedTerms:
    usage = deal.usage
    period = Period.for_term(usage.start, usage.term_months)
    assert period.end is not None  # a term of whole months always ends
    shares = sorted(
        (Share(party_id=p.party_id, party_name=p.party_name, organisation_id=p.organisation_id, side=p.side,
               territory=p.territory, share_bps=p.share_bps) for p in deal.payees),
        key=lambda s: (s.side, s.territory, str(s.party_id)),
    )  # fmt: skip
    return AgreedTerms(
        version=TERMS_VERSION, deal_id=deal.id, licensor_organisation_id=deal.seller,
        licensee_organisation_id=deal.buyer, track_id=deal.track_id, shares=tuple(shares),
        media=usage.media.value, territories=usage.territories,
        term=Term(start=usage.start, end=period.end, months=usage.term_months), exclusive=usage.exclusive,
        fee=deal.price, mechanism=Mechanism(source=deal.source.value, source_id=deal.source_id),
    )  # fmt: skip


def terms_hash(deal: Deal) -> str:
    """Hex SHA-256 of the deal's agreed terms in canonical JSON (the chain's `terms_hash`)."""
    return sha256_hex(canonical_json(agreed_terms(deal)))


def licence_terms(
    deal: Deal,
    *,
    licence_id: UUID,
    licensor: NamedParty,
    licensee: NamedParty,
    track: TrackIdentity,
) -> LicenceTerms:
    agreed = agreed_terms(deal)
    return LicenceTerms(
        licence_id=licence_id, agreed=agreed, agreed_terms_sha256=sha256_hex(canonical_json(agreed)),
        licensor=licensor, licensee=licensee, track=track, payment_reference=deal.payment_reference,
    )  # fmt: skip
