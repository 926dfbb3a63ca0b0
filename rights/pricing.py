"""A rate card's list price for a usage, step by step, so every page can say why a price is what it is.

base × medium × (sum of each territory scope's multiplier) × term bracket × exclusivity, each step
rounded half up to a whole minor unit. Clearance sums these per rights holder; the auction's
fixed-price and dynamic-price mechanisms start from them.
"""

from __future__ import annotations

import msgspec

from rights.terms import Money, RateCard, TermsError, Usage
from rights.territories import normalise

FULL_BP = 10_000


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


def _words(code: str) -> str:
    return code.replace("_", " ")
