"""The demand-driven dynamic price (used by auctions and quotes) and its breakdown."""

from __future__ import annotations

from datetime import date

import pytest

from rights.pricing import Demand, dynamic_price
from rights.terms import Media, Money, RateCard, TermsError, Usage


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


CARD = RateCard(
    base=eur(100_000),
    media_bp={Media.FILM: 20_000, Media.SOCIAL: 5_000},
    territory_bp={"WORLD": 30_000},
    term_bp={12: 10_000, 36: 15_000},
    exclusivity_bp=30_000,
)


def usage(**changes: object) -> Usage:
    fields: dict[str, object] = {
        "media": Media.FILM,
        "territories": ("WORLD",),
        "term_months": 12,
        "start": date(2027, 1, 1),
        **changes,
    }
    return Usage(**fields)  # type: ignore[arg-type]


NO_DEMAND = Demand(recent_requests=0, watchers=0, licences=0)


def test_demand_raises_the_dynamic_price_and_says_why() -> None:
    demand = Demand(recent_requests=10, watchers=20, licences=2)
    quote = dynamic_price(CARD, usage(), demand, floor=eur(1), ceiling=eur(10**9))
    assert quote.price == eur(600_000 * 13_000 // 10_000)  # +10 % requests, +10 % watchers, +10 % licences
    assert quote.breakdown[-1].label.startswith("Demand: 10 recent requests")


def test_the_dynamic_price_is_capped_at_the_ceiling_and_raised_to_the_floor() -> None:
    busy = Demand(recent_requests=1_000, watchers=0, licences=0)
    capped = dynamic_price(CARD, usage(), busy, floor=eur(1), ceiling=eur(700_000))
    raised = dynamic_price(CARD, usage(), NO_DEMAND, floor=eur(800_000), ceiling=eur(900_000))
    assert (capped.price, capped.breakdown[-1].label) == (
        eur(700_000),
        "Capped at the rights holder's ceiling",
    )
    assert (raised.price, raised.breakdown[-1].label) == (eur(800_000), "Raised to the rights holder's floor")


def test_a_dynamic_range_in_another_currency_is_refused() -> None:
    with pytest.raises(TermsError, match="rate card's currency"):
        dynamic_price(CARD, usage(), NO_DEMAND, floor=Money(1, "USD"), ceiling=Money(2, "USD"))


def test_negative_demand_counts_are_refused() -> None:
    with pytest.raises(TermsError):
        Demand(recent_requests=-1, watchers=0, licences=0)
