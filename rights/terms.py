"""The terms every licence is written in: money, media, usage and the rights holder's rate card.

These value types live at the bottom of the dependency graph (auction → contracts → rights,
discovery → rights) so that every package speaks of a price or a usage in the same words.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Annotated, Any

import msgspec

# ISO 4217 codes we accept, with their minor-unit exponent (cents for USD, none for JPY).
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
    "HKD": 2, "INR": 2, "JPY": 0, "KRW": 0, "MXN": 2, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2,
    "SGD": 2, "USD": 2, "ZAR": 2,
}  # fmt: skip


# Ten billion in a two-decimal currency: more than any licence, and far from bigint overflow. Checked
# wherever Money is decoded from outside (requests, stored JSON); arithmetic inside is not limited.
MAX_MINOR_UNITS = 10**12
MinorUnits = Annotated[int, msgspec.Meta(ge=-MAX_MINOR_UNITS, le=MAX_MINOR_UNITS)]


class TermsError(ValueError):
    """A price, currency or usage that cannot be used as given; the message says what to fix."""


class CurrencyMismatch(TermsError):
    """Two amounts in different currencies were combined or compared."""


class Money(msgspec.Struct, frozen=True, order=False):
    """An amount in integer minor units of an ISO 4217 currency (1234 USD = $12.34)."""

    amount: MinorUnits
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TermsError(f"amount must be an integer number of minor units, got {self.amount!r}")
        if self.currency not in CURRENCY_EXPONENTS:
            raise TermsError(f"currency must be an ISO 4217 code we support, got {self.currency!r}")

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def scaled_bp(self, basis_points: int) -> Money:
        """This amount times basis_points / 10,000, rounded half up to a whole minor unit."""
        return Money((self.amount * basis_points + 5_000) // 10_000, self.currency)

    def display(self) -> str:
        """A human reading such as '1,234.50 EUR'."""
        exponent = CURRENCY_EXPONENTS[self.currency]
        sign = "-" if self.amount < 0 else ""
        whole, minor = divmod(abs(self.amount), 10**exponent)
        return f"{sign}{whole:,}{f'.{minor:0{exponent}d}' if exponent else ''} {self.currency}"


class Media(enum.StrEnum):
    """Where the music will be used; the fixed taxonomy rate cards and policies are written in."""

    ONLINE_ADS = "online_ads"
    TV_ADS = "tv_ads"
    FILM = "film"
    TV_SERIES = "tv_series"
    GAMES = "games"
    SOCIAL = "social"
    TRAILER = "trailer"
    CORPORATE = "corporate"


MAX_TERM_MONTHS = 120


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """What a licensee wants to do with a track: medium, territories, term, exclusivity, start.

    Territories are ISO 3166-1 alpha-2 codes, "WORLD" or a named region; `rights.territories`
    resolves them to countries.
    """

    media: Media
    territories: tuple[str, ...]
    term_months: int
    exclusive: bool = False
    start: date

    def __post_init__(self) -> None:
        if not self.territories:
            raise TermsError("a usage needs at least one territory")
        if not 1 <= self.term_months <= MAX_TERM_MONTHS:
            raise TermsError(f"term_months must be between 1 and {MAX_TERM_MONTHS}, got {self.term_months}")


class RateCard(msgspec.Struct, frozen=True, kw_only=True):
    """A rights holder's list prices: a base rate times multipliers, all in basis points (10,000 = ×1).

    `base` prices a 12-month, non-exclusive licence in one territory scope with multiplier ×1.
    A medium missing from `media_bp` is not offered at a list price. A territory scope missing from
    `territory_bp` counts ×1 per scope. `term_bp` maps a term's upper bound in months to its
    multiplier (the smallest bound at or above the requested term applies).
    """

    base: Money
    media_bp: dict[Media, int]
    territory_bp: dict[str, int] = msgspec.field(default_factory=dict)
    term_bp: dict[int, int] = msgspec.field(default_factory=lambda: {12: 10_000})
    exclusivity_bp: int = 30_000

    def __post_init__(self) -> None:
        multipliers: list[Any] = [
            *self.media_bp.values(),
            *self.territory_bp.values(),
            *self.term_bp.values(),
            self.exclusivity_bp,
        ]
        if any(not isinstance(m, int) or m <= 0 for m in multipliers):
            raise TermsError("every rate card multiplier must be a positive integer of basis points")
        if self.base.amount <= 0:
            raise TermsError("a rate card's base rate must be positive")
        if not self.term_bp or min(self.term_bp) < 1:
            raise TermsError("a rate card needs term brackets keyed by a positive number of months")
