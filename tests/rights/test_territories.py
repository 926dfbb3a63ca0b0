from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rights.territories import (
    COUNTRIES,
    REGIONS,
    TerritoryError,
    TerritoryScope,
    describe,
    intersection,
    resolve,
)


def test_world_is_every_iso_country() -> None:
    assert resolve(["WORLD"]) == COUNTRIES
    assert len(COUNTRIES) == 249


def test_regions_resolve_to_their_countries() -> None:
    assert resolve(["DACH"]) == {"DE", "AT", "CH"}
    assert resolve(["NORDICS", "DE"]) == {"DK", "FI", "IS", "NO", "SE", "DE"}
    assert "FR" in resolve(["EU"]) and "GB" not in resolve(["EU"])
    assert "GB" in resolve(["EUROPE"])


def test_every_region_is_made_of_iso_countries() -> None:
    assert all(members <= COUNTRIES for members in REGIONS.values())


def test_codes_are_normalised_and_aliases_accepted() -> None:
    assert resolve(["de", " uk ", "Worldwide"]) == COUNTRIES
    assert resolve(["north-america"]) == REGIONS["NORTH_AMERICA"]


def test_unknown_code_is_named_in_the_error() -> None:
    with pytest.raises(TerritoryError, match="'XX'"):
        resolve(["DE", "XX"])


def test_scope_excludes_from_includes() -> None:
    scope = TerritoryScope(include=("EUROPE",), exclude=("DACH", "GB"))
    countries = scope.countries()
    assert "FR" in countries
    assert not countries & {"DE", "AT", "CH", "GB"}


def test_scope_that_excludes_everything_is_refused() -> None:
    with pytest.raises(TerritoryError, match="excludes every country"):
        TerritoryScope(include=("DACH",), exclude=("EU", "CH"))


def test_scope_needs_an_include() -> None:
    with pytest.raises(TerritoryError, match="at least one"):
        TerritoryScope(include=())


def test_intersection_of_scopes() -> None:
    a = TerritoryScope(include=("EU",))
    b = TerritoryScope(include=("DACH", "US"))
    assert intersection(a, b) == {"DE", "AT"}


def test_describe_prefers_region_names() -> None:
    assert describe(COUNTRIES) == "worldwide"
    assert describe({"DE", "AT", "CH"}) == "DACH"
    assert describe(COUNTRIES - {"US"}) == "worldwide except US"
    assert describe({"FR", "DE"}) == "DE, FR"
    assert describe(resolve(["LATAM"]) - {"MX"}).endswith("more")


codes = st.lists(st.sampled_from(sorted(COUNTRIES) + sorted(REGIONS)), min_size=1, max_size=4)


@given(codes, codes)
def test_scope_algebra_matches_set_algebra(include: list[str], exclude: list[str]) -> None:
    expected = resolve(include) - resolve(exclude)
    if not expected:
        with pytest.raises(TerritoryError):
            TerritoryScope(include=tuple(include), exclude=tuple(exclude))
        return
    scope = TerritoryScope(include=tuple(include), exclude=tuple(exclude))
    assert scope.countries() == expected
    assert intersection(scope, TerritoryScope()) == expected
