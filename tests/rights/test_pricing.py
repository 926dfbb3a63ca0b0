"""A rate card's list price and its breakdown: the one implementation clearance and the auction share."""

from __future__ import annotations

from datetime import date

import pytest

from rights.pricing import NotListed, list_price
from rights.terms import Media, Money, RateCard, Usage
from tests.rights.factory import usage as usage_in

CARD = RateCard(
    base=Money(100_000, "EUR"),
    media_bp={Media.FILM: 20_000, Media.SOCIAL: 5_000},
    territory_bp={"WORLD": 30_000},
    term_bp={12: 10_000, 36: 15_000},
    exclusivity_bp=30_000,
)


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def usage(**changes: object) -> Usage:
    fields: dict[str, object] = {
        "media": Media.FILM,
        "territories": ("WORLD",),
        "term_months": 12,
        "start": date(2027, 1, 1),
        **changes,
    }
    return Usage(**fields)  # type: ignore[arg-type]


def test_list_price_is_base_times_medium_territory_term_and_exclusivity() -> None:
    quote = list_price(CARD, usage(term_months=24, exclusive=True))
    assert quote.price == eur(100_000 * 2 * 3 * 3 // 2 * 3)
    assert [line.multiplier_bp for line in quote.breakdown] == [None, 20_000, 30_000, 15_000, 30_000]
    assert quote.breakdown[-1].subtotal == quote.price


def test_each_territory_scope_missing_from_the_card_counts_once() -> None:
    quote = list_price(CARD, usage(media=Media.SOCIAL, territories=("US", "GB")))
    assert quote.price == eur(100_000)  # ×0.5 for social, ×2 for two scopes


def test_a_non_exclusive_usage_has_no_exclusivity_line() -> None:
    assert [line.label for line in list_price(CARD, usage()).breakdown][-1] == "Term: 12 months"


def test_a_medium_the_card_does_not_price_is_not_listed() -> None:
    with pytest.raises(NotListed, match="no list price for tv ads"):
        list_price(CARD, usage(media=Media.TV_ADS))


def test_a_term_beyond_the_cards_brackets_is_not_listed() -> None:
    with pytest.raises(NotListed, match="up to 36 months"):
        list_price(CARD, usage(term_months=48))


def test_list_price_multiplies_media_territory_term_and_exclusivity() -> None:
    rate_card = RateCard(
        base=Money(100_000, "USD"),
        media_bp={Media.TV_ADS: 20_000},
        territory_bp={"US": 15_000},
        term_bp={12: 10_000, 24: 17_500},
        exclusivity_bp=30_000,
    )
    assert list_price(rate_card, usage_in("US", "DE", media=Media.TV_ADS, months=18)).price == Money(
        875_000, "USD"
    )
    assert list_price(rate_card, usage_in("US", media=Media.TV_ADS, exclusive=True)).price == Money(
        900_000, "USD"
    )
    with pytest.raises(NotListed):
        list_price(rate_card, usage_in("US", media=Media.FILM))
    with pytest.raises(NotListed):
        list_price(rate_card, usage_in("US", media=Media.TV_ADS, months=36))


def test_territory_scopes_are_looked_up_in_their_canonical_spelling() -> None:
    assert list_price(CARD, usage(territories=("worldwide",))).price == list_price(CARD, usage()).price
