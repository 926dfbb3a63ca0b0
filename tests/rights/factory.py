"""Small builders for rights snapshots, so each test states only what matters to it."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from rights.model import (
    AdministrationEdge,
    ControlEdge,
    GrantedLicence,
    LicensingPolicy,
    Mechanism,
    Party,
    Period,
    Recording,
    Right,
    TrackRights,
    Work,
)
from rights.terms import Media, Money, RateCard, Usage
from rights.territories import TerritoryScope

ALWAYS = Period(start=date(2000, 1, 1))


def party(name: str) -> Party:
    return Party(id=uuid4(), name=name)


def scope(*include: str, exclude: tuple[str, ...] = ()) -> TerritoryScope:
    return TerritoryScope(include=include or ("WORLD",), exclude=exclude)


class Catalogue:
    """One track with a recording and a work; add edges, licences and policies, then snapshot."""

    def __init__(self) -> None:
        self.track_id = uuid4()
        self.work = Work(id=uuid4(), title="Harbour Lights")
        self.recording = Recording(
            id=uuid4(), title="Harbour Lights", work_id=self.work.id, track_id=self.track_id
        )
        self.parties: dict[UUID, Party] = {}
        self.control: list[ControlEdge] = []
        self.administration: list[AdministrationEdge] = []
        self.licences: list[GrantedLicence] = []
        self.policies: list[LicensingPolicy] = []

    def party(self, name: str) -> Party:
        p = party(name)
        self.parties[p.id] = p
        return p

    def owns(
        self, who: Party, right: Right, share_bp: int, territories: TerritoryScope | None = None,
        period: Period = ALWAYS,
    ) -> None:  # fmt: skip
        subject = self.recording.id if right is Right.MASTER else self.work.id
        self.control.append(
            ControlEdge(id=uuid4(), party_id=who.id, subject_id=subject, right=right, share_bp=share_bp,
                        territories=territories or scope(), period=period)
        )  # fmt: skip

    def administers(
        self, administrator: Party, owner: Party, territories: TerritoryScope | None = None,
        subject_id: UUID | None = None, period: Period = ALWAYS,
    ) -> None:  # fmt: skip
        self.administration.append(
            AdministrationEdge(id=uuid4(), administrator_id=administrator.id, administered_id=owner.id,
                               subject_id=subject_id, territories=territories or scope(), period=period)
        )  # fmt: skip

    def licensed(self, media: Media, territories: TerritoryScope, period: Period, exclusive: bool) -> None:
        self.licences.append(
            GrantedLicence(id=uuid4(), recording_id=self.recording.id, licensee="Acme Ads", media=media,
                           territories=territories, period=period, exclusive=exclusive)
        )  # fmt: skip

    def opts_in(self, who: Party, *mechanisms: Mechanism, **terms: object) -> LicensingPolicy:
        mechs = mechanisms or (Mechanism.FIXED_PRICE, Mechanism.VICKREY, Mechanism.NEGOTIATION)
        policy = LicensingPolicy(
            id=uuid4(),
            party_id=who.id,
            mechanisms={m: mechs for m in Media},
            automated_media=frozenset(Media),
            **terms,  # type: ignore[arg-type]
        )
        self.policies.append(policy)
        return policy

    def rights(self) -> TrackRights:
        return TrackRights(
            track_id=self.track_id, recording=self.recording, work=self.work, parties=dict(self.parties),
            control=tuple(self.control), administration=tuple(self.administration),
            licences=tuple(self.licences), policies=tuple(self.policies),
        )  # fmt: skip


def card(base: int = 100_000, currency: str = "EUR") -> RateCard:
    return RateCard(base=Money(base, currency), media_bp={m: 10_000 for m in Media})


def usage(
    *territories: str, media: Media = Media.ONLINE_ADS, exclusive: bool = False, months: int = 12
) -> Usage:
    return Usage(media=media, territories=territories or ("WORLD",), term_months=months, exclusive=exclusive,
                 start=date(2026, 1, 1))  # fmt: skip
