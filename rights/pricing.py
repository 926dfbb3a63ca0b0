"""A rate card's list price for a usage, step by step, so every page can say why a price is what it is.

base × medium × (sum of each territory scope's multiplier) × term bracket × exclusivity, each step
rounded half up to a whole minor unit. Clearance sums these per rights holder; the fixed price and
the dynamic price (the list price times a demand factor, kept within the rights holder's floor and
ceiling) start from them. Both auctions and quotes use these, so they live here at the bottom.
"""

from __future__ import annotations

import msgspec

from rights.terms import Money, RateCard, TermsError, Usage
from rights.territories import normalise

FULL_BP = 10_000

# Demand raises the list price by these basis points per unit of interest: a licence sold says
# more about a track's worth than a request, and a request more than a watcher.
BP_PER_RECENT_REQUEST = 100
BP_PER_WATCHER = 50
BP_PER_LICENCE = 500


class NotListed(TermsError):
    """The rate card has no list price for this usage."""


class PriceLine(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a price: what it is, its multiplier in basis points (None for the base), and
    the running price after it, rounded to a whole minor unit."""

    label: str
    multiplier_bp: int | None
    subtotal: Money


class PriceQuote(msgspec.Struct, frozen=True, kw_only=True):
    price: Money
    breakdown: tuple[PriceLine, ...]


def list_price(rate_card: RateCard, usage: Usage) -> PriceQuote:
    """The rate card's price for a usage, or NotListed saying which part of the usage it does not price."""
    media_bp = rate_card.media_bp.get(usage.media)
    if media_bp is None:
        raise NotListed(f"this rights holder has no list price for {_words(usage.media)}")
    bounds = sorted(bound for bound in rate_card.term_bp if bound >= usage.term_months)
    if not bounds:
        raise NotListed(f"the rate card prices terms up to {max(rate_card.term_bp)} months")
    territories_bp = sum(rate_card.territory_bp.get(normalise(scope), FULL_BP) for scope in usage.territories)

    lines = [PriceLine(label="Base rate", multiplier_bp=None, subtotal=rate_card.base)]
    steps = [
        (f"Medium: {_words(usage.media)}", media_bp),
        (f"Territories: {', '.join(usage.territories)}", territories_bp),
        (f"Term: {usage.term_months} months", rate_card.term_bp[bounds[0]]),
    ]
    if usage.exclusive:
        steps.append(("Exclusive", rate_card.exclusivity_bp))
    for label, multiplier_bp in steps:
        subtotal = lines[-1].subtotal.scaled_bp(multiplier_bp)
        lines.append(PriceLine(label=label, multiplier_bp=multiplier_bp, subtotal=subtotal))
    return PriceQuote(price=lines[-1].subtotal, breakdown=tuple(lines))


class Demand(msgspec.Struct, frozen=True, kw_only=True):
    """Recent interest in a track, counted by the caller over its own window."""

    recent_requests: int
    watchers: int
    licences: int

    def __post_init__(self) -> None:
        if min(self.recent_requests, self.watchers, self.licences) < 0:
            raise TermsError("demand counts cannot be negative")


def dynamic_price(
    rate_card: RateCard, usage: Usage, demand: Demand, floor: Money, ceiling: Money
) -> PriceQuote:
    """The list price times a demand factor, kept within the rights holder's [floor, ceiling]."""
    return with_demand(list_price(rate_card, usage), demand, floor, ceiling)


def with_demand(quote: PriceQuote, demand: Demand, floor: Money, ceiling: Money) -> PriceQuote:
    """A listed price (one rate card's, or several rights holders' together) times a demand factor,
    kept within [floor, ceiling]."""
    currency = quote.price.currency
    if floor.currency != currency or ceiling.currency != currency:
        raise TermsError(f"floor and ceiling must be in the rate card's currency, {currency}")
    if not 0 < floor.amount <= ceiling.amount:
        raise TermsError("a dynamic price needs 0 < floor ≤ ceiling")
    demand_bp = (
        FULL_BP
        + BP_PER_RECENT_REQUEST * demand.recent_requests
        + BP_PER_WATCHER * demand.watchers
        + BP_PER_LICENCE * demand.licences
    )
    label = (
        f"Demand: {demand.recent_requests} recent requests, {demand.watchers} watching, "
        f"{demand.licences} licences"
    )
    lines = [
        *quote.breakdown,
        PriceLine(label=label, multiplier_bp=demand_bp, subtotal=quote.price.scaled_bp(demand_bp)),
    ]
    if lines[-1].subtotal < floor:
        lines.append(
            PriceLine(label="Raised to the rights holder's floor", multiplier_bp=None, subtotal=floor)
        )
    elif lines[-1].subtotal > ceiling:
        lines.append(
            PriceLine(label="Capped at the rights holder's ceiling", multiplier_bp=None, subtotal=ceiling)
        )
    return PriceQuote(price=lines[-1].subtotal, breakdown=tuple(lines))


def _words(code: str) -> str:
    return code.replace("_", " ")
