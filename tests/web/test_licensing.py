"""How to license a track for the chosen use: the badge and the ways offered, from clearance and live rounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from auction.live import RoundView
from auction.model import Mechanism as RoundMechanism
from auction.model import RoundState
from rights.clearance import Clearance, Outcome, PriceRange
from rights.model import Mechanism
from rights.terms import Media, Money, Usage
from web.licensing import Way, licensing_panel, money_text, time_left

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
USAGE = Usage(media=Media.ONLINE_ADS, territories=("WORLD",), term_months=12, start=date(2026, 11, 28))
LISTED = PriceRange(low=Money(0, "EUR"), high=None, list_price=Money(200_000, "EUR"), auto_accept=None)


def _cleared(
    outcome: Outcome, mechanisms: tuple[Mechanism, ...] = (), reasons: tuple[str, ...] = ()
) -> Clearance:
    return Clearance(track_id=uuid4(), outcome=outcome, reasons=reasons, mechanisms=mechanisms, price=LISTED)


def _round(mechanism: RoundMechanism, ends_in: timedelta) -> RoundView:
    return RoundView(
        id=uuid4(), track_id=uuid4(), seller=uuid4(), mechanism=mechanism, usage=USAGE, currency="EUR", params=None,
        state=RoundState.OPEN, opens_at=NOW - timedelta(minutes=5), deadline=NOW + ends_in, deadline_version=1,
        extensions=0, closes_at=NOW + ends_in, bids=0, seq=1, server_time=NOW,
    )  # fmt: skip


def test_a_listed_clearable_use_is_bought_now_at_its_list_price() -> None:
    panel = licensing_panel(_cleared(Outcome.CLEARABLE_NOW, (Mechanism.FIXED_PRICE,)), [], NOW)
    assert panel.badge.text == "Clearable now"
    assert [(o.way, o.label) for o in panel.options] == [(Way.BUY_NOW, "Buy now €2,000.00")]


def test_live_rounds_follow_soonest_first_with_the_time_left() -> None:
    later = _round(RoundMechanism.NEGOTIATION, timedelta(hours=2))
    sooner = _round(RoundMechanism.VICKREY, timedelta(minutes=3, seconds=12))
    panel = licensing_panel(_cleared(Outcome.CLEARABLE_NOW, (Mechanism.VICKREY,)), [later, sooner], NOW)
    assert [o.label for o in panel.options] == [
        "Join auction · ends in 3:12",
        "Make an offer · ends in 2:00:00",
    ]
    assert panel.options[0].detail == "sealed second-price auction"


def test_a_use_needing_a_request_offers_one_and_no_price() -> None:
    reasons = ("Harbour Songs has not set a licensing policy",)
    panel = licensing_panel(
        _cleared(Outcome.NEEDS_MANUAL_REQUEST, (Mechanism.FIXED_PRICE,), reasons), [], NOW
    )
    assert panel.badge.reasons == reasons and [o.way for o in panel.options] == [Way.REQUEST]


def test_a_blocked_use_offers_nothing_and_a_past_round_is_not_joined() -> None:
    ended = _round(RoundMechanism.VICKREY, timedelta(seconds=-1))
    panel = licensing_panel(
        _cleared(Outcome.BLOCKED, reasons=("nobody owns the master in DE",)), [ended], NOW
    )
    assert panel.badge.text == "Not available" and panel.options == ()


@given(st.integers(0, 10 * 86_400))
def test_time_left_reads_back_to_the_seconds_under_two_days(seconds: int) -> None:
    text = time_left(NOW + timedelta(seconds=seconds), NOW)
    if seconds >= 2 * 86_400:
        assert text == f"{seconds // 86_400} days"
    else:
        parts = [int(p) for p in text.split(":")]
        assert sum(p * 60**i for i, p in enumerate(reversed(parts))) == seconds


def test_money_reads_with_the_symbol_people_know() -> None:
    assert money_text(Money(200_000, "EUR")) == "€2,000.00"
    assert money_text(Money(-1_050, "USD")) == "-$10.50"
    assert money_text(Money(1_000, "JPY")) == "1,000 JPY"
