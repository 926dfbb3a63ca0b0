"""The dynamic list price: the rate card's price (`rights.pricing.list_price`) times a demand factor.

Each step is rounded half up to a whole minor unit and shown as a line of the breakdown, so the
page can say exactly why a price is what it is.
"""

from __future__ import annotations

from auction.model import Demand, InvalidTerms
from rights.pricing import PriceLine, PriceQuote, list_price
from rights.terms import Money, RateCard, Usage

# Demand raises the list price by these basis points per unit of interest: a licence sold says
# more about a track's worth than a request, and a request more than a watcher.
BP_PER_RECENT_REQUEST = 100
BP_PER_WATCHER = 50
BP_PER_LICENCE = 500


def dynamic_price(
    rate_card: RateCard, usage: Usage, demand: Demand, floor: Money, ceiling: Money
) -> PriceQuote:
    """The list price times a demand factor, kept within the rights holder's [floor, ceiling]."""
    currency = rate_card.base.currency
    if floor.currency != currency or ceiling.currency != currency:
        raise InvalidTerms(f"floor and ceiling must be in the rate card's currency, {currency}")
    if not 0 < floor.amount <= ceiling.amount:
        raise InvalidTerms("a dynamic price needs 0 < floor ≤ ceiling")
    quote = list_price(rate_card, usage)
    demand_bp = (
        10_000
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
