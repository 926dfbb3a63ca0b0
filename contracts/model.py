"""The nouns of agreed licences: a deal struck by a round's close or an accepted negotiation."""

from __future__ import annotations

import enum
from datetime import date, datetime
from uuid import UUID

import msgspec

from rights.terms import Money, Usage


class DealSource(enum.StrEnum):
    """What agreed the deal: a closed round's winner, or a negotiation both parties accepted."""

    ROUND = "round"
    NEGOTIATION = "negotiation"


class DealState(enum.StrEnum):
    PENDING = "pending"


class Deal(msgspec.Struct, frozen=True, kw_only=True):
    """A licence of `track_id` for `usage` from `seller` to `buyer` at `price`, awaiting settlement."""

    id: UUID
    source: DealSource
    source_id: UUID
    track_id: UUID
    seller: UUID
    buyer: UUID
    price: Money
    usage: Usage
    state: DealState
    created_at: datetime


# Licences: the terms as signed, and the licence issued on them (contracts.terms_document, contracts.licences)


class Share(msgspec.Struct, frozen=True, kw_only=True):
    """One rights holder's cleared share, in basis points of the whole fee."""

    party_id: UUID
    party_name: str
    organisation_id: UUID | None
    side: str
    territory: str
    share_bps: int


class Term(msgspec.Struct, frozen=True, kw_only=True):
    """The licence runs from `start` to `end`, both days included."""

    start: date
    end: date
    months: int


class Mechanism(msgspec.Struct, frozen=True, kw_only=True):
    """What agreed the price: a round, a negotiation or a quote, and which one."""

    source: str
    source_id: UUID


class AgreedTerms(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    deal_id: UUID
    licensor_organisation_id: UUID
    licensee_organisation_id: UUID
    track_id: UUID
    shares: tuple[Share, ...]
    media: str
    territories: tuple[str, ...]
    term: Term
    exclusive: bool
    fee: Money
    mechanism: Mechanism


class NamedParty(msgspec.Struct, frozen=True, kw_only=True):
    organisation_id: UUID
    name: str


class TrackIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The licensed track as people and registries name it."""

    id: UUID
    title: str
    artist: str
    isrc: str | None
    iswc: str | None


class LicenceTerms(msgspec.Struct, frozen=True, kw_only=True):
    licence_id: UUID
    agreed: AgreedTerms
    agreed_terms_sha256: str
    licensor: NamedParty
    licensee: NamedParty
    track: TrackIdentity
    payment_reference: str | None


class LicenceStatus(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"  # the deal was refunded


class Licence(msgspec.Struct, frozen=True, kw_only=True):
    """A licence issued on a paid deal: its terms, and the certificate (a compact JWS) that attests them.

    `version` grows when the certificate is re-issued (say, with new allow-listed channels); the
    terms never change.
    """

    id: UUID
    deal_id: UUID
    status: LicenceStatus
    version: int
    terms: LicenceTerms
    terms_sha256: str
    audio_sha256: str | None
    allow_list: tuple[str, ...]
    certificate: str
    key_id: str
    issued_at: datetime
    revoked_at: datetime | None = None


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """What anyone may learn about a licence: whether it stands, its terms, and the signature check."""

    licence_id: UUID
    status: LicenceStatus
    signature_valid: bool
    signature_problem: str | None
    key_id: str
    jwks_url: str
    issued_at: datetime
    revoked_at: datetime | None
    terms: LicenceTerms
    terms_sha256: str
    audio_sha256: str | None
    allow_list: tuple[str, ...]
    certificate: str


class AllowList(msgspec.Struct, frozen=True, kw_only=True):
    """Channel or page URLs the licensee names, so content-ID claims on them can be released."""

    urls: tuple[str, ...]


class DownloadFile(enum.StrEnum):
    AUDIO = "audio"
    AGREEMENT = "agreement"


class DownloadLink(msgspec.Struct, frozen=True, kw_only=True):
    file: DownloadFile
    url: str
    expires_at: datetime
