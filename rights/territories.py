"""Territory algebra: ISO 3166-1 alpha-2 countries, WORLD and named regions, include/exclude scopes.

Every function here is pure. A territory scope is resolved to a frozenset of country codes; unions,
intersections and differences are then ordinary set operations, and `describe` turns a set back
into words a person reads ("DACH", "worldwide except US").
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# All 249 officially assigned ISO 3166-1 alpha-2 codes.
COUNTRIES: frozenset[str] = _codes(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """
)

WORLD = "WORLD"

EU: frozenset[str] = _codes(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
)

REGIONS: dict[str, frozenset[str]] = {
    WORLD: COUNTRIES,
    "EU": EU,
    "EUROPE": EU | _codes("AD AL AX BA BY CH FO GB GG GI IM IS JE LI MC MD ME MK NO RS RU SJ SM UA VA"),
    "DACH": frozenset({"DE", "AT", "CH"}),
    "NORDICS": frozenset({"DK", "FI", "IS", "NO", "SE"}),
    "NORTH_AMERICA": frozenset({"US", "CA", "MX", "BM", "GL", "PM"}),
    "LATAM": _codes("AR BO BR CL CO CR CU DO EC GT HN MX NI PA PE PR PY SV UY VE"),
    "APAC": _codes(
        "AU BD BN BT CN FJ FM HK ID IN JP KH KI KR LA LK MH MM MN MO MV MY NP NR NZ PG PH PK PW SB SG "
        "TH TL TO TV TW VN VU WS"
    ),
}

# Names people and DDEX files use for the same scope.
ALIASES: dict[str, str] = {"UK": "GB", "WORLDWIDE": WORLD, "WW": WORLD}

_DESCRIBE_LIMIT = 8


class TerritoryError(ValueError):
    """A territory code we do not know; the message names it."""


def normalise(code: str) -> str:
    """The canonical spelling of a country or region code ('uk' → 'GB', 'Worldwide' → 'WORLD')."""
    upper = code.strip().upper().replace("-", "_").replace(" ", "_")
    return ALIASES.get(upper, upper)


def resolve(codes: Iterable[str]) -> frozenset[str]:
    """The countries named by a list of country and region codes."""
    countries: set[str] = set()
    for code in codes:
        name = normalise(code)
        if name in REGIONS:
            countries |= REGIONS[name]
        elif name in COUNTRIES:
            countries.add(name)
        else:
            raise TerritoryError(
                f"unknown territory {code!r}: use an ISO 3166-1 alpha-2 code, WORLD or one of "
                f"{', '.join(sorted(r for r in REGIONS if r != WORLD))}"
            )
    return frozenset(countries)


class TerritoryScope(msgspec.Struct, frozen=True, kw_only=True):
    """Where something applies: the countries named by `include` minus those named by `exclude`."""

    include: tuple[str, ...] = (WORLD,)
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.include:
            raise TerritoryError("a territory scope needs at least one included territory")
        if not self.countries():
            raise TerritoryError(f"the territory scope {self.describe()} excludes every country it includes")

    def countries(self) -> frozenset[str]:
        return resolve(self.include) - resolve(self.exclude)

    def describe(self) -> str:
        text = ", ".join(normalise(c) for c in self.include)
        return f"{text} except {', '.join(normalise(c) for c in self.exclude)}" if self.exclude else text


def intersection(a: TerritoryScope, b: TerritoryScope) -> frozenset[str]:
    """The countries both scopes cover."""
    return a.countries() & b.countries()


def describe(countries: Iterable[str]) -> str:
    """A short human reading of a set of countries: a region name, 'worldwide except …', or codes."""
    chosen = frozenset(countries)
    if not chosen:
        return "no territory"
    if chosen == COUNTRIES:
        return "worldwide"
    for name, members in REGIONS.items():
        if chosen == members:
            return name
    missing = COUNTRIES - chosen
    if len(missing) <= _DESCRIBE_LIMIT:
        return f"worldwide except {', '.join(sorted(missing))}"
    codes = sorted(chosen)
    if len(codes) <= _DESCRIBE_LIMIT:
        return ", ".join(codes)
    return f"{', '.join(codes[:_DESCRIBE_LIMIT])} and {len(codes) - _DESCRIBE_LIMIT} more"
