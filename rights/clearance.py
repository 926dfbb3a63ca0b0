"""Can this track be licensed for this use now? Ownership per side and territory, splits, conflicts, policies.

Pure functions over a `TrackRights` snapshot. The answer is one of clearable now (with the mechanisms
and price range that apply), needs a manual request, or blocked, always with reasons a person
understands. Gaps and overlaps in the splits are reported, never guessed away.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from uuid import UUID

import msgspec

from rights.model import (
    FULL_SHARE_BP,
    AdministrationEdge,
    ControlEdge,
    LicensingPolicy,
    Mechanism,
    Period,
    Right,
    TrackRights,
)
from rights.pricing import NotListed, list_price
from rights.terms import Money, RateCard, Usage
from rights.territories import COUNTRIES, TerritoryScope, describe, resolve

_DAY = timedelta(days=1)


class Outcome(enum.StrEnum):
    CLEARABLE_NOW = "clearable_now"
    NEEDS_MANUAL_REQUEST = "needs_manual_request"
    BLOCKED = "blocked"


class Holding(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """One owner's share of a side in some territories, and who licenses it after administration."""

    party_id: UUID
    party_name: str
    share_bp: int
    administrators: tuple[UUID, ...]
    controller_id: UUID
    controller_name: str


class OwnershipSlice(msgspec.Struct, frozen=True, kw_only=True):
    """The owners of one side in a set of countries during one period; `total_bp` should be 10,000."""

    right: Right
    countries: tuple[str, ...]
    territory: str
    period: Period
    holdings: tuple[Holding, ...]
    total_bp: int


class SplitProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A gap, overlap or broken administration chain in the splits of one side."""

    right: Right
    kind: str
    countries: tuple[str, ...]
    message: str


class Ownership(msgspec.Struct, frozen=True, kw_only=True):
    slices: tuple[OwnershipSlice, ...]
    problems: tuple[SplitProblem, ...]


class PriceRange(msgspec.Struct, frozen=True, kw_only=True):
    """What the licence may cost: `low` sums each side's highest floor, `high` its lowest ceiling."""

    low: Money
    high: Money | None
    list_price: Money | None
    auto_accept: Money | None


class Clearance(msgspec.Struct, frozen=True, kw_only=True):
    track_id: UUID
    outcome: Outcome
    reasons: tuple[str, ...]
    mechanisms: tuple[Mechanism, ...] = ()
    price: PriceRange | None = None
    negotiation_window_hours: int | None = None
    ownership: tuple[OwnershipSlice, ...] = ()


def percent(basis_points: int) -> str:
    """2500 → '25 %', 3333 → '33.33 %'."""
    whole, rest = divmod(basis_points, 100)
    return f"{whole} %" if rest == 0 else f"{basis_points / 100:.2f}".rstrip("0") + " %"


def _where(countries: Iterable[str]) -> str:
    text = describe(countries)
    return text if text.startswith("worldwide") else f"in {text}"


def _listed(card: RateCard, usage: Usage) -> Money | None:
    try:
        return list_price(card, usage).price
    except NotListed:
        return None


def _segments(period: Period, rights: TrackRights) -> list[Period]:
    """`period` cut wherever a control or administration edge starts or ends inside it."""
    cuts: set[date] = set()
    for edge_period in [e.period for e in rights.control] + [a.period for a in rights.administration]:
        if period.start < edge_period.start and (period.end is None or edge_period.start <= period.end):
            cuts.add(edge_period.start)
        end = edge_period.end
        if end is not None and end >= period.start and (period.end is None or end < period.end):
            cuts.add(end + _DAY)
    starts = [period.start, *sorted(cuts)]
    ends: list[date | None] = [s - _DAY for s in starts[1:]]
    ends.append(period.end)
    return [Period(start=s, end=e) for s, e in zip(starts, ends, strict=True)]


class _Chain(msgspec.Struct, frozen=True):
    administrators: tuple[UUID, ...]
    problem: str | None


def _administration_chain(
    rights: TrackRights, right: Right, owner_id: UUID, subject_id: UUID, admins: Sequence[AdministrationEdge]
) -> _Chain:
    """Follow who administers whom from the owner to the party that actually licenses the share.

    `admins` are the edges in force in one territory and period. An edge for this very work or
    recording overrides a catalogue-wide one.
    """
    chain: list[UUID] = []
    current = owner_id
    while True:
        candidates = [
            a for a in admins if a.administered_id == current and a.subject_id in (None, subject_id)
        ]
        candidates = [a for a in candidates if a.subject_id == subject_id] or candidates
        administrators = sorted({a.administrator_id for a in candidates}, key=rights.party_name)
        if not administrators:
            return _Chain(tuple(chain), None)
        if len(administrators) > 1:
            names = " and ".join(rights.party_name(a) for a in administrators)
            return _Chain(
                tuple(chain),
                f"{rights.party_name(current)}'s share of the {right} is administered by both {names}",
            )
        following = administrators[0]
        if following == owner_id or following in chain:
            return _Chain(
                tuple(chain),
                f"the administration of {rights.party_name(owner_id)}'s share of the {right} loops back to "
                f"{rights.party_name(following)}",
            )
        chain.append(following)
        current = following


def _side_subject(rights: TrackRights, right: Right) -> UUID | None:
    if right is Right.MASTER:
        return rights.recording.id if rights.recording else None
    return rights.work.id if rights.work else None


def _side_slices(
    rights: TrackRights, right: Right, countries: frozenset[str], segment: Period
) -> tuple[list[OwnershipSlice], dict[str, set[str]]]:
    """The slices of one side in one segment (countries grouped by identical holdings) and chain problems."""
    subject_id = _side_subject(rights, right)
    edges: list[ControlEdge] = [
        e
        for e in rights.control
        if e.right is right and e.subject_id == subject_id and e.period.overlaps(segment)
    ]
    admins = [a for a in rights.administration if a.period.overlaps(segment)]
    scope_countries: dict[TerritoryScope, frozenset[str]] = {}
    for scope in [e.territories for e in edges] + [a.territories for a in admins]:
        if scope not in scope_countries:
            scope_countries[scope] = scope.countries()
    # Countries in which the same edges apply get the same answer: compute it once per signature.
    signatures: dict[tuple[tuple[int, ...], tuple[int, ...]], list[str]] = defaultdict(list)
    for country in sorted(countries):
        signature = (
            tuple(i for i, e in enumerate(edges) if country in scope_countries[e.territories]),
            tuple(i for i, a in enumerate(admins) if country in scope_countries[a.territories]),
        )
        signatures[signature].append(country)
    by_holdings: dict[tuple[Holding, ...], list[str]] = defaultdict(list)
    problems: dict[str, set[str]] = defaultdict(set)
    for (edge_indices, admin_indices), group in signatures.items():
        in_force = [admins[i] for i in admin_indices]
        holdings = []
        for i in edge_indices:
            edge = edges[i]
            chain = _administration_chain(rights, right, edge.party_id, edge.subject_id, in_force)
            if chain.problem:
                problems[chain.problem].update(group)
            controller = chain.administrators[-1] if chain.administrators else edge.party_id
            holdings.append(
                Holding(
                    party_id=edge.party_id,
                    party_name=rights.party_name(edge.party_id),
                    share_bp=edge.share_bp,
                    administrators=chain.administrators,
                    controller_id=controller,
                    controller_name=rights.party_name(controller),
                )
            )
        holdings.sort(key=lambda h: (-h.share_bp, h.party_name, h.party_id))
        by_holdings[tuple(holdings)].extend(group)
    slices = [
        OwnershipSlice(
            right=right,
            countries=tuple(sorted(group)),
            territory=describe(group),
            period=segment,
            holdings=holdings,
            total_bp=sum(h.share_bp for h in holdings),
        )
        for holdings, group in by_holdings.items()
    ]
    return slices, problems


def _merge_segments(slices_by_segment: list[list[OwnershipSlice]]) -> list[OwnershipSlice]:
    """Join consecutive segments whose picture is the same, so only real changes of hands remain."""
    merged: list[list[OwnershipSlice]] = []
    for slices in slices_by_segment:
        if merged and _same_picture(merged[-1], slices):
            last = merged[-1]
            end = slices[0].period.end if slices else None
            merged[-1] = [
                msgspec.structs.replace(s, period=Period(start=s.period.start, end=end)) for s in last
            ]
        else:
            merged.append(slices)
    return [s for slices in merged for s in slices]


def _same_picture(a: list[OwnershipSlice], b: list[OwnershipSlice]) -> bool:
    return {(s.countries, s.holdings) for s in a} == {(s.countries, s.holdings) for s in b}


def ownership(rights: TrackRights, countries: frozenset[str], period: Period) -> Ownership:
    """Each side's owners and controllers per territory and period, with every gap, overlap and fault."""
    slices: list[OwnershipSlice] = []
    problems: list[SplitProblem] = []
    for right in Right:
        per_segment: list[list[OwnershipSlice]] = []
        chain_problems: dict[str, set[str]] = defaultdict(set)
        for segment in _segments(period, rights):
            segment_slices, segment_problems = _side_slices(rights, right, countries, segment)
            per_segment.append(segment_slices)
            for message, group in segment_problems.items():
                chain_problems[message] |= group
        side = _merge_segments(per_segment)
        slices.extend(side)
        problems.extend(
            SplitProblem(right=right, kind="administration", countries=tuple(sorted(group)),
                         message=f"{message} {_where(group)}")
            for message, group in chain_problems.items()
        )  # fmt: skip
        problems.extend(_sum_problems(side, whole_period=period))
    return Ownership(slices=tuple(slices), problems=tuple(problems))


def _sum_problems(side: Sequence[OwnershipSlice], whole_period: Period) -> list[SplitProblem]:
    """Gaps (under 10,000 bp) and overlaps (over 10,000 bp), one message per distinct finding."""
    grouped: dict[tuple[str, Period, int, tuple[Holding, ...]], set[str]] = defaultdict(set)
    for s in side:
        if s.total_bp < FULL_SHARE_BP:
            grouped[("gap", s.period, s.total_bp, ())] |= set(s.countries)
        elif s.total_bp > FULL_SHARE_BP:
            grouped[("overlap", s.period, s.total_bp, s.holdings)] |= set(s.countries)
    problems = []
    for (kind, period, total, holdings), group in grouped.items():
        right = side[0].right
        when = "" if period == whole_period else f" {period.describe()}"
        if kind == "gap":
            message = (
                f"{percent(FULL_SHARE_BP - total)} of the {right} {_where(group)}{when} has no known owner"
            )
        else:
            claims = ", ".join(f"{h.party_name} {percent(h.share_bp)}" for h in holdings)
            message = f"claims on the {right} {_where(group)}{when} add up to {percent(total)} ({claims})"
        problems.append(SplitProblem(right=right, kind=kind, countries=tuple(sorted(group)), message=message))
    return problems


def split_problems(
    rights: TrackRights, period: Period, countries: frozenset[str] = COUNTRIES
) -> list[SplitProblem]:
    """Every gap, overlap and broken administration chain of a track's splits."""
    return list(ownership(rights, countries, period).problems)


def policy_for(party_id: UUID, track_id: UUID, policies: Iterable[LicensingPolicy]) -> LicensingPolicy | None:
    """The party's policy for this track, else its catalogue-wide policy."""
    catalogue = None
    for policy in policies:
        if policy.party_id == party_id and policy.track_id == track_id:
            return policy
        if policy.party_id == party_id and policy.track_id is None:
            catalogue = policy
    return catalogue


def _licence_conflicts(
    rights: TrackRights, usage: Usage, countries: frozenset[str], period: Period
) -> list[str]:
    reasons = []
    for licence in rights.licences:
        if licence.media is not usage.media or not licence.period.overlaps(period):
            continue
        common = licence.territories.countries() & countries
        if not common:
            continue
        until = f"until {licence.period.end}" if licence.period.end else "with no end date"
        if licence.exclusive:
            reasons.append(f"an exclusive {usage.media} licence covers {describe(common)} {until}")
        elif usage.exclusive:
            reasons.append(
                f"{'an' if usage.media[0] in 'aeiou' else 'a'} {usage.media} licence already covers "
                f"{describe(common)} {until}, "
                "so an exclusive one cannot be granted there"
            )
    return reasons


class _Terms(msgspec.Struct, frozen=True, kw_only=True):
    mechanisms: tuple[Mechanism, ...]
    price: PriceRange | None
    negotiation_window_hours: int | None
    manual: tuple[str, ...]
    notes: tuple[str, ...]


def _weights(slices: Sequence[OwnershipSlice], n_countries: int) -> dict[Right, dict[UUID, int]]:
    """Each controller's share of each side, averaged over the requested countries."""
    weighted: dict[Right, dict[UUID, int]] = {right: defaultdict(int) for right in Right}
    for s in slices:
        for h in s.holdings:
            weighted[s.right][h.controller_id] += h.share_bp * len(s.countries)
    return {right: {c: total // n_countries for c, total in by.items()} for right, by in weighted.items()}


def _terms(rights: TrackRights, usage: Usage, slices: Sequence[OwnershipSlice], n_countries: int) -> _Terms:
    """Mechanisms and prices every controller agrees to, or the reasons a person has to step in."""
    weights = _weights(slices, n_countries)
    controllers = sorted({c for by in weights.values() for c in by}, key=rights.party_name)
    manual: list[str] = []
    notes: list[str] = []
    policies: dict[UUID, LicensingPolicy] = {}
    for controller in controllers:
        name = rights.party_name(controller)
        policy = policy_for(controller, rights.track_id, rights.policies)
        if policy is None:
            manual.append(f"{name} has not set a licensing policy")
        elif usage.media not in policy.automated_media:
            manual.append(f"{name} has not opted in to automated licensing for {usage.media}")
        elif not policy.mechanisms.get(usage.media):
            manual.append(f"{name} enables no licensing mechanism for {usage.media}")
        else:
            policies[controller] = policy
    if manual:
        return _Terms(
            mechanisms=(), price=None, negotiation_window_hours=None, manual=tuple(manual), notes=()
        )

    common = [m for m in Mechanism if all(m in p.mechanisms[usage.media] for p in policies.values())]
    if not common:
        offers = "; ".join(
            f"{rights.party_name(c)} offers {', '.join(p.mechanisms[usage.media])}"
            for c, p in policies.items()
        )
        manual.append(f"the rights holders have no licensing mechanism for {usage.media} in common: {offers}")
    currencies = sorted({cur for p in policies.values() if (cur := p.currency())})
    if len(currencies) > 1:
        manual.append(f"the rights holders price in {' and '.join(currencies)}, so a person has to agree one")
    if manual or not currencies:
        window = max(p.negotiation_window_hours for p in policies.values())
        return _Terms(
            mechanisms=tuple(common) if not manual else (),
            price=None,
            negotiation_window_hours=window if Mechanism.NEGOTIATION in common and not manual else None,
            manual=tuple(manual),
            notes=(),
        )

    currency = currencies[0]
    low = high = listed = auto = 0
    high_known = listed_known = auto_known = True
    for right, by in weights.items():
        side = {c: policies[c] for c in by}
        floors = [(p.floor, c) for c, p in side.items() if p.floor]
        ceilings = [(p.ceiling, c) for c, p in side.items() if p.ceiling]
        top_floor = max(floors, key=lambda fc: fc[0].amount, default=None)
        low_ceiling = min(ceilings, key=lambda fc: fc[0].amount, default=None)
        if top_floor and low_ceiling and top_floor[0] > low_ceiling[0]:
            manual.append(
                f"{rights.party_name(top_floor[1])}'s floor of {top_floor[0].display()} for the {right} "
                f"is above {rights.party_name(low_ceiling[1])}'s ceiling of {low_ceiling[0].display()}"
            )
        low += top_floor[0].amount if top_floor else 0
        if low_ceiling:
            high += low_ceiling[0].amount
        else:
            high_known = False
        prices = {c: _listed(p.rate_card, usage) if p.rate_card else None for c, p in side.items()}
        for c, card_price in prices.items():
            if card_price is None:
                listed_known = False
                notes.append(f"{rights.party_name(c)} has no list price for this {usage.media} use")
            else:
                listed += card_price.scaled_bp(by[c]).amount
        autos = [p.auto_accept.amount for p in side.values() if p.auto_accept]
        if len(autos) == len(side):
            auto += max(autos)
        else:
            auto_known = False

    price = PriceRange(
        low=Money(low, currency),
        high=Money(high, currency) if high_known else None,
        list_price=Money(listed, currency) if listed_known else None,
        auto_accept=Money(auto, currency) if auto_known else None,
    )
    if Mechanism.FIXED_PRICE in common:
        outside = price.list_price is not None and (
            price.list_price.amount < low or (price.high is not None and price.list_price.amount > high)
        )
        if price.list_price is None or outside:
            common.remove(Mechanism.FIXED_PRICE)
            if outside:
                notes.append(
                    "the list price falls outside the floors and ceilings, so there is no fixed price"
                )
            if not common:
                manual.append(f"no rights holder mechanism for {usage.media} can run without a list price")
    window = max(p.negotiation_window_hours for p in policies.values())
    return _Terms(
        mechanisms=tuple(common) if not manual else (),
        price=price if not manual else None,
        negotiation_window_hours=window if Mechanism.NEGOTIATION in common and not manual else None,
        manual=tuple(manual),
        notes=tuple(notes),
    )


def clear(rights: TrackRights, usage: Usage) -> Clearance:
    """Whether `usage` of the track can be licensed now, through which mechanisms and at what price."""
    countries = resolve(usage.territories)
    period = Period.for_term(usage.start, usage.term_months)
    picture = ownership(rights, countries, period)
    blocking = [p.message for p in picture.problems]
    blocking.extend(_licence_conflicts(rights, usage, countries, period))
    manual = []
    for right in Right:
        changes = sorted(
            {s.period.start for s in picture.slices if s.right is right and s.period.start > period.start}
        )
        if changes:
            dates = ", ".join(str(d) for d in changes)
            manual.append(f"the {right} changes hands during the licence term (on {dates})")
    terms = None
    # Until ownership is settled it is not known whose policy applies.
    if not blocking and not manual:
        terms = _terms(rights, usage, picture.slices, len(countries))
        manual.extend(terms.manual)
    if blocking or manual:
        return Clearance(
            track_id=rights.track_id,
            outcome=Outcome.BLOCKED if blocking else Outcome.NEEDS_MANUAL_REQUEST,
            reasons=tuple(blocking + manual),
            ownership=picture.slices,
        )
    assert terms is not None
    holders = {h.controller_id for s in picture.slices for h in s.holdings}
    who = f"all {len(holders)} rights holders have" if len(holders) > 1 else "the rights holder has"
    summary = f"{who} opted in to automated licensing for {usage.media} {_where(countries)}"
    return Clearance(
        track_id=rights.track_id,
        outcome=Outcome.CLEARABLE_NOW,
        reasons=(summary, *terms.notes),
        mechanisms=terms.mechanisms,
        price=terms.price,
        negotiation_window_hours=terms.negotiation_window_hours,
        ownership=picture.slices,
    )
