"""Reading what people type into the workspace's forms: amounts, percentages, territory lists.

Pure: each function takes the text of one field and returns a typed value, or raises FormError naming
the field in a sentence the page shows next to the form.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rights.model import FULL_SHARE_BP
from rights.terms import CURRENCY_EXPONENTS, MAX_MINOR_UNITS, Money


class FormError(ValueError):
    """A field a person filled in that cannot be read; the message names the field."""


def sentence(refusal: Exception) -> str:
    """A service's refusal as the page shows it: capitalised, ending in a full stop."""
    text = str(refusal).replace("Object ", "").replace("`$.", "`").strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def refusal_status(refusal: Exception) -> int:
    """The services' refusals carry their status (409 for a conflict); the rest of a form's mistakes are 400."""
    status = getattr(refusal, "status_code", 400)
    return status if isinstance(status, int) else 400


def _number(label: str, text: str) -> Decimal:
    cleaned = text.strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise FormError(f"{label}: “{text.strip()}” is not a number") from None
    if not value.is_finite():
        raise FormError(f"{label}: “{text.strip()}” is not a number")
    return value


def money(label: str, text: str, currency: str) -> Money:
    """ "1,250.50" in EUR → 125050 cents; more decimals than the currency has are refused, not rounded."""
    if currency not in CURRENCY_EXPONENTS:
        raise FormError(f"Currency: {currency!r} is not a currency we support")
    exponent = CURRENCY_EXPONENTS[currency]
    minor = _number(label, text).scaleb(exponent)
    if minor != minor.to_integral_value():
        raise FormError(f"{label}: {currency} amounts have at most {exponent} decimals")
    if minor <= 0:
        raise FormError(f"{label}: the amount must be more than zero")
    if minor > MAX_MINOR_UNITS:
        raise FormError(f"{label}: the amount is too large")
    return Money(int(minor), currency)


def optional_money(label: str, text: str, currency: str) -> Money | None:
    return money(label, text, currency) if text.strip() else None


def share_bp(label: str, text: str) -> int:
    """ "33.33" (per cent) → 3333 basis points; at most two decimals, more than 0 and at most 100 %."""
    points = _number(label, text.strip().rstrip("%")).scaleb(2)
    if points != points.to_integral_value():
        raise FormError(f"{label}: use at most two decimals (33.33 %)")
    if not 0 < points <= FULL_SHARE_BP:
        raise FormError(f"{label}: a share is more than 0 % and at most 100 %")
    return int(points)


def whole_number(label: str, text: str, *, low: int, high: int) -> int:
    value = _number(label, text)
    if value != value.to_integral_value() or not low <= value <= high:
        raise FormError(f"{label}: enter a whole number from {low} to {high}")
    return int(value)


def territories(label: str, text: str) -> tuple[str, ...]:
    """ "DE, at; FR" → ("DE", "AT", "FR"); the codes themselves are checked by rights.territories."""
    codes = tuple(code.strip().upper() for code in text.replace(";", ",").replace(" ", ",").split(","))
    named = tuple(code for code in codes if code)
    if not named:
        raise FormError(f"{label}: name at least one territory, such as WORLD, EUROPE or DE")
    return named


def plain_amount(amount: Money) -> str:
    """125050 EUR → "1250.50", the way the money fields are typed (no grouping, no currency)."""
    exponent = CURRENCY_EXPONENTS[amount.currency]
    whole, minor = divmod(amount.amount, 10**exponent)
    return f"{whole}.{minor:0{exponent}d}" if exponent else str(whole)
