"""The pure rule for colliding usages: same medium, a shared country, terms sharing a day; exclusive decides."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rights.model import Period
from rights.overlap import describe_usage, exclusive_conflict, overlap, term_of
from rights.terms import Media, Usage
from rights.territories import resolve

TERRITORIES = [
    ("WORLD",),
    ("EUROPE",),
    ("DE",),
    ("FR",),
    ("US",),
    ("DACH",),
    ("US", "DE"),
    ("NORTH_AMERICA",),
]

usages = st.builds(
    Usage,
    media=st.sampled_from([Media.ONLINE_ADS, Media.FILM]),
    territories=st.sampled_from(TERRITORIES),
    term_months=st.integers(1, 36),
    exclusive=st.booleans(),
    start=st.dates(date(2026, 1, 1), date(2029, 12, 31)),
)


def _days(period: Period) -> set[date]:
    assert period.end is not None
    return {period.start + timedelta(days=n) for n in range((period.end - period.start).days + 1)}


@given(usages, usages)
def test_overlap_is_symmetric(a: Usage, b: Usage) -> None:
    assert overlap(a, b) == overlap(b, a)
    assert exclusive_conflict(a, b) == exclusive_conflict(b, a)


@given(usages, usages)
def test_overlap_means_a_shared_medium_country_and_day(a: Usage, b: Usage) -> None:
    shared = (
        a.media == b.media
        and bool(resolve(a.territories) & resolve(b.territories))
        and bool(_days(term_of(a)) & _days(term_of(b)))
    )
    assert overlap(a, b) == shared


@given(usages, usages)
def test_only_an_exclusive_side_makes_an_overlap_a_conflict(a: Usage, b: Usage) -> None:
    assert exclusive_conflict(a, b) == (overlap(a, b) and (a.exclusive or b.exclusive))


@given(usages)
def test_a_usage_overlaps_itself_and_not_the_term_after_it(a: Usage) -> None:
    assert overlap(a, a)
    after = Usage(media=a.media, territories=a.territories, term_months=a.term_months, exclusive=True,
                  start=term_of(a).end + timedelta(days=1))  # type: ignore[operator]  # fmt: skip
    assert not exclusive_conflict(a, after)


def test_an_exclusive_us_licence_leaves_germany_free() -> None:
    us = Usage(
        media=Media.ONLINE_ADS, territories=("US",), term_months=12, exclusive=True, start=date(2027, 1, 1)
    )
    de = Usage(
        media=Media.ONLINE_ADS, territories=("DE",), term_months=12, exclusive=True, start=date(2027, 1, 1)
    )
    assert not exclusive_conflict(us, de)
    assert describe_usage(us) == "an exclusive online ads licence in US from 2027-01-01 to 2027-12-31"
