"""The nouns of settlement: deals, their payees, consent requests, quotes and payout lines."""

from __future__ import annotations

import enum
from datetime import date, datetime
from uuid import UUID

import msgspec

from rights.identity import Principal
from rights.pricing import PriceLine
from rights.terms import Money, Usage

FULL_SHARE_BPS = 10_000


class SettlementTerms(msgspec.Struct, frozen=True, kw_only=True):
    """The marketplace's settlement settings (environment variables in brackets).

    `platform_fee_bps` (PLATFORM_FEE_BPS) of each fee goes to the platform; the rest is split
    between the master and the publishing side, `master_share_bps` (MASTER_SHARE_BPS) to the
    master. Co-owners have `consent_hours` (CONSENT_HOURS) to answer, buyers `payment_hours`
    (PAYMENT_HOURS) to pay, and a quote stands for `quote_minutes`; demand for dynamic prices is
    counted over the last `demand_days`.
    """

    platform_fee_bps: int = 1_500
    master_share_bps: int = 5_000
    consent_hours: int = 48
    payment_hours: int = 72
    quote_minutes: int = 15
    demand_days: int = 30

    def __post_init__(self) -> None:
        for name in ("platform_fee_bps", "master_share_bps"):
            if not 0 <= getattr(self, name) <= FULL_SHARE_BPS:
                raise ValueError(f"{name} must be between 0 and 10,000 basis points")
        for name in ("consent_hours", "payment_hours", "quote_minutes", "demand_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


class DealSource(enum.StrEnum):
    """What agreed the deal: a closed round's winner, an accepted negotiation, or an accepted quote."""

    ROUND = "round"
    NEGOTIATION = "negotiation"
    QUOTE = "quote"


class DealState(enum.StrEnum):
    """Where a deal is in its life: awaiting_consent → awaiting_payment → paid → licensed, or an end."""

    AWAITING_CONSENT = "awaiting_consent"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    LICENSED = "licensed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class DealEvent(enum.StrEnum):
    """What can happen to a deal; `contracts.deals.transition` says which state each one leads to."""

    CONSENTED = "consented"  # the last co-owner still asked approved
    DECLINED = "declined"  # a co-owner declined
    CONSENT_TIMED_OUT = "consent_timed_out"  # a co-owner did not answer before the deadline
    PAYMENT_RECEIVED = "payment_received"
    PAYMENT_TIMED_OUT = "payment_timed_out"  # unpaid after the payment deadline
    LICENCE_ISSUED = "licence_issued"
    REFUNDED = "refunded"


class Side(enum.StrEnum):
    MASTER = "master"
    PUBLISHING = "publishing"


class Payee(msgspec.Struct, frozen=True, kw_only=True):
    """One rights holder's cut of a deal's fee, as it stood when the deal was made.

    `share_bps` is basis points of the whole fee: the payees of one deal sum to 10,000.
    `organisation_id` is None for a party that is not a marketplace member (its share waits).
    """

    organisation_id: UUID | None
    party_id: UUID
    party_name: str
    side: str
    territory: str
    share_bps: int


class ConsentStatus(enum.StrEnum):
    BY_POLICY = "by_policy"  # the co-owner's own policy already covers this deal
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"


class ConsentDecision(enum.StrEnum):
    """What an asked co-owner answers."""

    APPROVE = "approve"
    DECLINE = "decline"


class Deal(msgspec.Struct, frozen=True, kw_only=True):
    """A licence of `track_id` for `usage` from `seller` to `buyer` at `price`, and where it stands."""

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
    payees: tuple[Payee, ...] = ()
    payment_due_at: datetime | None = None
    consent_due_at: datetime | None = None
    payment_reference: str | None = None

    def organisations(self) -> frozenset[UUID]:
        """Every organisation party to the deal: buyer, seller and each payee that is a member."""
        payee_orgs = {p.organisation_id for p in self.payees if p.organisation_id is not None}
        return frozenset({self.buyer, self.seller, *payee_orgs})

    def is_read_by(self, caller: Principal) -> bool:
        """The one rule for reading a deal: the caller acts for its buyer, its seller or one of its payees."""
        return any(caller.acts_for(organisation) for organisation in self.organisations())


class ConsentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A co-owner's answer (or the wait for it) to a deal its policy does not already cover."""

    id: UUID
    deal_id: UUID
    party_id: UUID
    party_name: str
    organisation_id: UUID | None
    status: ConsentStatus
    reason: str
    due_at: datetime | None
    answered_at: datetime | None = None


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """A price offered to a buyer for a usage, valid until `expires_at`; accepting it makes a deal."""

    id: UUID
    track_id: UUID
    buyer: UUID
    usage: Usage
    price: Money
    breakdown: tuple[PriceLine, ...]
    dynamic: bool
    policy_fingerprint: str
    created_at: datetime
    expires_at: datetime
    deal_id: UUID | None = None


class PayoutLine(msgspec.Struct, frozen=True, kw_only=True):
    """An amount of a deal's fee owed to one party (`party_id` None and no organisation: the platform)."""

    organisation_id: UUID | None
    party_id: UUID | None
    amount: int


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


class HoldSource(enum.StrEnum):
    """What holds a usage of a track: a live sale, or the deal one made."""

    ROUND = "round"
    NEGOTIATION = "negotiation"
    QUOTE = "quote"
    SALE = "sale"  # a fixed-price sale
    DEAL = "deal"


class UsageHold(msgspec.Struct, frozen=True, kw_only=True):
    """A usage of a track reserved by a live sale or a deal."""

    id: UUID
    track_id: UUID
    usage: Usage
    source: HoldSource
    source_id: UUID
    created_at: datetime
