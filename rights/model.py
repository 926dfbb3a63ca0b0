"""The rights graph's nouns: parties, works, recordings, who controls them, licences and policies."""

from __future__ import annotations

import calendar
import enum
from datetime import date, datetime, timedelta
from uuid import UUID

import msgspec

from rights.terms import Media, Money, RateCard, TermsError
from rights.territories import TerritoryScope

FULL_SHARE_BP = 10_000


class RightsError(ValueError):
    """A rights record that cannot be stored as given; the message says what to fix."""


class PartyKind(enum.StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class Right(enum.StrEnum):
    """The two sides of a sync licence: the recording (master) and the composition (publishing)."""

    MASTER = "master"
    PUBLISHING = "publishing"


class ImportSource(enum.StrEnum):
    SPLIT_SHEET = "split_sheet"
    DDEX = "ddex"
    CWR = "cwr"


class Mechanism(enum.StrEnum):
    """How a licence may be priced: at list price, by auction, or by negotiation."""

    FIXED_PRICE = "fixed_price"
    SEALED_FIRST_PRICE = "sealed_first_price"
    VICKREY = "vickrey"
    DESCENDING_CLOCK = "descending_clock"
    NEGOTIATION = "negotiation"


class Period(msgspec.Struct, frozen=True, kw_only=True):
    """Days from `start` to `end` inclusive; no `end` means open-ended."""

    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise RightsError(f"a period cannot end ({self.end}) before it starts ({self.start})")

    @classmethod
    def for_term(cls, start: date, months: int) -> Period:
        """The period of a licence of `months` starting on `start` (12 from 2026-01-31 end 2027-01-30)."""
        return cls(start=start, end=add_months(start, months) - timedelta(days=1))

    def covers(self, other: Period) -> bool:
        if other.start < self.start:
            return False
        if self.end is None:
            return True
        return other.end is not None and other.end <= self.end

    def overlaps(self, other: Period) -> bool:
        starts_in_time = other.end is None or self.start <= other.end
        return starts_in_time and (self.end is None or other.start <= self.end)

    def describe(self) -> str:
        return f"from {self.start}" + (f" to {self.end}" if self.end else " with no end date")


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """A person or company that owns or administers rights; `organisation_id` links a marketplace member."""

    id: UUID
    name: str
    kind: PartyKind = PartyKind.ORGANISATION
    ipi: str | None = None
    isni: str | None = None
    organisation_id: UUID | None = None
    # Every identifier a file gave, as SCHEME:value (IPI:…, ISNI:…, DPID:…, PROPRIETARY:namespace:…).
    identifiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise RightsError("a party needs a name")


class Work(msgspec.Struct, frozen=True, kw_only=True):
    """A composition: the thing the publishing side controls."""

    id: UUID
    title: str
    iswc: str | None = None
    writer_ids: tuple[UUID, ...] = ()
    organisation_id: UUID | None = None  # the organisation that controls it (registered it first)


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    """A master recording: the thing the master side controls; it embodies a work and is a catalogue track."""

    id: UUID
    title: str
    isrc: str | None = None
    work_id: UUID | None = None
    track_id: UUID | None = None
    organisation_id: UUID | None = None  # the organisation that controls it (its track's owner)
    artist: str = ""
    duration_seconds: int | None = None
    proprietary_id: str | None = None  # the sender's own id (namespace:value), for recordings without ISRC


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    """A recording or work as the ownership rule sees it: what it is and which organisation controls it."""

    id: UUID
    kind: Right  # MASTER: a recording; PUBLISHING: a work
    title: str
    organisation_id: UUID | None

    def describe(self) -> str:
        return f"{'recording' if self.kind is Right.MASTER else 'work'} {self.title!r}"


class ControlEdge(msgspec.Struct, frozen=True, kw_only=True):
    """A party controls `share_bp` of one side of a work or recording, in some territories, for a period."""

    id: UUID
    party_id: UUID
    subject_id: UUID
    right: Right
    share_bp: int
    territories: TerritoryScope = msgspec.field(default_factory=TerritoryScope)
    period: Period

    def __post_init__(self) -> None:
        if isinstance(self.share_bp, bool) or not 0 < self.share_bp <= FULL_SHARE_BP:
            raise RightsError(
                f"a share must be between 1 and {FULL_SHARE_BP} basis points, got {self.share_bp}"
            )


class UnknownShare(msgspec.Struct, frozen=True, kw_only=True):
    """A party controls some unknown part of one side (DDEX RightShareUnknown): never ownership, a gap
    for clearance until its share is known."""

    id: UUID
    party_id: UUID
    subject_id: UUID
    right: Right
    territories: TerritoryScope = msgspec.field(default_factory=TerritoryScope)
    period: Period


class Release(msgspec.Struct, frozen=True, kw_only=True):
    """A product a label delivers (an album, or one track of it) and where and when its deals offer it."""

    id: UUID
    title: str
    kind: str  # "release" or "track_release"
    identifier: str | None = None  # ICPN:…, GRID:… or PROPRIETARY:namespace:…
    recording_ids: tuple[UUID, ...] = ()
    territories: TerritoryScope | None = None  # None: no deal in the message
    period: Period | None = None
    organisation_id: UUID | None = None


class AdministrationEdge(msgspec.Struct, frozen=True, kw_only=True):
    """`administrator_id` licenses `administered_id`'s shares in some territories (sub-publishing).

    `subject_id` limits it to one work or recording; None means every share the party holds.
    """

    id: UUID
    administrator_id: UUID
    administered_id: UUID
    subject_id: UUID | None = None
    territories: TerritoryScope = msgspec.field(default_factory=TerritoryScope)
    period: Period

    def __post_init__(self) -> None:
        if self.administrator_id == self.administered_id:
            raise RightsError("a party cannot administer its own share")


class GrantedLicence(msgspec.Struct, frozen=True, kw_only=True):
    """A licence already granted on a recording: it may stand in the way of a new one."""

    id: UUID
    recording_id: UUID
    licensee: str
    media: Media
    territories: TerritoryScope
    period: Period
    exclusive: bool = False


class LicensingPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a party licenses one track (`track_id`) or its whole catalogue (`track_id` None).

    Prices are for a whole licence of the side the party holds; the party receives its share.
    Automated licensing happens only for `automated_media`. With `dynamic_pricing`, a buy-now quote
    follows demand (`rights.pricing.dynamic_price`) within the floors and ceilings instead of
    standing at the list price.
    """

    id: UUID
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

    def __post_init__(self) -> None:
        prices = [
            m
            for m in (self.rate_card and self.rate_card.base, self.floor, self.ceiling, self.auto_accept)
            if m
        ]
        if len({m.currency for m in prices}) > 1:
            raise TermsError("a policy's rate card, floor, ceiling and auto-accept must share one currency")
        if any(m.amount < 0 for m in prices):
            raise TermsError("prices in a policy cannot be negative")
        if self.floor and self.ceiling and self.floor > self.ceiling:
            raise TermsError(
                f"the floor {self.floor.display()} is above the ceiling {self.ceiling.display()}"
            )
        if not 1 <= self.negotiation_window_hours <= 24 * 30:
            raise TermsError("the negotiation response window must be between 1 hour and 30 days")

    def currency(self) -> str | None:
        prices = (self.rate_card and self.rate_card.base, self.floor, self.ceiling, self.auto_accept)
        return next((m.currency for m in prices if m), None)


class TrackRights(msgspec.Struct, frozen=True, kw_only=True):
    """Everything clearance needs to know about one track, as read from the store in one go."""

    track_id: UUID
    recording: Recording | None
    work: Work | None
    parties: dict[UUID, Party]
    control: tuple[ControlEdge, ...] = ()
    administration: tuple[AdministrationEdge, ...] = ()
    licences: tuple[GrantedLicence, ...] = ()
    policies: tuple[LicensingPolicy, ...] = ()

    def party_name(self, party_id: UUID) -> str:
        party = self.parties.get(party_id)
        return party.name if party else f"party {party_id}"


class Track(msgspec.Struct, frozen=True, kw_only=True):
    """A catalogue entry: what buyers find and license; its recording carries the rights."""

    id: UUID
    owner_organisation_id: UUID
    title: str
    artist: str
    description: str = ""
    created_at: datetime


class ClaimStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class DisputedClaim(msgspec.Struct, frozen=True, kw_only=True):
    """A share an import claims on another organisation's recording or work; it counts only once accepted."""

    id: UUID
    claimant_organisation_id: UUID
    controller_organisation_id: UUID
    subject_id: UUID
    subject_title: str
    share: ControlEdge
    party_name: str
    source: str  # split_sheet or ddex
    status: ClaimStatus = ClaimStatus.PENDING
    created_at: datetime | None = None
    decided_at: datetime | None = None
