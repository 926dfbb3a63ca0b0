"""How a buyer can license a track for the chosen use: a clearance badge and the ways open to them (pure)."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from auction.live import RoundView
from auction.model import Mechanism as RoundMechanism
from rights.clearance import Clearance, Outcome
from rights.model import Mechanism
from rights.terms import Money

AUCTIONS = {
    RoundMechanism.VICKREY: "sealed second-price auction",
    RoundMechanism.FIRST_PRICE: "sealed first-price auction",
    RoundMechanism.CLOCK: "descending clock auction",
}


class Way(enum.StrEnum):
    BUY_NOW = "buy_now"
    JOIN_AUCTION = "join_auction"
    MAKE_OFFER = "make_offer"
    REQUEST = "request"


class LicensingOption(msgspec.Struct, frozen=True, kw_only=True):
    """One way to license: what the button says and what it leads to."""

    way: Way
    label: str  # the button's text, with the time left for a round
    action: str = ""  # a round's label without the time left, for the page's running countdown
    price: Money | None = None
    round_id: str | None = None
    deadline: datetime | None = None  # for the countdown the page keeps running
    detail: str = ""


class Badge(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Outcome
    text: str
    reasons: tuple[str, ...]


class LicensingPanel(msgspec.Struct, frozen=True, kw_only=True):
    badge: Badge
    options: tuple[LicensingOption, ...]


BADGE_TEXT = {
    Outcome.CLEARABLE_NOW: "Clearable now",
    Outcome.NEEDS_MANUAL_REQUEST: "Needs a request",
    Outcome.BLOCKED: "Not available",
}


SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def money_text(money: Money) -> str:
    """'€2,000.00' for the currencies people know by symbol, else '2,000.00 CHF'."""
    symbol = SYMBOLS.get(money.currency)
    if symbol is None:
        return money.display()
    amount = money.display().removesuffix(f" {money.currency}")
    return f"-{symbol}{amount[1:]}" if amount.startswith("-") else f"{symbol}{amount}"


def time_left(deadline: datetime, now: datetime) -> str:
    """'3:12', '1:05:09', '2 days' — what is left until the deadline, as people read a countdown."""
    seconds = max(0, int((deadline - now).total_seconds()))
    if seconds >= 2 * 86_400:
        return f"{seconds // 86_400} days"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _round_option(view: RoundView, now: datetime) -> LicensingOption:
    left = time_left(view.deadline, now)
    if view.mechanism is RoundMechanism.NEGOTIATION:
        return LicensingOption(way=Way.MAKE_OFFER, label=f"Make an offer · ends in {left}", action="Make an offer",
                               round_id=str(view.id), deadline=view.deadline, detail="open for offers")  # fmt: skip
    return LicensingOption(
        way=Way.JOIN_AUCTION, label=f"Join auction · ends in {left}", action="Join auction", round_id=str(view.id),
        deadline=view.deadline, detail=AUCTIONS[view.mechanism],
    )  # fmt: skip


def licensing_panel(cleared: Clearance, open_rounds: list[RoundView], now: datetime) -> LicensingPanel:
    """The badge for the chosen use, then buy now (when listed), the live rounds on the track, or a request.

    Live rounds are shown whatever their use: each sells its own use, named in its room.
    """
    badge = Badge(outcome=cleared.outcome, text=BADGE_TEXT[cleared.outcome], reasons=cleared.reasons)
    options: list[LicensingOption] = []
    price = cleared.price.list_price if cleared.price is not None else None
    if cleared.outcome is Outcome.CLEARABLE_NOW and Mechanism.FIXED_PRICE in cleared.mechanisms and price:
        options.append(LicensingOption(way=Way.BUY_NOW, label=f"Buy now {money_text(price)}", price=price))
    live = sorted((v for v in open_rounds if v.deadline > now), key=lambda v: v.deadline)
    options.extend(_round_option(view, now) for view in live)
    if cleared.outcome is Outcome.NEEDS_MANUAL_REQUEST:
        options.append(LicensingOption(way=Way.REQUEST, label="Request a licence",
                                       detail="the rights holders are asked and answer in their inbox"))  # fmt: skip
    return LicensingPanel(badge=badge, options=tuple(options))
