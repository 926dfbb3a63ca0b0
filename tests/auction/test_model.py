"""The auction model: JSON round trips for storing and streaming, and parameters that cannot work."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from auction.mechanisms import close
from auction.model import (
    ClockParams,
    ConcedeTowardFloor,
    InvalidTerms,
    Mechanism,
    NegotiationTerms,
    Outcome,
    Round,
    SoftClose,
    VickreyParams,
)
from rights.terms import Money
from tests.auction.factories import DEADLINE, OPENS, bid, clock_round, eur, make_round, sealed_round


@pytest.mark.parametrize(
    "round",
    [
        sealed_round(
            Mechanism.VICKREY, soft_close=SoftClose(window_seconds=60, extension_seconds=60, max_extensions=3)
        ),
        sealed_round(Mechanism.FIRST_PRICE, reveal_seconds=600),
        clock_round(),
        make_round(
            NegotiationTerms(
                floor=eur(1),
                ceiling=eur(3),
                auto_accept_at=eur(2),
                max_rounds=4,
                response_seconds=60,
                counter=ConcedeTowardFloor(percent_bp=2_500),
            )
        ),
    ],
    ids=lambda round: round.mechanism,
)
def test_a_round_survives_a_json_round_trip_with_its_mechanism(round: Round) -> None:
    encoded = msgspec.json.encode(round)
    assert msgspec.json.decode(encoded, type=Round) == round
    assert msgspec.json.decode(encoded)["params"]["mechanism"] == round.mechanism


def test_an_outcome_survives_a_json_round_trip() -> None:
    round = sealed_round()
    outcome = close(round, [bid(round, 5_000), bid(round, 500)], DEADLINE, ranked=True)
    assert msgspec.json.decode(msgspec.json.encode(outcome), type=Outcome) == outcome


def test_a_round_with_naive_times_is_refused() -> None:
    with pytest.raises(InvalidTerms, match="timezone-aware UTC"):
        Round(**{**msgspec.structs.asdict(sealed_round()), "opens_at": OPENS.replace(tzinfo=None)})


def test_a_round_in_another_timezone_is_refused() -> None:
    paris = datetime(2026, 11, 24, 13, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(InvalidTerms, match="UTC"):
        Round(**{**msgspec.structs.asdict(sealed_round()), "opens_at": paris})


def test_a_round_must_close_after_it_opens() -> None:
    with pytest.raises(InvalidTerms, match="after it opens"):
        Round(**{**msgspec.structs.asdict(sealed_round()), "deadline": OPENS})


def test_a_reserve_must_be_positive() -> None:
    with pytest.raises(InvalidTerms, match="reserve must be positive"):
        VickreyParams(reserve=eur(0))


def test_a_clock_must_start_at_or_above_its_floor_in_one_currency() -> None:
    with pytest.raises(InvalidTerms, match="under its floor"):
        ClockParams(start=eur(1), floor=eur(2), step=eur(1), step_seconds=1)
    with pytest.raises(InvalidTerms, match="priced in EUR"):
        ClockParams(start=eur(2), floor=Money(1, "USD"), step=eur(1), step_seconds=1)


def test_a_negotiation_range_must_be_ordered() -> None:
    with pytest.raises(InvalidTerms, match="floor ≤ auto_accept_at ≤ ceiling"):
        NegotiationTerms(
            floor=eur(5), ceiling=eur(3), auto_accept_at=eur(4), max_rounds=1, response_seconds=1
        )


def test_a_decoded_round_still_checks_its_rules() -> None:
    bad = msgspec.json.encode(sealed_round()).replace(b'"amount":1000', b'"amount":0')
    with pytest.raises(msgspec.ValidationError, match="reserve must be positive"):
        msgspec.json.decode(bad, type=Round)


def test_times_in_utc_from_json_compare_with_server_times() -> None:
    decoded = msgspec.json.decode(msgspec.json.encode(sealed_round()), type=Round)
    assert decoded.deadline == DEADLINE
    assert decoded.opens_at.utcoffset() == timedelta(0)
