"""Territory algebra: ISO 3166-1 alpha-2 countries, WORLD and named regions, include/exclude scopes.

Every function here is pure. A territory scope is resolved to a frozenset of country codes; unions,
intersections and differences are then ordinary set operations, and `describe` turns a set back
into words a person reads ("DACH", "worldwide except US").
"""

from __future__ import annotations

import functools
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

# DDEX allows the numeric TIS codes of CISAC: ISO 3166-1 numeric for countries, 2136 for the world.
TIS_NUMERIC: dict[str, str] = {
    "2136": WORLD,
    **dict(
        pair.split("=")
        for pair in [
            "4=AF",
            "8=AL",
            "10=AQ",
            "12=DZ",
            "16=AS",
            "20=AD",
            "24=AO",
            "28=AG",
            "31=AZ",
            "32=AR",
            "36=AU",
            "40=AT",
            "44=BS",
            "48=BH",
            "50=BD",
            "51=AM",
            "52=BB",
            "56=BE",
            "60=BM",
            "64=BT",
            "68=BO",
            "70=BA",
            "72=BW",
            "74=BV",
            "76=BR",
            "84=BZ",
            "86=IO",
            "90=SB",
            "92=VG",
            "96=BN",
            "100=BG",
            "104=MM",
            "108=BI",
            "112=BY",
            "116=KH",
            "120=CM",
            "124=CA",
            "132=CV",
            "136=KY",
            "140=CF",
            "144=LK",
            "148=TD",
            "152=CL",
            "156=CN",
            "158=TW",
            "162=CX",
            "166=CC",
            "170=CO",
            "174=KM",
            "175=YT",
            "178=CG",
            "180=CD",
            "184=CK",
            "188=CR",
            "191=HR",
            "192=CU",
            "196=CY",
            "203=CZ",
            "204=BJ",
            "208=DK",
            "212=DM",
            "214=DO",
            "218=EC",
            "222=SV",
            "226=GQ",
            "231=ET",
            "232=ER",
            "233=EE",
            "234=FO",
            "238=FK",
            "239=GS",
            "242=FJ",
            "246=FI",
            "248=AX",
            "250=FR",
            "254=GF",
            "258=PF",
            "260=TF",
            "262=DJ",
            "266=GA",
            "268=GE",
            "270=GM",
            "275=PS",
            "276=DE",
            "288=GH",
            "292=GI",
            "296=KI",
            "300=GR",
            "304=GL",
            "308=GD",
            "312=GP",
            "316=GU",
            "320=GT",
            "324=GN",
            "328=GY",
            "332=HT",
            "334=HM",
            "336=VA",
            "340=HN",
            "344=HK",
            "348=HU",
            "352=IS",
            "356=IN",
            "360=ID",
            "364=IR",
            "368=IQ",
            "372=IE",
            "376=IL",
            "380=IT",
            "384=CI",
            "388=JM",
            "392=JP",
            "398=KZ",
            "400=JO",
            "404=KE",
            "408=KP",
            "410=KR",
            "414=KW",
            "417=KG",
            "418=LA",
            "422=LB",
            "426=LS",
            "428=LV",
            "430=LR",
            "434=LY",
            "438=LI",
            "440=LT",
            "442=LU",
            "446=MO",
            "450=MG",
            "454=MW",
            "458=MY",
            "462=MV",
            "466=ML",
            "470=MT",
            "474=MQ",
            "478=MR",
            "480=MU",
            "484=MX",
            "492=MC",
            "496=MN",
            "498=MD",
            "499=ME",
            "500=MS",
            "504=MA",
            "508=MZ",
            "512=OM",
            "516=NA",
            "520=NR",
            "524=NP",
            "528=NL",
            "531=CW",
            "533=AW",
            "534=SX",
            "535=BQ",
            "540=NC",
            "548=VU",
            "554=NZ",
            "558=NI",
            "562=NE",
            "566=NG",
            "570=NU",
            "574=NF",
            "578=NO",
            "580=MP",
            "581=UM",
            "583=FM",
            "584=MH",
            "585=PW",
            "586=PK",
            "591=PA",
            "598=PG",
            "600=PY",
            "604=PE",
            "608=PH",
            "612=PN",
            "616=PL",
            "620=PT",
            "624=GW",
            "626=TL",
            "630=PR",
            "634=QA",
            "638=RE",
            "642=RO",
            "643=RU",
            "646=RW",
            "652=BL",
            "654=SH",
            "659=KN",
            "660=AI",
            "662=LC",
            "663=MF",
            "666=PM",
            "670=VC",
            "674=SM",
            "678=ST",
            "682=SA",
            "686=SN",
            "688=RS",
            "690=SC",
            "694=SL",
            "702=SG",
            "703=SK",
            "704=VN",
            "705=SI",
            "706=SO",
            "710=ZA",
            "716=ZW",
            "724=ES",
            "728=SS",
            "729=SD",
            "732=EH",
            "740=SR",
            "744=SJ",
            "748=SZ",
            "752=SE",
            "756=CH",
            "760=SY",
            "762=TJ",
            "764=TH",
            "768=TG",
            "772=TK",
            "776=TO",
            "780=TT",
            "784=AE",
            "788=TN",
            "792=TR",
            "795=TM",
            "796=TC",
            "798=TV",
            "800=UG",
            "804=UA",
            "807=MK",
            "818=EG",
            "826=GB",
            "831=GG",
            "832=JE",
            "833=IM",
            "834=TZ",
            "840=US",
            "850=VI",
            "854=BF",
            "858=UY",
            "860=UZ",
            "862=VE",
            "876=WF",
            "882=WS",
            "887=YE",
            "894=ZM",
        ]
    ),
}

_DESCRIBE_LIMIT = 8


class TerritoryError(ValueError):
    """A territory code we do not know; the message names it."""


def normalise(code: str) -> str:
    """The canonical spelling of a country or region code ('uk' → 'GB', 'Worldwide' and '2136' → 'WORLD',
    '276' → 'DE')."""
    upper = code.strip().upper().replace("-", "_").replace(" ", "_")
    if upper.isdigit():
        return TIS_NUMERIC.get(upper.lstrip("0"), upper)
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
                f"unknown territory {code!r}: use an ISO 3166-1 alpha-2 code, a TIS number, WORLD or one of "
                f"{', '.join(sorted(r for r in REGIONS if r != WORLD))}"
            )
    return frozenset(countries)


@functools.lru_cache(maxsize=4096)
def _countries(include: tuple[str, ...], exclude: tuple[str, ...]) -> frozenset[str]:
    """Scopes repeat (an import of 10,000 works names a handful), so each is resolved once."""
    return resolve(include) - resolve(exclude)


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
        return _countries(self.include, self.exclude)

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
