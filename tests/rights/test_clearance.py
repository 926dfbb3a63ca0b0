from __future__ import annotations

from datetime import date

import msgspec
import pytest

from rights.clearance import Outcome, clear, ownership, percent, split_problems
from rights.model import Mechanism, Period, Right
from rights.terms import Media, Money
from rights.territories import COUNTRIES, TerritoryError
from tests.rights.factory import Catalogue, card, scope, usage

TERM_2026 = Period.for_term(date(2026, 1, 1), 12)


def fully_owned(*, opted_in: bool = True) -> Catalogue:
    cat = Catalogue()
    label, publisher = cat.party("Northern Lights Records"), cat.party("Harbour Songs Publishing")
    cat.owns(label, Right.MASTER, 10_000)
    cat.owns(publisher, Right.PUBLISHING, 10_000)
    if opted_in:
        cat.opts_in(label, rate_card=card(100_000), floor=Money(50_000, "EUR"), ceiling=Money(500_000, "EUR"),
                    auto_accept=Money(200_000, "EUR"))  # fmt: skip
        cat.opts_in(publisher, rate_card=card(80_000), floor=Money(40_000, "EUR"),
                    negotiation_window_hours=48, auto_accept=Money(150_000, "EUR"))  # fmt: skip
    return cat


def test_fully_owned_and_opted_in_track_is_clearable_now() -> None:
    answer = clear(fully_owned().rights(), usage("US"))
    assert answer.outcome is Outcome.CLEARABLE_NOW
    assert answer.mechanisms == (Mechanism.FIXED_PRICE, Mechanism.VICKREY, Mechanism.NEGOTIATION)
    assert answer.reasons == (
        "all 2 rights holders have opted in to automated licensing for online_ads in US",
    )
    assert answer.negotiation_window_hours == 72


def test_price_range_sums_each_sides_floor_and_list_price() -> None:
    price = clear(fully_owned().rights(), usage("US")).price
    assert price is not None
    assert price.low == Money(90_000, "EUR")
    assert price.high is None  # the publisher set no ceiling
    assert price.list_price == Money(180_000, "EUR")
    assert price.auto_accept == Money(350_000, "EUR")


def test_list_price_weights_each_holders_card_by_its_share() -> None:
    cat = Catalogue()
    a, b, pub = cat.party("A"), cat.party("B"), cat.party("P")
    cat.owns(a, Right.MASTER, 7_500)
    cat.owns(b, Right.MASTER, 2_500)
    cat.owns(pub, Right.PUBLISHING, 10_000)
    for who, base in ((a, 100_000), (b, 200_000), (pub, 100_000)):
        cat.opts_in(who, rate_card=card(base))
    price = clear(cat.rights(), usage("DE")).price
    assert price is not None and price.list_price == Money(75_000 + 50_000 + 100_000, "EUR")


def test_gap_in_publishing_blocks_with_the_missing_share_and_territory() -> None:
    cat = fully_owned()
    cat.control.pop()
    writer = cat.party("Writer")
    cat.owns(writer, Right.PUBLISHING, 10_000, scope("WORLD", exclude=("DE",)))
    cat.owns(writer, Right.PUBLISHING, 7_500, scope("DE"))
    cat.opts_in(writer)
    answer = clear(cat.rights(), usage("EUROPE"))
    assert answer.outcome is Outcome.BLOCKED
    assert answer.reasons == ("25 % of the publishing in DE has no known owner",)
    assert answer.mechanisms == () and answer.price is None


def test_overlapping_claims_block_and_name_the_claimants() -> None:
    cat = fully_owned()
    cat.owns(cat.party("Rival Records"), Right.MASTER, 2_000, scope("FR"))
    answer = clear(cat.rights(), usage("FR", "DE"))
    assert answer.outcome is Outcome.BLOCKED
    assert answer.reasons == (
        "claims on the master in FR add up to 120 % (Northern Lights Records 100 %, Rival Records 20 %)",
    )


def test_track_without_a_linked_work_has_no_known_publisher() -> None:
    cat = fully_owned()
    cat.recording = msgspec.structs.replace(cat.recording, work_id=None)
    rights = msgspec.structs.replace(cat.rights(), work=None)
    assert clear(rights, usage()).reasons == ("100 % of the publishing worldwide has no known owner",)


def test_holder_not_opted_in_for_the_medium_needs_a_manual_request() -> None:
    cat = fully_owned(opted_in=False)
    label, publisher = list(cat.parties.values())
    cat.parties[publisher.id] = msgspec.structs.replace(publisher, name="Sony/ATV")
    cat.opts_in(label)
    policy = cat.opts_in(publisher)
    cat.policies[-1] = msgspec.structs.replace(policy, automated_media=frozenset({Media.ONLINE_ADS}))
    answer = clear(cat.rights(), usage(media=Media.TV_ADS))
    assert answer.outcome is Outcome.NEEDS_MANUAL_REQUEST
    assert answer.reasons == ("Sony/ATV has not opted in to automated licensing for tv_ads",)


def test_holder_without_policy_needs_a_manual_request() -> None:
    cat = fully_owned(opted_in=False)
    cat.opts_in(next(iter(cat.parties.values())))
    answer = clear(cat.rights(), usage())
    assert answer.outcome is Outcome.NEEDS_MANUAL_REQUEST
    assert answer.reasons == ("Harbour Songs Publishing has not set a licensing policy",)


def test_opted_in_medium_without_mechanism_needs_a_manual_request() -> None:
    cat = fully_owned()
    cat.policies[0] = msgspec.structs.replace(cat.policies[0], mechanisms={})
    answer = clear(cat.rights(), usage())
    assert answer.reasons == ("Northern Lights Records enables no licensing mechanism for online_ads",)


def test_holders_without_a_common_mechanism_need_a_manual_request() -> None:
    cat = fully_owned(opted_in=False)
    label, publisher = cat.parties.values()
    cat.opts_in(label, Mechanism.VICKREY)
    cat.opts_in(publisher, Mechanism.NEGOTIATION)
    answer = clear(cat.rights(), usage())
    assert answer.outcome is Outcome.NEEDS_MANUAL_REQUEST
    assert answer.reasons == (
        "the rights holders have no licensing mechanism for online_ads in common: "
        "Harbour Songs Publishing offers negotiation; Northern Lights Records offers vickrey",
    )


def test_holders_pricing_in_different_currencies_need_a_manual_request() -> None:
    cat = fully_owned(opted_in=False)
    label, publisher = cat.parties.values()
    cat.opts_in(label, rate_card=card(currency="EUR"))
    cat.opts_in(publisher, rate_card=card(currency="USD"))
    answer = clear(cat.rights(), usage())
    assert answer.reasons == ("the rights holders price in EUR and USD, so a person has to agree one",)


def test_one_holders_floor_above_anothers_ceiling_needs_a_manual_request() -> None:
    cat = Catalogue()
    a, b, pub = cat.party("A"), cat.party("B"), cat.party("P")
    cat.owns(a, Right.MASTER, 5_000)
    cat.owns(b, Right.MASTER, 5_000)
    cat.owns(pub, Right.PUBLISHING, 10_000)
    cat.opts_in(a, floor=Money(300_000, "EUR"))
    cat.opts_in(b, ceiling=Money(200_000, "EUR"))
    cat.opts_in(pub)
    answer = clear(cat.rights(), usage())
    assert answer.outcome is Outcome.NEEDS_MANUAL_REQUEST
    assert answer.reasons == (
        "A's floor of 3,000.00 EUR for the master is above B's ceiling of 2,000.00 EUR",
    )


def test_fixed_price_is_dropped_when_a_holder_has_no_list_price() -> None:
    cat = fully_owned(opted_in=False)
    label, publisher = cat.parties.values()
    cat.opts_in(label, rate_card=card())
    cat.opts_in(publisher, floor=Money(10_000, "EUR"))
    answer = clear(cat.rights(), usage())
    assert answer.outcome is Outcome.CLEARABLE_NOW
    assert Mechanism.FIXED_PRICE not in answer.mechanisms
    assert "Harbour Songs Publishing has no list price for this online_ads use" in answer.reasons


def test_only_fixed_price_without_list_price_needs_a_manual_request() -> None:
    cat = fully_owned(opted_in=False)
    for who in cat.parties.values():
        cat.opts_in(who, Mechanism.FIXED_PRICE, floor=Money(10_000, "EUR"))
    answer = clear(cat.rights(), usage())
    assert answer.outcome is Outcome.NEEDS_MANUAL_REQUEST
    assert "no rights holder mechanism for online_ads can run without a list price" in answer.reasons


def test_exclusive_licence_blocks_the_same_medium_where_it_overlaps() -> None:
    cat = fully_owned()
    cat.licensed(Media.ONLINE_ADS, scope("US"), Period(start=date(2025, 7, 1), end=date(2027, 6, 30)), True)
    answer = clear(cat.rights(), usage("NORTH_AMERICA"))
    assert answer.outcome is Outcome.BLOCKED
    assert answer.reasons == ("an exclusive online_ads licence covers US until 2027-06-30",)


@pytest.mark.parametrize(
    ("media", "territory", "period"),
    [
        (Media.TV_ADS, "US", Period(start=date(2025, 1, 1), end=date(2027, 6, 30))),
        (Media.ONLINE_ADS, "CA", Period(start=date(2025, 1, 1), end=date(2027, 6, 30))),
        (Media.ONLINE_ADS, "US", Period(start=date(2024, 1, 1), end=date(2025, 12, 31))),
    ],
)
def test_exclusive_licence_elsewhere_does_not_block(media: Media, territory: str, period: Period) -> None:
    cat = fully_owned()
    cat.licensed(media, scope(territory), period, True)
    assert clear(cat.rights(), usage("US")).outcome is Outcome.CLEARABLE_NOW


def test_existing_licence_blocks_an_exclusive_request() -> None:
    cat = fully_owned()
    cat.licensed(Media.ONLINE_ADS, scope("DE"), Period(start=date(2025, 1, 1)), False)
    assert clear(cat.rights(), usage("DE")).outcome is Outcome.CLEARABLE_NOW
    answer = clear(cat.rights(), usage("DACH", exclusive=True))
    assert answer.outcome is Outcome.BLOCKED
    assert answer.reasons == (
        "an online_ads licence already covers DE with no end date, "
        "so an exclusive one cannot be granted there",
    )


def sub_publishing_chain() -> tuple[Catalogue, dict[str, object]]:
    """Writer's publisher → European sub-publisher → DACH sub-publisher → German sub-sub-publisher."""
    cat = fully_owned(opted_in=False)
    label, original = cat.parties.values()
    europe, dach, germany = cat.party("Euro Sub"), cat.party("DACH Sub"), cat.party("Berlin Sub")
    cat.administers(europe, original, scope("EUROPE"))
    cat.administers(dach, europe, scope("DACH"))
    cat.administers(germany, dach, scope("DE"))
    return cat, {"label": label, "original": original, "europe": europe, "dach": dach, "germany": germany}


def test_administration_chain_ends_at_the_most_local_administrator() -> None:
    cat, p = sub_publishing_chain()
    picture = ownership(cat.rights(), frozenset({"DE", "AT", "FR", "US"}), TERM_2026)
    publishing = {s.territory: s.holdings[0] for s in picture.slices if s.right is Right.PUBLISHING}
    assert publishing["DE"].controller_name == "Berlin Sub"
    assert publishing["DE"].administrators == (p["europe"].id, p["dach"].id, p["germany"].id)  # type: ignore[attr-defined]
    assert publishing["AT"].controller_name == "DACH Sub"
    assert publishing["FR"].controller_name == "Euro Sub"
    assert publishing["US"].controller_name == "Harbour Songs Publishing"
    assert all(h.party_name == "Harbour Songs Publishing" for h in publishing.values())
    assert picture.problems == ()


def test_clearance_asks_the_administrator_not_the_owner() -> None:
    cat, p = sub_publishing_chain()
    cat.opts_in(p["label"])  # type: ignore[arg-type]
    cat.opts_in(p["germany"])  # type: ignore[arg-type]
    assert clear(cat.rights(), usage("DE")).outcome is Outcome.CLEARABLE_NOW
    answer = clear(cat.rights(), usage("AT"))
    assert answer.reasons == ("DACH Sub has not set a licensing policy",)


def test_work_specific_administration_overrides_catalogue_wide() -> None:
    cat, p = sub_publishing_chain()
    special = cat.party("Special Sub")
    cat.administers(special, p["original"], scope("FR"), subject_id=cat.work.id)  # type: ignore[arg-type]
    picture = ownership(cat.rights(), frozenset({"FR"}), TERM_2026)
    assert [s.holdings[0].controller_name for s in picture.slices if s.right is Right.PUBLISHING] == [
        "Special Sub"
    ]


def test_two_administrators_for_one_share_block() -> None:
    cat, p = sub_publishing_chain()
    cat.administers(cat.party("Other Sub"), p["europe"], scope("DE"))  # type: ignore[arg-type]
    answer = clear(cat.rights(), usage("DE"))
    assert answer.outcome is Outcome.BLOCKED
    assert answer.reasons == (
        "Euro Sub's share of the publishing is administered by both DACH Sub and Other Sub in DE",
    )


def test_administration_loop_blocks() -> None:
    cat, p = sub_publishing_chain()
    cat.administers(p["original"], p["germany"], scope("DE"))  # type: ignore[arg-type]
    answer = clear(cat.rights(), usage("DE"))
    assert answer.outcome is Outcome.BLOCKED
    assert answer.reasons == (
        "the administration of Harbour Songs Publishing's share of the publishing loops back to "
        "Harbour Songs Publishing in DE",
    )


def test_change_of_hands_during_the_term_needs_a_manual_request() -> None:
    cat = fully_owned()
    label = next(iter(cat.parties.values()))
    cat.control[0] = msgspec.structs.replace(
        cat.control[0], period=Period(start=date(2000, 1, 1), end=date(2026, 6, 30))
    )
    heir = cat.party("Heir Records")
    cat.owns(heir, Right.MASTER, 10_000, period=Period(start=date(2026, 7, 1)))
    cat.opts_in(heir)
    answer = clear(cat.rights(), usage("US"))
    assert answer.outcome is Outcome.NEEDS_MANUAL_REQUEST
    assert answer.reasons == ("the master changes hands during the licence term (on 2026-07-01)",)
    assert label.name == "Northern Lights Records"


def test_gap_in_part_of_the_term_names_the_period() -> None:
    cat = fully_owned()
    cat.control[0] = msgspec.structs.replace(
        cat.control[0], period=Period(start=date(2000, 1, 1), end=date(2026, 6, 30))
    )
    answer = clear(cat.rights(), usage("US"))
    assert answer.outcome is Outcome.BLOCKED
    assert "100 % of the master in US from 2026-07-01 to 2026-12-31 has no known owner" in answer.reasons


def test_edge_boundary_elsewhere_does_not_split_the_picture() -> None:
    cat = fully_owned()
    cat.owns(cat.party("Local"), Right.MASTER, 10_000, scope("JP"), Period(start=date(2026, 5, 1)))
    answer = clear(cat.rights(), usage("US"))
    assert answer.outcome is Outcome.CLEARABLE_NOW


def test_complete_splits_have_no_problems() -> None:
    assert split_problems(fully_owned().rights(), TERM_2026) == []


def test_split_problems_report_gaps_and_overlaps_per_side() -> None:
    cat = fully_owned()
    cat.owns(cat.party("Co-writer"), Right.PUBLISHING, 5_000, scope("NORDICS"))
    cat.control[0] = msgspec.structs.replace(cat.control[0], share_bp=9_000)
    problems = split_problems(cat.rights(), TERM_2026, COUNTRIES)
    assert sorted((p.right, p.kind, p.message) for p in problems) == [
        (Right.MASTER, "gap", "10 % of the master worldwide has no known owner"),
        (Right.PUBLISHING, "overlap", "claims on the publishing in NORDICS add up to 150 % "
                                      "(Harbour Songs Publishing 100 %, Co-writer 50 %)"),
    ]  # fmt: skip


def test_unknown_usage_territory_is_refused() -> None:
    with pytest.raises(TerritoryError, match="'ZZ'"):
        clear(fully_owned().rights(), usage("ZZ"))


def test_percent_reads_naturally() -> None:
    assert percent(2_500) == "25 %"
    assert percent(3_333) == "33.33 %"
    assert percent(1_250) == "12.5 %"
